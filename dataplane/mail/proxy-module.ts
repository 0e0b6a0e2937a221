/**
 * ngx_mail_proxy_module: after auth_http says where, connect to the mail server, log in there on the client's
 * behalf (POP3 USER/PASS; IMAP LOGIN with literals, so any byte in a login is safe; SMTP EHLO, XCLIENT,
 * AUTH PLAIN or the saved MAIL FROM / RCPT TO), then relay bytes both ways untouched until either side closes.
 * Directives: `proxy_buffer`, `proxy_timeout`, `proxy_pass_error_message`, `xclient`, `proxy_smtp_auth`,
 * `proxy_protocol` (v1 header to the upstream).
 */
import net from 'node:net';
import { ARGS, CTX } from '../core/module.ts';
import { flagSlot, msecSlot, sizeSlot, strSlot } from '../core/slots.ts';
import { errnoOf, strerror } from '../core/errors.ts';
import { defineMailModule, AUTH, srvConf } from './mail.ts';
import type { MailSession } from './session.ts';
import { countRead } from '../event/read-gc.ts';

export interface MailProxyConf {
  enable?: boolean;
  passErrorMessage?: boolean;
  xclient?: boolean;
  smtpAuth?: boolean;
  proxyProtocol?: boolean;
  proxyProtocolVersion?: string;
  bufferSize?: number;
  timeout?: number;
}

export const mailProxyModule = defineMailModule<undefined, MailProxyConf>({
  name: 'ngx_mail_proxy_module',
  type: 'mail',
  directives: [
    { name: 'proxy', contexts: CTX.MAIL_MAIN | CTX.MAIL_SRV, args: ARGS.FLAG, conf: 'srv', set: flagSlot('enable') },
    { name: 'proxy_buffer', contexts: CTX.MAIL_MAIN | CTX.MAIL_SRV, args: ARGS.TAKE1, conf: 'srv', set: sizeSlot('bufferSize') },
    { name: 'proxy_timeout', contexts: CTX.MAIL_MAIN | CTX.MAIL_SRV, args: ARGS.TAKE1, conf: 'srv', set: msecSlot('timeout') },
    { name: 'proxy_pass_error_message', contexts: CTX.MAIL_MAIN | CTX.MAIL_SRV, args: ARGS.FLAG, conf: 'srv', set: flagSlot('passErrorMessage') },
    { name: 'xclient', contexts: CTX.MAIL_MAIN | CTX.MAIL_SRV, args: ARGS.FLAG, conf: 'srv', set: flagSlot('xclient') },
    { name: 'proxy_smtp_auth', contexts: CTX.MAIL_MAIN | CTX.MAIL_SRV, args: ARGS.FLAG, conf: 'srv', set: flagSlot('smtpAuth') },
    { name: 'proxy_protocol', contexts: CTX.MAIL_MAIN | CTX.MAIL_SRV, args: ARGS.FLAG, conf: 'srv', set: flagSlot('proxyProtocol') },
    {
      name: 'proxy_protocol_version',
      contexts: CTX.MAIL_MAIN | CTX.MAIL_SRV,
      args: ARGS.TAKE1,
      conf: 'srv',
      set(cf, d, conf: MailProxyConf) {
        if (d.args[0] !== '1') cf.error(`invalid value "${d.args[0]}"`);
        return strSlot('proxyProtocolVersion')(cf, d, conf);
      },
    },
  ],
  createSrvConf: () => ({}),
  mergeSrvConf(_cf, prev, conf) {
    conf.enable ??= prev.enable ?? false;
    conf.passErrorMessage ??= prev.passErrorMessage ?? false;
    conf.xclient ??= prev.xclient ?? true;
    conf.smtpAuth ??= prev.smtpAuth ?? false;
    conf.proxyProtocol ??= prev.proxyProtocol ?? false;
    conf.bufferSize ??= prev.bufferSize ?? 4096;
    conf.timeout ??= prev.timeout ?? 24 * 3_600_000;
  },
});

