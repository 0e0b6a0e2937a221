/**
 * IMAP through the mail proxy: imapflow as the client, Debian's dovecot as the real upstream, an HTTP auth
 * server. Ports 23200-23299.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import net from 'node:net';
import { Duplex } from 'node:stream';
import tls from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { ImapFlow } from 'imapflow';
import { LineClient } from '../../support/line-client.ts';
import { authHandler, PASS, PREAMBLE, USER } from '../../support/mail-fixture.ts';
import { ensureMailPackages, makeCert, startAuthServer, startDovecot, type AuthServer, type Dovecot } from '../../support/mail-servers.ts';
import { startPortico, type Portico } from '../../support/portico-process.ts';

const P = { plain: 23200, starttls: 23201, only: 23202, ssl: 23203, strict: 23204, proxyProtocol: 23205, sslProxyProtocol: 23206, tls13: 23207, imap: 23220, pop3: 23221, auth: 23222 };
const TLS_FILES = `ssl_certificate %PREFIX%/localhost.crt; ssl_certificate_key %PREFIX%/localhost.key;`;

let dovecot: Dovecot;
let auth: AuthServer;
let portico: Portico;

before(async () => {
  ensureMailPackages();
  dovecot = await startDovecot({ imapPort: P.imap, pop3Port: P.pop3, users: { [USER]: PASS } });
  dovecot.deliver(USER, 'From: bob@example.org\nTo: alice@example.org\nSubject: Proxied hello\n\nThe body travelled through Portico.\n');
  auth = await startAuthServer(P.auth, authHandler({ imap: P.imap }));
  portico = await startPortico(`${PREAMBLE}
mail {
  server_name imap.portico.test;
  auth_http 127.0.0.1:${P.auth}/auth;
  imap_auth plain login cram-md5;
  server { listen 127.0.0.1:${P.plain}; protocol imap; }
  server { listen 127.0.0.1:${P.starttls}; protocol imap; starttls on; ${TLS_FILES} }
  server { listen 127.0.0.1:${P.only}; protocol imap; starttls only; ${TLS_FILES} }
  server { listen 127.0.0.1:${P.ssl} ssl; protocol imap; ${TLS_FILES} }
  server { listen 127.0.0.1:${P.strict}; protocol imap; imap_client_buffer 256; max_errors 3; timeout 500ms; }
  server { listen 127.0.0.1:${P.proxyProtocol} proxy_protocol; protocol imap; set_real_ip_from 127.0.0.1; }
  server { listen 127.0.0.1:${P.tls13} ssl; protocol imap; ssl_protocols TLSv1.3; ${TLS_FILES} }
  server { listen 127.0.0.1:${P.sslProxyProtocol} ssl proxy_protocol; protocol imap; set_real_ip_from 127.0.0.0/8; ${TLS_FILES} }
}`, (prefix) => makeCert(prefix));
});

after(async () => {
  await portico?.stop();
  await dovecot?.stop();
  await auth?.stop();
});

function client(port: number, extra: Record<string, unknown> = {}, authExtra: Record<string, unknown> = {}): ImapFlow {
  return new ImapFlow({ host: '127.0.0.1', port, secure: false, logger: false, auth: { user: USER, pass: PASS, ...authExtra }, tls: { rejectUnauthorized: false }, ...extra } as never);
}

/** fetchSubject logs in with imapflow, reads the first message of INBOX and logs out. */
async function fetchSubject(c: ImapFlow): Promise<{ subject: string; source: string }> {
  await c.connect();
  const lock = await c.getMailboxLock('INBOX');
  try {
    const msg = await c.fetchOne('1', { envelope: true, source: true });
    assert.ok(msg, 'message 1 exists');
    return { subject: msg.envelope!.subject!, source: msg.source!.toString() };
  } finally {
    lock.release();
    await c.logout();
  }
}

