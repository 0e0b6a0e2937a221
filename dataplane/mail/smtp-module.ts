/**
 * ngx_mail_smtp_module: the SMTP side of the proxy before authentication (RFC 5321, 4954, 3207). It greets,
 * answers HELO/EHLO with the configured capabilities, runs AUTH PLAIN / LOGIN / CRAM-MD5 / EXTERNAL, and with
 * `smtp_auth none` takes MAIL FROM and RCPT TO unauthenticated; then auth_http decides where the mail goes.
 */
import dns from 'node:dns';
import net from 'node:net';
import { ARGS, CTX } from '../core/module.ts';
import { bitmaskSlot, msecSlot, sizeSlot, strArraySlot } from '../core/slots.ts';
import { inSasl, saslContinue, saslStart, type SaslPrompts } from './auth.ts';
import { enterAuthState, finishCommand } from './handler.ts';
import { mailCoreModule, type MailCoreSrvConf } from './core-module.ts';
import { defineMailModule, AUTH, AUTH_ENABLED, PARSE, RC, srvConf, type MailProtocol, type ParseResult, type Rc } from './mail.ts';
import { parseAuthLine, parseSmtpCommand } from './parse.ts';
import type { MailSession } from './session.ts';
import { capabilityFor, mailSslModule, starttlsAllowed, starttlsOnly } from './ssl-module.ts';

export interface MailSmtpConf {
  clientBufferSize?: number;
  greetingDelay?: number;
  capabilities?: string[];
  authMethods?: number;
  /** Canned replies built at merge time from server_name, capabilities and smtp_auth. */
  greeting: string;
  heloReply: string;
  capability: string;
  starttlsCapability: string;
  starttlsOnlyCapability: string;
}


const OK = '250 2.0.0 OK\r\n';
const BYE = '221 2.0.0 Bye\r\n';
const NEXT = '334 \r\n';
const USERNAME = '334 VXNlcm5hbWU6\r\n';
const PASSWORD = '334 UGFzc3dvcmQ6\r\n';
const INVALID_COMMAND = '500 5.5.1 Invalid command\r\n';
const INVALID_PIPELINING = '503 5.5.0 Improper use of SMTP command pipelining\r\n';
const INVALID_ARGUMENT = '501 5.5.4 Invalid argument\r\n';
const AUTH_REQUIRED = '530 5.7.1 Authentication required\r\n';
const BAD_SEQUENCE = '503 5.5.1 Bad sequence of commands\r\n';
const START_TLS = '220 2.0.0 Start TLS\r\n';
const PROMPTS: SaslPrompts = { username: USERNAME, password: PASSWORD, plain: NEXT, external: NEXT, challengePrefix: '334 ' };
const UNAVAILABLE = '[UNAVAILABLE]';
const TEMPUNAVAIL = '[TEMPUNAVAIL]';

const AUTH_NAMES: [number, string][] = [
  [AUTH_ENABLED.PLAIN, 'PLAIN'],
  [AUTH_ENABLED.LOGIN, 'LOGIN'],
  [AUTH_ENABLED.CRAM_MD5, 'CRAM-MD5'],
  [AUTH_ENABLED.EXTERNAL, 'EXTERNAL'],
];

const smtpProtocol: MailProtocol = {
  name: 'smtp',
  ports: [25, 465, 587],
  initSession,
  initProtocol,
  parseCommand: (s) => (inSasl(s.mailState) ? parseAuthLine(s) : parseSmtpCommand(s)),
  authState,
  internalServerError: '451 4.3.2 Internal server error\r\n',
  noCert: '421 4.7.1 No required SSL certificate\r\n',
  certError: '421 4.7.1 SSL certificate error\r\n',
  authError: (_s, text, code) => `${code || '535 5.7.0'} ${text}\r\n`,
};