/** Upstream login states (ngx_pop3_*, ngx_imap_*, ngx_smtp_* of the proxy). */
const ST = {
  START: 0,
  POP3_USER: 1,
  POP3_PASSWD: 2,
  IMAP_LOGIN: 3,
  IMAP_USER: 4,
  IMAP_PASSWD: 5,
  SMTP_HELO: 6,
  SMTP_HELO_XCLIENT: 7,
  SMTP_HELO_FROM: 8,
  SMTP_HELO_AUTH: 9,
  SMTP_XCLIENT: 10,
  SMTP_XCLIENT_FROM: 11,
  SMTP_XCLIENT_HELO: 12,
  SMTP_XCLIENT_AUTH: 13,
  SMTP_AUTH_PLAIN: 14,
  SMTP_FROM: 15,
  SMTP_TO: 16,
} as const;

const SMTP_AUTH_OK = '235 2.0.0 OK\r\n';
/** How long a finished session may take to flush its last bytes to a slow peer. */
const CLOSE_GRACE_MS = 30_000;

interface Upstream {
  sock: net.Socket;
  /** Set once either side ended normally: both sockets flush what is queued before they go. */
  ending: boolean;
  buf: Buffer;
  last: number;
  state: number;
  pcf: MailProxyConf;
}

/** mailProxyInit connects to the upstream the auth server named and starts the login there. */
export function mailProxyInit(s: MailSession, host: string, port: number): void {
  const pcf = srvConf(s.server, mailProxyModule);
  s.action = 'connecting to upstream';
  s.upstreamName = net.isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
  s.out = '';
  const sock = net.connect({ host, port, noDelay: true });
  const u: Upstream = { sock, ending: false, buf: Buffer.alloc(pcf.bufferSize!), last: 0, state: ST.START, pcf };
  // An error or timeout tears the upstream down; a graceful end (see startRelay) lets it flush first.
  s.cleanups.push(() => {
    if (!u.ending) sock.destroy();
  });
  s.setTimer(s.server.timeout, () => {
    s.error('info', 'upstream timed out (110: Connection timed out)');
    upstreamFailed(s, u);
  });
  sock.on('connect', () => {
    if (pcf.proxyProtocol) sock.write(proxyProtocolV1(s));
  });
  sock.on('error', (err: NodeJS.ErrnoException) => {
    if (s.closed) return;
    if (s.relay) return s.close();
    s.error('error', `${u.state === ST.START && !sock.bytesRead ? 'connect()' : 'recv()'} failed (${errnoOf(err)}: ${strerror(err)})`);
    upstreamFailed(s, u);
  });
  sock.on('data', (chunk: Buffer) => loginData(s, u, chunk));
  sock.on('end', () => {
    if (s.closed || s.relay) return;
    s.error('error', 'upstream prematurely closed connection');
    upstreamFailed(s, u);
  });
}

function upstreamFailed(s: MailSession, u: Upstream): void {
  s.server.stats.upstreamErrors[s.protocol.name]++;
  u.sock.destroy();
  if (s.out) {
    s.quit = true;
    s.send(s.out);
  } else s.internalServerError();
}

/** loginData collects one upstream reply and moves the login on (ngx_mail_proxy_read_response). */
function loginData(s: MailSession, u: Upstream, chunk: Buffer): void {
  if (s.closed || s.relay) return;
  if (u.last + chunk.length > u.buf.length) {
    s.error('error', `upstream sent too long response line: "${u.buf.toString('latin1', 0, Math.min(u.last, 128))}"`);
    return upstreamFailed(s, u);
  }
  chunk.copy(u.buf, u.last);
  u.last += chunk.length;
  if (u.last < 4 || u.buf[u.last - 2] !== 0x0d || u.buf[u.last - 1] !== 0x0a) return;
  const reply = u.buf.toString('latin1', 0, u.last);
  const ok = responseOk(s, u.state, reply);
  if (ok === undefined) return; // a multi-line reply is still coming
  if (!ok) {
    if (!u.pcf.passErrorMessage) {
      s.error('error', `upstream sent invalid response: "${reply.replace(/\r\n$/, '')}"`);
      s.out = '';
    } else {
      s.error('info', `upstream sent invalid response: "${reply.replace(/\r\n$/, '')}"`);
      s.out = reply;
    }
    return upstreamFailed(s, u);
  }
  u.last = 0;
  const line = nextLine(s, u);
  if (line === null) return upstreamFailed(s, u);
  if (line === undefined) return startRelay(s, u, reply);
  u.sock.write(Buffer.from(line, 'latin1'));
}