describe('IMAP proxy', () => {
  it('logs in with imapflow and fetches a real message from dovecot', async () => {
    const from = auth.requests.length;
    const { subject, source } = await fetchSubject(client(P.plain));
    assert.equal(subject, 'Proxied hello');
    assert.match(source, /The body travelled through Portico\./);
    const h = auth.requests[from]!;
    assert.equal(h['auth-protocol'], 'imap');
    assert.equal(h['auth-method'], 'plain');
    assert.equal(h['client-host'], undefined);
  });

  it('lists capabilities from imap_capabilities and imap_auth', async () => {
    const c = await LineClient.connect(P.plain);
    assert.equal(await c.expect(/\r\n/), '* OK IMAP4 ready\r\n');
    c.send('a1 CAPABILITY\r\na2 NOOP\r\na3 LOGOUT\r\n');
    await c.closed;
    assert.equal(c.buffer, '* CAPABILITY IMAP4 IMAP4rev1 UIDPLUS AUTH=PLAIN AUTH=LOGIN AUTH=CRAM-MD5\r\na1 OK completed\r\na2 OK completed\r\n* BYE\r\na3 OK completed\r\n');
  });

  it('adds STARTTLS, and LOGINDISABLED without AUTH= under starttls only', async () => {
    const on = await LineClient.connect(P.starttls);
    await on.expect(/\r\n/);
    on.send('t CAPABILITY\r\n');
    assert.equal(await on.expect(/t OK.*\r\n/), '* CAPABILITY IMAP4 IMAP4rev1 UIDPLUS AUTH=PLAIN AUTH=LOGIN AUTH=CRAM-MD5 STARTTLS\r\nt OK completed\r\n');
    on.close();
    const only = await LineClient.connect(P.only);
    await only.expect(/\r\n/);
    only.send(`t CAPABILITY\r\nu LOGIN ${USER} ${PASS}\r\n`);
    assert.equal(await only.expect(/t OK.*\r\n/), '* CAPABILITY IMAP4 IMAP4rev1 UIDPLUS STARTTLS LOGINDISABLED\r\nt OK completed\r\n');
    assert.equal(await only.expect(/\r\n/), 'u BAD invalid command\r\n');
    only.send('v STARTTLS\r\n');
    assert.equal(await only.expect(/\r\n/), 'v OK completed\r\n');
    await only.startTls();
    only.send('w CAPABILITY\r\n');
    assert.equal(await only.expect(/w OK.*\r\n/), '* CAPABILITY IMAP4 IMAP4rev1 UIDPLUS AUTH=PLAIN AUTH=LOGIN AUTH=CRAM-MD5\r\nw OK completed\r\n');
    only.close();
  });

  it('fetches over STARTTLS with imapflow', async () => {
    const from = auth.requests.length;
    const { subject } = await fetchSubject(client(P.starttls, { doSTARTTLS: true }));
    assert.equal(subject, 'Proxied hello');
    assert.equal(auth.requests[from]!['auth-ssl'], 'on');
  });

  it('fetches over implicit TLS (listen … ssl) with imapflow', async () => {
    const { subject } = await fetchSubject(client(P.ssl, { secure: true }));
    assert.equal(subject, 'Proxied hello');
  });

  it('speaks only the TLS versions in ssl_protocols', async () => {
    const hello = (maxVersion: tls.SecureVersion) =>
      new Promise<string>((resolve) => {
        const c = tls.connect({ port: P.tls13, host: '127.0.0.1', rejectUnauthorized: false, maxVersion });
        c.once('secureConnect', () => (resolve(c.getProtocol() ?? ''), c.destroy()));
        c.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
      });
    assert.equal(await hello('TLSv1.3'), 'TLSv1.3');
    assert.match(await hello('TLSv1.2'), /^ERR_SSL_|^ECONNRESET$/);
  });

  for (const loginMethod of ['AUTH=PLAIN', 'AUTH=LOGIN', 'LOGIN']) {
    it(`logs in with ${loginMethod}`, async () => {
      const { subject } = await fetchSubject(client(P.plain, {}, { loginMethod }));
      assert.equal(subject, 'Proxied hello');
    });
  }

  it('logs in with AUTHENTICATE CRAM-MD5 (the auth server returns the password)', async () => {
    const c = await LineClient.connect(P.plain);
    await c.expect(/\r\n/);
    c.send('c1 AUTHENTICATE CRAM-MD5\r\n');
    const challenge = Buffer.from((await c.expect(/\r\n/)).slice(2, -2), 'base64').toString();
    assert.match(challenge, /^<\d+\.\d+@imap\.portico\.test>$/);
    const digest = crypto.createHmac('md5', PASS).update(challenge).digest('hex');
    c.send(`${Buffer.from(`${USER} ${digest}`).toString('base64')}\r\n`);
    assert.match(await c.expect(/\r\n/), /^c1 OK /);
    c.send('c2 SELECT INBOX\r\n');
    assert.match(await c.expect(/c2 OK.*\r\n/), /\* 1 EXISTS/);
    c.close();
  });

  it('reads LOGIN arguments as literals and quoted strings', async () => {
    const c = await LineClient.connect(P.plain);
    await c.expect(/\r\n/);
    c.send(`l1 LOGIN {${USER.length}}\r\n`);
    assert.equal(await c.expect(/\r\n/), '+ OK\r\n');
    c.send(`${USER} "${PASS}"\r\n`);
    assert.match(await c.expect(/\r\n/), /^l1 OK /);
    c.send('l2 EXAMINE INBOX\r\n');
    assert.match(await c.expect(/l2 OK.*\r\n/), /\* 1 EXISTS/);
    c.close();
    const from = auth.requests.length;
    const q = await LineClient.connect(P.plain);
    await q.expect(/\r\n/);
    q.send(`q1 LOGIN "${USER}" "a \\"quoted\\" \\\\ pass"\r\n`);
    assert.equal(await q.expect(/\r\n/), 'q1 NO Invalid login or password\r\n');
    q.close();
    assert.equal(auth.requests[from]!['auth-pass'], 'a%20%22quoted%22%20\\%20pass');
  });

  it('holds a wrong password for Auth-Wait, answers NO with the tag, then accepts a retry', async () => {
    const c = await LineClient.connect(P.plain);
    await c.expect(/\r\n/);
    const t0 = Date.now();
    c.send(`w1 LOGIN ${USER} wrong\r\n`);
    assert.equal(await c.expect(/\r\n/), 'w1 NO Invalid login or password\r\n');
    assert.ok(Date.now() - t0 >= 900);
    c.send(`w2 LOGIN ${USER} ${PASS}\r\n`);
    assert.match(await c.expect(/\r\n/), /^w2 OK /);
    c.close();
  });

  it('answers malformed commands with BAD and closes after max_errors', async () => {
    const c = await LineClient.connect(P.strict);
    await c.expect(/\r\n/);
    c.send('x1 SELECT INBOX\r\nno-verb\r\nx3 LOGIN "unterminated\r\nx4 NOOP\r\n');
    await c.closed;
    assert.equal(c.buffer, 'x1 BAD invalid command\r\n* BAD invalid command\r\nx3 BAD invalid command\r\n');
  });

  it('answers an over-long command and closes', async () => {
    const c = await LineClient.connect(P.strict);
    await c.expect(/\r\n/);
    c.send(`x1 LOGIN ${'u'.repeat(400)} p\r\n`);
    await c.closed;
    assert.equal(c.buffer, '* BAD invalid command\r\n');
  });

  it('refuses a literal larger than imap_client_buffer', async () => {
    const c = await LineClient.connect(P.strict);
    await c.expect(/\r\n/);
    c.send('x1 LOGIN {100000}\r\n');
    assert.equal(await c.expect(/\r\n/), 'x1 BAD invalid command\r\n');
    c.close();
  });

  it('closes an idle client after timeout', async () => {
    const c = await LineClient.connect(P.strict);
    await c.expect(/\r\n/);
    const t0 = Date.now();
    await c.closed;
    assert.ok(Date.now() - t0 >= 400);
  });

  it('takes the client address from a trusted PROXY protocol header', async () => {
    const from = auth.requests.length;
    const c = await LineClient.connect(P.proxyProtocol);
    c.send(`PROXY TCP4 192.0.2.7 127.0.0.1 5555 ${P.proxyProtocol}\r\np1 LOGIN ${USER} ${PASS}\r\n`);
    assert.equal(await c.expect(/\r\n/), '* OK IMAP4 ready\r\n');
    assert.match(await c.expect(/\r\n/), /^p1 OK /);
    c.close();
    assert.equal(auth.requests[from]!['client-ip'], '192.0.2.7');
  });

  it('reads a PROXY protocol header sent in the same packet as the TLS ClientHello', async () => {
    const from = auth.requests.length;
    const raw = net.connect(P.sslProxyProtocol, '127.0.0.1');
    await new Promise((r) => raw.once('connect', r));
    let first = true;
    // The balancer's header and the client's first TLS bytes leave in one write.
    const carrier = new Duplex({
      read: () => void raw.resume(),
      write(chunk: Buffer, _enc, cb) {
        raw.write(first ? Buffer.concat([Buffer.from(`PROXY TCP4 198.51.100.9 127.0.0.1 4000 ${P.sslProxyProtocol}\r\n`), chunk]) : chunk, cb);
        first = false;
      },
    });
    raw.on('data', (c) => carrier.push(c));
    raw.on('end', () => carrier.push(null));
    const secure = tls.connect({ socket: carrier as unknown as net.Socket, rejectUnauthorized: false });
    let got = '';
    secure.on('data', (d) => (got += d));
    const until = async (re: RegExp) => {
      for (let i = 0; i < 200 && !re.test(got); i++) await new Promise((r) => setTimeout(r, 10));
      assert.match(got, re);
    };
    await until(/\* OK IMAP4 ready\r\n/);
    secure.write(`t1 LOGIN ${USER} ${PASS}\r\n`);
    await until(/t1 OK /);
    secure.destroy();
    raw.destroy();
    assert.equal(auth.requests[from]!['client-ip'], '198.51.100.9');
    assert.equal(auth.requests[from]!['auth-ssl'], 'on');
  });

  it('closes a connection whose PROXY protocol header is broken', async () => {
    const c = await LineClient.connect(P.proxyProtocol);
    c.send('HELLO there\r\n');
    await c.closed;
    assert.equal(c.transcript, '');
    assert.match(portico.readLog(), /broken header/);
  });

  it('closes the upstream when the client disconnects mid-session', async () => {
    const c = client(P.plain);
    await c.connect();
    await c.mailboxOpen('INBOX');
    const before = (portico.readLog().match(/proxied session done/g) ?? []).length;
    (c as unknown as { socket: import('node:net').Socket }).socket.destroy();
    const until = Date.now() + 3000;
    while ((portico.readLog().match(/proxied session done/g) ?? []).length === before) {
      assert.ok(Date.now() < until, 'the proxy noticed the client went away and closed the session');
      await new Promise((r) => setTimeout(r, 25));
    }
  });
});