export const mailSmtpModule = defineMailModule<undefined, MailSmtpConf>({
  name: 'ngx_mail_smtp_module',
  type: 'mail',
  directives: [
    { name: 'smtp_client_buffer', contexts: CTX.MAIL_MAIN | CTX.MAIL_SRV, args: ARGS.TAKE1, conf: 'srv', set: sizeSlot('clientBufferSize') },
    { name: 'smtp_greeting_delay', contexts: CTX.MAIL_MAIN | CTX.MAIL_SRV, args: ARGS.TAKE1, conf: 'srv', set: msecSlot('greetingDelay') },
    { name: 'smtp_capabilities', contexts: CTX.MAIL_MAIN | CTX.MAIL_SRV, args: ARGS.ONEMORE, conf: 'srv', set: strArraySlot('capabilities') },
    {
      name: 'smtp_auth',
      contexts: CTX.MAIL_MAIN | CTX.MAIL_SRV,
      args: ARGS.ONEMORE,
      conf: 'srv',
      set: bitmaskSlot('authMethods', { plain: AUTH_ENABLED.PLAIN, login: AUTH_ENABLED.LOGIN, 'cram-md5': AUTH_ENABLED.CRAM_MD5, external: AUTH_ENABLED.EXTERNAL, none: AUTH_ENABLED.NONE }),
    },
  ],
  createSrvConf: () => ({ greeting: '', heloReply: '', capability: '', starttlsCapability: '', starttlsOnlyCapability: '' }),
  mergeSrvConf(cf, prev, conf) {
    conf.clientBufferSize ??= prev.clientBufferSize ?? 4096;
    conf.greetingDelay ??= prev.greetingDelay ?? 0;
    conf.capabilities ??= prev.capabilities ?? [];
    conf.authMethods ??= prev.authMethods ?? AUTH_ENABLED.PLAIN | AUTH_ENABLED.LOGIN;
    const name = (cf.level.srv![cf.index(mailCoreModule)] as MailCoreSrvConf).serverName!;
    conf.greeting = `220 ${name} ESMTP ready\r\n`;
    conf.heloReply = `250 ${name}\r\n`;
    const lines = [name, ...conf.capabilities];
    const mechs = AUTH_NAMES.filter(([bit]) => conf.authMethods! & bit).map(([, n]) => n);
    const auth = mechs.length ? [`AUTH ${mechs.join(' ')}`] : [];
    conf.capability = multiline([...lines, ...auth]);
    conf.starttlsCapability = multiline([...lines, ...auth, 'STARTTLS']);
    conf.starttlsOnlyCapability = multiline([...lines, 'STARTTLS']);
  },
});
mailSmtpModule.mailProtocol = smtpProtocol;

/** multiline formats an SMTP multi-line 250 reply. */
function multiline(lines: string[]): string {
  return lines.map((l, i) => `250${i === lines.length - 1 ? ' ' : '-'}${l}\r\n`).join('');
}

function initSession(s: MailSession): void {
  const resolver = s.server.resolver;
  if (!resolver || !net.isIP(s.addrText)) {
    s.host = UNAVAILABLE;
    return greeting(s);
  }
  s.action = 'in resolving client address';
  s.blockRead();
  resolveClient(s.addrText, resolver).then((host) => {
    if (s.closed) return;
    s.host = host;
    greeting(s);
  });
}

/**
 * resolveClient finds the client's name as nginx does: PTR, then the name must resolve back to the address;
 * a failed lookup is `[UNAVAILABLE]`, a timeout or server failure `[TEMPUNAVAIL]`.
 */
async function resolveClient(addr: string, conf: { servers: string[]; timeout: number }): Promise<string> {
  const r = new dns.promises.Resolver({ timeout: conf.timeout, tries: 1 });
  try {
    r.setServers(conf.servers);
    // A PTR query, not r.reverse(): that one answers from /etc/hosts first, and nginx's resolver asks DNS only.
    const [name] = await r.resolvePtr(arpaName(addr));
    if (!name) return UNAVAILABLE;
    const back = net.isIPv6(addr) ? await r.resolve6(name) : await r.resolve4(name);
    return back.includes(addr) ? name : UNAVAILABLE;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === dns.TIMEOUT || code === dns.SERVFAIL || code === dns.CONNREFUSED ? TEMPUNAVAIL : UNAVAILABLE;
  }
}

/** arpaName is the reverse-lookup name of an address (in-addr.arpa / ip6.arpa). */
export function arpaName(addr: string): string {
  if (net.isIPv4(addr)) return `${addr.split('.').reverse().join('.')}.in-addr.arpa`;
  const [head = '', tail = ''] = addr.split('::');
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = addr.includes('::') ? [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t] : h;
  return `${groups.map((g) => g.padStart(4, '0')).join('').split('').reverse().join('.')}.ip6.arpa`;
}

