/**
 * ngx_mail_auth_http_module: asks an HTTP server whether a login may proceed and where its mailbox lives.
 * The request carries nginx's headers (Auth-Method, Auth-User, Auth-Pass escaped, Auth-Salt, Auth-Protocol,
 * Auth-Login-Attempt, Client-IP, Client-Host, Auth-SMTP-*, Auth-SSL-*, then `auth_http_header` extras); the
 * answer is read from response headers only: `Auth-Status: OK` with Auth-Server / Auth-Port (and optional
 * Auth-User / Auth-Pass), `Auth-Status: WAIT`, or an error text with Auth-Wait and Auth-Error-Code.
 */
import crypto from 'node:crypto';
import net from 'node:net';
import { request } from 'undici';
import { ARGS, CTX } from '../core/module.ts';
import { flagSlot, msecSlot } from '../core/slots.ts';
import { ConfError, errnoOf, strerror } from '../core/errors.ts';
import { defineMailModule, AUTH, AUTH_METHOD_NAMES, srvConf } from './mail.ts';
import { mailProxyInit } from './proxy-module.ts';
import type { MailSession } from './session.ts';
import { mailSslModule } from './ssl-module.ts';

export interface MailAuthHttpConf {
  /** `http://host[:port]/uri` normalised to an absolute URL. */
  url?: string;
  /** Peer name for log lines ("127.0.0.1:9000"). */
  peer?: string;
  timeout?: number;
  passClientCert?: boolean;
  headers?: [string, string][];
  file?: string;
  line?: number;
}

export const mailAuthHttpModule = defineMailModule<undefined, MailAuthHttpConf>({
  name: 'ngx_mail_auth_http_module',
  type: 'mail',
  directives: [
    {
      name: 'auth_http',
      contexts: CTX.MAIL_MAIN | CTX.MAIL_SRV,
      args: ARGS.TAKE1,
      conf: 'srv',
      set(cf, d, conf: MailAuthHttpConf) {
        const parsed = parseAuthUrl(d.args[0]!);
        if (typeof parsed === 'string') return cf.error(`${parsed} in auth_http "${d.args[0]!.replace(/^http:\/\//, '')}"`);
        conf.url = parsed.url;
        conf.peer = parsed.peer;
      },
    },
    { name: 'auth_http_timeout', contexts: CTX.MAIL_MAIN | CTX.MAIL_SRV, args: ARGS.TAKE1, conf: 'srv', set: msecSlot('timeout') },
    {
      name: 'auth_http_header',
      contexts: CTX.MAIL_MAIN | CTX.MAIL_SRV,
      args: ARGS.TAKE2,
      conf: 'srv',
      set(_cf, d, conf: MailAuthHttpConf) {
        (conf.headers ??= []).push([d.args[0]!, d.args[1]!]);
      },
    },
    { name: 'auth_http_pass_client_cert', contexts: CTX.MAIL_MAIN | CTX.MAIL_SRV, args: ARGS.FLAG, conf: 'srv', set: flagSlot('passClientCert') },
  ],
  createSrvConf: (cf) => ({ file: cf.directive?.file, line: cf.directive?.line }),
  mergeSrvConf(_cf, prev, conf) {
    if (!conf.url) {
      conf.url = prev.url;
      conf.peer = prev.peer;
      if (!conf.url) throw new ConfError(`no "auth_http" is defined for server in ${conf.file}:${conf.line}`);
    }
    conf.timeout ??= prev.timeout ?? 60_000;
    conf.passClientCert ??= prev.passClientCert ?? false;
    conf.headers ??= prev.headers ?? [];
  },
});

