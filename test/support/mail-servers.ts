/**
 * Real mail servers for the mail proxy tests, started on loopback and stopped by pid: Debian's dovecot (IMAP
 * and POP3, own config in a temp folder, users from a passwd-file), aiosmtpd (test/support/smtp_server.py),
 * an HTTP auth server (node:http) and throwaway certificates (openssl). ensureMailPackages installs the Debian
 * packages when they are missing, so `npm test` works on a fresh machine.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

const PYTHON = '/usr/bin/python3';
const DOVECOT = '/usr/sbin/dovecot';
const PACKAGES = ['dovecot-imapd', 'dovecot-pop3d', 'python3-aiosmtpd'];

function haveAiosmtpd(): boolean {
  try {
    execFileSync(PYTHON, ['-c', 'import aiosmtpd'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** ensureMailPackages installs dovecot and aiosmtpd with apt-get when missing (runs `apt-get update` once if needed). */
export function ensureMailPackages(): void {
  const imap = fs.existsSync('/usr/lib/dovecot/imap');
  const pop3 = fs.existsSync('/usr/lib/dovecot/pop3');
  if (fs.existsSync(DOVECOT) && imap && pop3 && haveAiosmtpd()) return;
  const install = () => execFileSync('apt-get', ['install', '-y', '--no-install-recommends', ...PACKAGES], { stdio: 'ignore', timeout: 300_000, env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  try {
    install();
  } catch {
    execFileSync('apt-get', ['update'], { stdio: 'ignore', timeout: 300_000 });
    install();
  }
}

/** waitForPort resolves once something accepts connections on 127.0.0.1:port. */
export async function waitForPort(port: number, ms = 10_000): Promise<void> {
  const until = Date.now() + ms;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const c = net.connect(port, '127.0.0.1');
      c.once('connect', () => (c.destroy(), resolve(true)));
      c.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > until) throw new Error(`nothing listens on 127.0.0.1:${port}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(() => child.kill('SIGKILL'), 3000);
    child.once('exit', () => (clearTimeout(t), resolve()));
    child.kill('SIGTERM');
  });
}

/** Dovecot is a running dovecot with IMAP and POP3 on loopback. */
export interface Dovecot {
  dir: string;
  /** deliver puts a message into a user's INBOX (maildir `new/`). */
  deliver(user: string, message: string): void;
  stop(): Promise<void>;
}

/** startDovecot runs dovecot in the foreground with users `name:password`. */
export async function startDovecot(opts: { imapPort: number; pop3Port: number; users: Record<string, string> }): Promise<Dovecot> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'portico-dovecot-'));
  fs.chmodSync(dir, 0o755);
  const uid = Number(execFileSync('id', ['-u', 'dovecot']).toString().trim());
  const gid = Number(execFileSync('id', ['-g', 'dovecot']).toString().trim());
  const users = Object.entries(opts.users)
    .map(([u, p]) => `${u}:{PLAIN}${p}:${uid}:${gid}::${dir}/home/${u}::`)
    .join('\n');
  fs.writeFileSync(path.join(dir, 'users'), users + '\n');
  for (const u of Object.keys(opts.users)) {
    for (const sub of ['cur', 'new', 'tmp']) fs.mkdirSync(path.join(dir, 'mail', u, sub), { recursive: true });
    fs.mkdirSync(path.join(dir, 'home', u), { recursive: true });
  }
  execFileSync('chown', ['-R', `${uid}:${gid}`, path.join(dir, 'mail'), path.join(dir, 'home')]);
  const conf = `
base_dir = ${dir}/run
state_dir = ${dir}/state
log_path = ${dir}/dovecot.log
protocols = imap pop3
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:${dir}/mail/%u
first_valid_uid = 1
first_valid_gid = 1
default_login_user = dovenull
default_internal_user = dovecot
pop3_uidl_format = %08Xu%08Xv
# Tests try wrong passwords on purpose: no growing delay for loopback.
auth_failure_delay = 0
login_trusted_networks = 127.0.0.0/8
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u ${dir}/users
}
userdb {
  driver = passwd-file
  args = username_format=%u ${dir}/users
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = ${opts.imapPort}
  }
  inet_listener imaps {
    port = 0
  }
}
service pop3-login {
  inet_listener pop3 {
    address = 127.0.0.1
    port = ${opts.pop3Port}
  }
  inet_listener pop3s {
    port = 0
  }
}
`;
  fs.writeFileSync(path.join(dir, 'dovecot.conf'), conf);
  const child = spawn(DOVECOT, ['-F', '-c', path.join(dir, 'dovecot.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  try {
    await Promise.all([waitForPort(opts.imapPort, 30_000), waitForPort(opts.pop3Port, 30_000)]);
  } catch (err) {
    await stopChild(child);
    throw new Error(`dovecot did not start: ${stderr} ${(err as Error).message}`);
  }
  let seq = 0;
  return {
    dir,
    deliver(user, message) {
      const name = `${Math.floor(Date.now() / 1000)}.M${++seq}P${process.pid}.portico`;
      const tmp = path.join(dir, 'mail', user, 'tmp', name);
      fs.writeFileSync(tmp, message.replace(/\r?\n/g, '\n'));
      fs.chownSync(tmp, uid, gid);
      fs.renameSync(tmp, path.join(dir, 'mail', user, 'new', name));
    },
    async stop() {
      await stopChild(child);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** SmtpRecord is one message the SMTP server accepted. */
export interface SmtpRecord {
  from: string;
  to: string[];
  data: string;
  helo: string | null;
  xclient: string | null;
  login: string | null;
}

/** SmtpServer is a running aiosmtpd. */
export interface SmtpServer {
  messages(): SmtpRecord[];
  /** waitForMessages resolves once `n` messages were stored. */
  waitForMessages(n: number, ms?: number): Promise<SmtpRecord[]>;
  stop(): Promise<void>;
}

/** startSmtpServer runs aiosmtpd on 127.0.0.1:port accepting AUTH for `user`/`password` and XCLIENT. */
export async function startSmtpServer(port: number, user: string, password: string): Promise<SmtpServer> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'portico-smtp-'));
  const script = new URL('./smtp_server.py', import.meta.url).pathname;
  const child = spawn(PYTHON, [script, String(port), dir, `${user}:${password}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => (child.kill('SIGKILL'), reject(new Error(`aiosmtpd did not start: ${stderr}`))), 30_000);
    child.stdout!.on('data', (d) => {
      if (String(d).includes('READY')) (clearTimeout(t), resolve());
    });
    child.once('exit', () => (clearTimeout(t), reject(new Error(`aiosmtpd exited: ${stderr}`))));
  });
  const messages = (): SmtpRecord[] =>
    fs
      .readdirSync(dir)
      .filter((f) => f.endsWith('.json'))
      .sort((a, b) => parseInt(a) - parseInt(b))
      .map((f) => JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')));
  return {
    messages,
    async waitForMessages(n, ms = 5000) {
      const until = Date.now() + ms;
      while (messages().length < n) {
        if (Date.now() > until) throw new Error(`expected ${n} messages, have ${messages().length}`);
        await new Promise((r) => setTimeout(r, 25));
      }
      return messages();
    },
    async stop() {
      await stopChild(child);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** AuthReply is what the test's auth server answers: response headers, and optionally a delay. */
export interface AuthReply {
  headers: Record<string, string>;
  delayMs?: number;
}

/** AuthServer is a test auth_http endpoint that records every request's headers. */
export interface AuthServer {
  requests: http.IncomingHttpHeaders[];
  rawHeaders: string[][];
  handler: (h: http.IncomingHttpHeaders) => AuthReply;
  stop(): Promise<void>;
}

/** startAuthServer listens on 127.0.0.1:port and answers with `handler` (changeable later). */
export async function startAuthServer(port: number, handler: (h: http.IncomingHttpHeaders) => AuthReply): Promise<AuthServer> {
  const sockets = new Set<net.Socket>();
  const auth: AuthServer = {
    requests: [],
    rawHeaders: [],
    handler,
    stop: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
  const server = http.createServer((req, res) => {
    auth.requests.push(req.headers);
    auth.rawHeaders.push(req.rawHeaders);
    const reply = auth.handler(req.headers);
    const send = () => {
      res.writeHead(200, reply.headers);
      res.end();
    };
    if (reply.delayMs) setTimeout(send, reply.delayMs);
    else send();
  });
  server.on('connection', (s) => (sockets.add(s), s.on('close', () => sockets.delete(s))));
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return auth;
}

/** makeCert writes a self-signed certificate for `localhost` and returns the file paths. */
export function makeCert(dir: string, cn = 'localhost'): { cert: string; key: string } {
  const cert = path.join(dir, `${cn}.crt`);
  const key = path.join(dir, `${cn}.key`);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-subj', `/CN=${cn}`, '-days', '1', '-addext', `subjectAltName=DNS:${cn},IP:127.0.0.1`], { stdio: 'ignore' });
  return { cert, key };
}