/** responseOk checks a reply for the state (undefined: wait for more lines). */
function responseOk(s: MailSession, state: number, reply: string): boolean | undefined {
  switch (s.protocol.name) {
    case 'pop3':
      return reply.startsWith('+OK');
    case 'imap': {
      if (state === ST.START) return reply.startsWith('* OK');
      if (state === ST.IMAP_LOGIN || state === ST.IMAP_USER) return reply.startsWith('+');
      // Untagged lines (CAPABILITY) may precede the tagged answer to LOGIN.
      const lines = reply.split('\r\n').slice(0, -1);
      const tagged = lines.find((l) => !l.startsWith('* '));
      if (tagged === undefined) return undefined;
      return tagged.startsWith(`${s.tag}OK`);
    }
  }
  const lines = reply.split('\r\n').slice(0, -1);
  if (lines.at(-1)![3] === '-') return undefined;
  const code = reply.slice(0, 3);
  switch (state) {
    case ST.START:
      return code === '220';
    case ST.SMTP_HELO:
    case ST.SMTP_HELO_XCLIENT:
    case ST.SMTP_HELO_FROM:
    case ST.SMTP_HELO_AUTH:
    case ST.SMTP_FROM:
      return code === '250';
    case ST.SMTP_XCLIENT:
    case ST.SMTP_XCLIENT_FROM:
    case ST.SMTP_XCLIENT_HELO:
    case ST.SMTP_XCLIENT_AUTH:
      return code === '220' || code === '250';
    case ST.SMTP_AUTH_PLAIN:
      return code === '235';
  }
  return true; // the reply to RCPT TO goes to the client whatever it is
}

/** nextLine is the command to send upstream in the current state and advances it; undefined: logged in, null: failed. */
function nextLine(s: MailSession, u: Upstream): string | null | undefined {
  const login = s.login;
  const passwd = s.passwd ?? '';
  switch (s.protocol.name) {
    case 'pop3':
      // USER and PASS are lines: a CR or LF smuggled in through base64 (AUTH PLAIN) would start a new command.
      if (/[\r\n]/.test(login + passwd)) {
        s.error('error', 'login or password contains a line break');
        return null;
      }
      if (u.state === ST.START) {
        s.action = 'sending user name to upstream';
        u.state = ST.POP3_USER;
        return `USER ${login}\r\n`;
      }
      if (u.state === ST.POP3_USER) {
        s.action = 'sending password to upstream';
        u.state = ST.POP3_PASSWD;
        return `PASS ${passwd}\r\n`;
      }
      return undefined;
    case 'imap':
      if (u.state === ST.START) {
        s.action = 'sending LOGIN command to upstream';
        u.state = ST.IMAP_LOGIN;
        return `${s.tag}LOGIN {${login.length}}\r\n`;
      }
      if (u.state === ST.IMAP_LOGIN) {
        s.action = 'sending user name to upstream';
        u.state = ST.IMAP_USER;
        return `${login} {${passwd.length}}\r\n`;
      }
      if (u.state === ST.IMAP_USER) {
        s.action = 'sending password to upstream';
        u.state = ST.IMAP_PASSWD;
        return `${passwd}\r\n`;
      }
      return undefined;
  }
  return nextSmtpLine(s, u);
}