function greeting(s: MailSession): void {
  const sscf = srvConf(s.server, mailSmtpModule);
  s.action = 'sending client greeting line';
  if (!sscf.greetingDelay) {
    s.send(sscf.greeting);
    return initProtocol(s);
  }
  // Anything the client says before the (delayed) greeting marks it as a spammer that does not wait.
  s.useBuffer(sscf.clientBufferSize!);
  s.setReadHandler(() => {
    s.action = 'in delay pipelining state';
    s.error('info', `client was rejected before greeting: "${s.buffer.toString('latin1', s.pos, s.last).replace(/[\r\n]+/g, ' ').trimEnd()}"`);
    s.quit = true;
    s.send(INVALID_PIPELINING);
  });
  s.setTimer(sscf.greetingDelay, () => {
    s.send(sscf.greeting);
    initProtocol(s);
  });
}

function initProtocol(s: MailSession): void {
  enterAuthState(s, srvConf(s.server, mailSmtpModule).clientBufferSize!);
}

/** authState handles one parsed command (ngx_mail_smtp_auth_state). */
function authState(s: MailSession, parsed: ParseResult): void {
  s.out = OK;
  if (parsed !== PARSE.OK) return finishCommand(s, RC.INVALID, INVALID_COMMAND, false);
  if (inSasl(s.mailState)) return finishCommand(s, saslContinue(s, PROMPTS), INVALID_COMMAND, false);
  let rc: Rc = RC.OK;
  switch (s.command) {
    case 'HELO':
    case 'EHLO':
      rc = helo(s);
      break;
    case 'AUTH':
      rc = auth(s);
      break;
    case 'QUIT':
      s.quit = true;
      s.out = BYE;
      break;
    case 'MAIL':
      rc = mail(s);
      break;
    case 'RCPT':
      rc = rcpt(s);
      break;
    case 'RSET':
      s.smtpFrom = s.smtpTo = '';
      break;
    case 'NOOP':
      break;
    case 'STARTTLS':
      return finishCommand(s, starttls(s), INVALID_COMMAND, true);
    default:
      rc = RC.INVALID;
  }
  finishCommand(s, rc, INVALID_COMMAND, false);
}

function helo(s: MailSession): Rc {
  const sscf = srvConf(s.server, mailSmtpModule);
  if (s.args.length !== 1) {
    s.out = INVALID_ARGUMENT;
    return RC.OK;
  }
  s.smtpHelo = s.args[0]!.toString('latin1');
  if (s.command === 'HELO') {
    s.out = sscf.heloReply;
    return RC.OK;
  }
  s.esmtp = true;
  s.out = capabilityFor(s, sscf);
  return RC.OK;
}

function auth(s: MailSession): Rc {
  if (starttlsOnly(s, srvConf(s.server, mailSslModule))) return RC.INVALID;
  if (s.args.length === 0) {
    s.out = INVALID_ARGUMENT;
    return RC.OK;
  }
  return saslStart(s, srvConf(s.server, mailSmtpModule).authMethods!, PROMPTS);
}

function mail(s: MailSession): Rc {
  if (!(srvConf(s.server, mailSmtpModule).authMethods! & AUTH_ENABLED.NONE)) {
    s.error('info', `client was rejected: "${s.line}"`);
    s.out = AUTH_REQUIRED;
    return RC.OK;
  }
  if (s.smtpFrom) s.out = BAD_SEQUENCE;
  else if (s.args.length === 0) s.out = INVALID_ARGUMENT;
  else s.smtpFrom = s.line;
  return RC.OK;
}

function rcpt(s: MailSession): Rc {
  if (!s.smtpFrom) {
    s.out = BAD_SEQUENCE;
    return RC.OK;
  }
  if (s.args.length === 0) {
    s.out = INVALID_ARGUMENT;
    return RC.OK;
  }
  s.smtpTo = s.line;
  s.authMethod = AUTH.NONE;
  return RC.DONE;
}

function starttls(s: MailSession): Rc {
  if (!starttlsAllowed(s, srvConf(s.server, mailSslModule))) return RC.INVALID;
  // RFC 3207: forget what the client said before TLS.
  s.smtpHelo = '';
  s.esmtp = false;
  s.out = START_TLS;
  return RC.OK;
}