/** parseAuthUrl reads `[http://]host[:port][/uri]` as ngx_parse_url does for auth_http (port 80 by default). */
export function parseAuthUrl(text: string): { url: string; peer: string } | string {
  if (/^[a-z]+:\/\//i.test(text) && !text.startsWith('http://')) return 'invalid URL prefix';
  const rest = text.replace(/^http:\/\//, '');
  const slash = rest.indexOf('/');
  const hostPort = slash < 0 ? rest : rest.slice(0, slash);
  const uri = slash < 0 ? '/' : rest.slice(slash);
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:[\]]+)(?::(\d+))?$/.exec(hostPort);
  if (!m) return 'invalid host';
  if (m[2] !== undefined && (Number(m[2]) < 1 || Number(m[2]) > 65535)) return 'invalid port';
  const port = m[2] ?? '80';
  return { url: `http://${m[1]}:${port}${uri}`, peer: `${m[1]!.replace(/^\[|\]$/g, '')}:${port}` };
}

/** startAuth hands a complete login to the auth server (ngx_mail_auth): reading stops until it answers. */
export function startAuth(s: MailSession): void {
  s.args = [];
  s.blockRead();
  s.loginAttempt++;
  authHttpInit(s);
}

function authHttpInit(s: MailSession): void {
  const ahcf = srvConf(s.server, mailAuthHttpModule);
  s.action = 'in http auth state';
  const ctrl = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    ctrl.abort();
  }, ahcf.timeout!);
  const cleanup = (): void => {
    clearTimeout(timer);
    ctrl.abort();
  };
  s.cleanups.push(cleanup);
  let headers: Record<string, string>;
  try {
    headers = createRequest(s, ahcf);
  } catch {
    return authError(s, cleanup);
  }
  const started = performance.now();
  const duration = s.server.stats.authDuration[s.protocol.name];
  request(ahcf.url!, { method: 'GET', headers, signal: ctrl.signal }).then(
    async (res) => {
      await res.body.dump().catch(() => {});
      clearTimeout(timer);
      duration.observe((performance.now() - started) / 1000);
      if (s.closed) return;
      s.cleanups.splice(s.cleanups.indexOf(cleanup), 1);
      processHeaders(s, ahcf, res.headers);
    },
    (err: NodeJS.ErrnoException) => {
      // A session that closed aborted its own request: that is no round trip.
      if (s.closed) return;
      duration.observe((performance.now() - started) / 1000);
      if (timedOut) s.error('error', `auth http server ${ahcf.peer} timed out (110: Connection timed out)`);
      else if (err.code) s.error('error', `connect() to ${ahcf.peer} failed (${errnoOf(err)}: ${strerror(err)})`);
      else s.error('error', `auth http server ${ahcf.peer} failed: ${err.message}`);
      authError(s, cleanup);
    },
  );
}

function authError(s: MailSession, cleanup: () => void): void {
  cleanup();
  s.server.stats.auth[s.protocol.name].error++;
  s.internalServerError();
}

type Headers = Record<string, string | string[] | undefined>;

function header(h: Headers, name: string): string | undefined {
  const v = h[name];
  return (Array.isArray(v) ? v.at(-1) : v)?.trim();
}

/** processHeaders acts on the auth server's answer (ngx_mail_auth_http_process_headers). */
function processHeaders(s: MailSession, ahcf: MailAuthHttpConf, h: Headers): void {
  const status = header(h, 'auth-status');
  const wait = Number.parseInt(header(h, 'auth-wait') ?? '', 10);
  const sleep = Number.isFinite(wait) && wait > 0 ? wait : 0;
  const user = header(h, 'auth-user');
  const pass = header(h, 'auth-pass');
  if (user !== undefined) s.login = user;
  if (pass !== undefined) s.passwd = pass;
  if (status !== undefined && status !== 'OK' && status !== 'WAIT') {
    s.error('info', `client login failed: "${status}"`);
    s.server.stats.auth[s.protocol.name].fail++;
    const reply = s.protocol.authError(s, status, header(h, 'auth-error-code'));
    if (sleep === 0) {
      s.quit = true;
      s.send(reply);
      return;
    }
    // Auth-Wait: hold the client, then answer and let it try again.
    s.setTimer(sleep * 1000, () => {
      s.mailState = 0;
      s.authMethod = AUTH.PLAIN;
      s.action = 'in auth state';
      s.send(reply);
      if (!s.closed) s.protocol.initProtocol(s);
    });
    return;
  }
  if (status === 'WAIT') {
    s.setTimer(sleep * 1000, () => authHttpInit(s));
    return;
  }
  const addr = header(h, 'auth-server');
  const port = header(h, 'auth-port');
  const fail = (text: string): void => {
    s.error('error', `auth http server ${ahcf.peer} ${text}`);
    s.server.stats.auth[s.protocol.name].error++;
    s.internalServerError();
  };
  if (!addr || !port) return fail('did not send server or port');
  if (s.passwd === undefined && s.protocol.name !== 'smtp') return fail('did not send password');
  if (!net.isIP(addr)) return fail(`sent invalid server address:"${addr}"`);
  const n = Number(port);
  if (!/^\d+$/.test(port) || n < 1 || n > 65535) return fail(`sent invalid server port:"${port}"`);
  s.server.stats.auth[s.protocol.name].ok++;
  mailProxyInit(s, addr, n);
}