function nextSmtpLine(s: MailSession, u: Upstream): string | null | undefined {
  const { xclient, smtpAuth } = u.pcf;
  const none = s.authMethod === AUTH.NONE;
  const after = (from: number, auth: number, plain: number): number => (none ? from : smtpAuth ? auth : plain);
  switch (u.state) {
    case ST.START:
      s.action = 'sending HELO/EHLO to upstream';
      u.state = xclient ? ST.SMTP_HELO_XCLIENT : after(ST.SMTP_HELO_FROM, ST.SMTP_HELO_AUTH, ST.SMTP_HELO);
      return `${s.esmtp || xclient ? 'EHLO' : 'HELO'} ${s.server.serverName}\r\n`;
    case ST.SMTP_HELO_XCLIENT: {
      s.action = 'sending XCLIENT to upstream';
      const addr = net.isIPv6(s.addrText) ? `IPV6:${s.addrText}` : s.addrText;
      const loginPart = s.login && !smtpAuth ? ` LOGIN=${xtext(s.login)}` : '';
      u.state = s.smtpHelo ? ST.SMTP_XCLIENT_HELO : after(ST.SMTP_XCLIENT_FROM, ST.SMTP_XCLIENT_AUTH, ST.SMTP_XCLIENT);
      return `XCLIENT ADDR=${addr}${loginPart} NAME=${s.host}\r\n`;
    }
    case ST.SMTP_XCLIENT_HELO:
      s.action = 'sending client HELO/EHLO to upstream';
      u.state = after(ST.SMTP_HELO_FROM, ST.SMTP_HELO_AUTH, ST.SMTP_HELO);
      return `${s.esmtp ? 'EHLO' : 'HELO'} ${s.smtpHelo}\r\n`;
    case ST.SMTP_HELO_AUTH:
    case ST.SMTP_XCLIENT_AUTH:
      s.action = 'sending AUTH to upstream';
      if (s.passwd === undefined) {
        s.error('error', 'no password available');
        return null;
      }
      u.state = ST.SMTP_AUTH_PLAIN;
      return `AUTH PLAIN ${Buffer.from(`\0${s.login}\0${s.passwd}`, 'latin1').toString('base64')}\r\n`;
    case ST.SMTP_HELO_FROM:
    case ST.SMTP_XCLIENT_FROM:
      s.action = 'sending MAIL FROM to upstream';
      u.state = ST.SMTP_FROM;
      return `${s.smtpFrom}\r\n`;
    case ST.SMTP_FROM:
      s.action = 'sending RCPT TO to upstream';
      u.state = ST.SMTP_TO;
      return `${s.smtpTo}\r\n`;
  }
  return undefined;
}

/** startRelay tells the client it is in, then copies bytes both ways (ngx_mail_proxy_handler). */
function startRelay(s: MailSession, u: Upstream, lastReply: string): void {
  const client = s.socket;
  const up = u.sock;
  const limit = u.pcf.bufferSize!;
  s.action = '';
  s.error('info', 'client logged in');
  s.action = 'proxying';
  // SMTP with authentication answers for itself; everything else forwards the upstream's last reply.
  client.write(s.protocol.name === 'smtp' && s.authMethod !== AUTH.NONE ? SMTP_AUTH_OK : lastReply);
  for (const chunk of s.takeBuffered()) up.write(chunk);
  s.setTimer(u.pcf.timeout!, () => {
    s.error('info', 'client timed out (110: Connection timed out)');
    s.close();
  });
  s.relay = (chunk) => {
    s.refreshTimer();
    if (!up.write(chunk) || up.writableLength > limit) pauseUntilDrain(client, up);
  };
  up.removeAllListeners('data');
  up.removeAllListeners('end');
  up.on('data', (chunk: Buffer) => {
    countRead(chunk.length);
    s.refreshTimer();
    if (!client.write(chunk) || client.writableLength > limit) pauseUntilDrain(up, client);
  });
  const done = (): void => {
    if (s.closed) return;
    s.action = '';
    s.error('info', 'proxied session done');
    u.ending = true;
    s.close(false);
    // Half-close both ways; each socket goes once what was queued for it is written (or after a grace time).
    for (const sock of [up, client]) {
      sock.end(() => sock.destroy());
      setTimeout(() => sock.destroy(), CLOSE_GRACE_MS).unref();
    }
  };
  up.on('end', done);
  client.on('end', done);
  client.resume();
}

/** pauseUntilDrain stops reading `src` until `dst` has written its queue (one waiter per direction). */
function pauseUntilDrain(src: net.Socket, dst: net.Socket): void {
  if (src.isPaused()) return;
  src.pause();
  dst.once('drain', () => src.resume());
}

/** xtext encodes an XCLIENT attribute value (RFC 1891): `+`, `=`, spaces and non-printables as `+XX`. */
export function xtext(v: string): string {
  let out = '';
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i) & 0xff;
    out += c <= 0x20 || c >= 0x7f || c === 0x2b || c === 0x3d ? `+${c.toString(16).toUpperCase().padStart(2, '0')}` : v[i];
  }
  return out;
}

function proxyProtocolV1(s: MailSession): string {
  const src = s.addrText;
  const dst = (s.raw.localAddress ?? '').replace(/^::ffff:/, '');
  const fam = net.isIPv6(src) || net.isIPv6(dst) ? 'TCP6' : 'TCP4';
  return `PROXY ${fam} ${src} ${dst} ${s.clientPort} ${s.raw.localPort}\r\n`;
}