/** createRequest builds the request headers in nginx's order. */
function createRequest(s: MailSession, ahcf: MailAuthHttpConf): Record<string, string> {
  const h: Record<string, string> = {
    Host: new URL(ahcf.url!).hostname.replace(/^\[|\]$/g, ''),
    'Auth-Method': AUTH_METHOD_NAMES[s.authMethod]!,
    'Auth-User': escapeMailAuth(s.login),
    'Auth-Pass': escapeMailAuth(s.passwd ?? ''),
  };
  if (s.authMethod !== AUTH.PLAIN && s.salt) {
    h['Auth-Salt'] = s.salt;
    // The digest is not a password: the auth server must answer with the real one (Auth-Pass).
    s.passwd = undefined;
  }
  h['Auth-Protocol'] = s.protocol.name;
  h['Auth-Login-Attempt'] = String(s.loginAttempt);
  h['Client-IP'] = s.addrText;
  if (s.host) h['Client-Host'] = s.host;
  if (s.authMethod === AUTH.NONE) {
    h['Auth-SMTP-Helo'] = s.smtpHelo;
    h['Auth-SMTP-From'] = s.smtpFrom;
    h['Auth-SMTP-To'] = s.smtpTo;
  }
  if (s.ssl) Object.assign(h, sslHeaders(s, ahcf));
  for (const [k, v] of ahcf.headers!) h[k] = v;
  return h;
}

function sslHeaders(s: MailSession, ahcf: MailAuthHttpConf): Record<string, string> {
  const h: Record<string, string> = { 'Auth-SSL': 'on' };
  if (!srvConf(s.server, mailSslModule).verifyClient) return h;
  const sock = s.socket as import('node:tls').TLSSocket;
  const cert = sock.getPeerX509Certificate();
  h['Auth-SSL-Verify'] = s.sslVerify;
  if (!cert) return h;
  h['Auth-SSL-Subject'] = dn(cert.subject);
  h['Auth-SSL-Issuer'] = dn(cert.issuer);
  h['Auth-SSL-Serial'] = cert.serialNumber.toUpperCase();
  h['Auth-SSL-Fingerprint'] = crypto.createHash('sha1').update(cert.raw).digest('hex');
  if (ahcf.passClientCert) h['Auth-SSL-Cert'] = escapeMailAuth(cert.toString());
  return h;
}

/** dn turns Node's one-attribute-per-line subject into an RFC 2253 string, most specific first. */
function dn(text: string): string {
  return text.split('\n').filter(Boolean).reverse().join(',');
}

/**
 * escapeMailAuth percent-encodes what cannot travel in a header value, as ngx_escape_uri with
 * NGX_ESCAPE_MAIL_AUTH: space, `"`, `#`, `%`, `'`, control characters and bytes from 0x7f up.
 */
export function escapeMailAuth(text: string): string {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i) & 0xff;
    if (c <= 0x20 || c >= 0x7f || c === 0x22 || c === 0x23 || c === 0x25 || c === 0x27) out += `%${c.toString(16).toUpperCase().padStart(2, '0')}`;
    else out += text[i];
  }
  return out;
}
