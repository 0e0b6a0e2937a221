/**
 * ngx_mail_imap_module: the IMAP side before authentication (RFC 3501, 4959). Tagged replies, CAPABILITY from
 * `imap_capabilities` plus AUTH= for `imap_auth` and STARTTLS / LOGINDISABLED as `starttls` says, LOGIN with
 * quoted strings and literals, AUTHENTICATE PLAIN / LOGIN / CRAM-MD5 / EXTERNAL.
 */
import { ARGS, CTX } from '../core/module.ts';
import { bitmaskSlot, sizeSlot, strArraySlot } from '../core/slots.ts';
import { inSasl, SASL, saslContinue, saslStart, type SaslPrompts } from './auth.ts';
import { enterAuthState, finishCommand } from './handler.ts';
import { defineMailModule, AUTH, AUTH_ENABLED, PARSE, RC, srvConf, type MailProtocol, type ParseResult, type Rc } from './mail.ts';
import { parseAuthLine, parseImapCommand } from './parse.ts';
import type { MailSession } from './session.ts';
import { capabilityFor, mailSslModule, starttlsAllowed, starttlsOnly } from './ssl-module.ts';

export interface MailImapConf {
  clientBufferSize?: number;
  capabilities?: string[];
  authMethods?: number;
  capability: string;
  starttlsCapability: string;
  starttlsOnlyCapability: string;
}


const GREETING = '* OK IMAP4 ready\r\n';
const OK = 'OK completed\r\n';
const NEXT = '+ OK\r\n';
const PLAIN_NEXT = '+ \r\n';
const USERNAME = '+ VXNlcm5hbWU6\r\n';
const PASSWORD = '+ UGFzc3dvcmQ6\r\n';
const BYE = '* BYE\r\n';
const INVALID_COMMAND = 'BAD invalid command\r\n';
const PROMPTS: SaslPrompts = { username: USERNAME, password: PASSWORD, plain: PLAIN_NEXT, external: PLAIN_NEXT, challengePrefix: '+ ' };

const AUTH_NAMES: [number, string][] = [
  [AUTH_ENABLED.PLAIN, 'AUTH=PLAIN'],
  [AUTH_ENABLED.LOGIN, 'AUTH=LOGIN'],
  [AUTH_ENABLED.CRAM_MD5, 'AUTH=CRAM-MD5'],
  [AUTH_ENABLED.EXTERNAL, 'AUTH=EXTERNAL'],
];

const imapProtocol: MailProtocol = {
  name: 'imap',
  ports: [143, 993],
  initSession(s) {
    s.send(GREETING);
    initProtocol(s);
  },
  initProtocol,
  parseCommand: (s) => (inSasl(s.mailState) ? parseAuthLine(s) : parseImapCommand(s)),
  authState,
  internalServerError: '* BAD internal server error\r\n',
  noCert: '* BYE No required SSL certificate\r\n',
  certError: '* BYE SSL certificate error\r\n',
  authError: (s, text) => `${s.tag || '* '}NO ${text}\r\n`,
};

export const mailImapModule = defineMailModule<undefined, MailImapConf>({
  name: 'ngx_mail_imap_module',
  type: 'mail',
  directives: [
    { name: 'imap_client_buffer', contexts: CTX.MAIL_MAIN | CTX.MAIL_SRV, args: ARGS.TAKE1, conf: 'srv', set: sizeSlot('clientBufferSize') },
    { name: 'imap_capabilities', contexts: CTX.MAIL_MAIN | CTX.MAIL_SRV, args: ARGS.ONEMORE, conf: 'srv', set: strArraySlot('capabilities') },
    {
      name: 'imap_auth',
      contexts: CTX.MAIL_MAIN | CTX.MAIL_SRV,
      args: ARGS.ONEMORE,
      conf: 'srv',
      set: bitmaskSlot('authMethods', { login: AUTH_ENABLED.LOGIN, plain: AUTH_ENABLED.PLAIN, 'cram-md5': AUTH_ENABLED.CRAM_MD5, external: AUTH_ENABLED.EXTERNAL }),
    },
  ],
  createSrvConf: () => ({ capability: '', starttlsCapability: '', starttlsOnlyCapability: '' }),
  mergeSrvConf(_cf, prev, conf) {
    conf.clientBufferSize ??= prev.clientBufferSize ?? 4096;
    conf.capabilities ??= prev.capabilities ?? ['IMAP4', 'IMAP4rev1', 'UIDPLUS'];
    conf.authMethods ??= prev.authMethods ?? AUTH_ENABLED.PLAIN;
    const caps = ['* CAPABILITY', ...conf.capabilities];
    const auth = AUTH_NAMES.filter(([bit]) => conf.authMethods! & bit).map(([, n]) => n);
    conf.capability = `${[...caps, ...auth].join(' ')}\r\n`;
    conf.starttlsCapability = `${[...caps, ...auth, 'STARTTLS'].join(' ')}\r\n`;
    conf.starttlsOnlyCapability = `${[...caps, 'STARTTLS', 'LOGINDISABLED'].join(' ')}\r\n`;
  },
});
mailImapModule.mailProtocol = imapProtocol;

function initProtocol(s: MailSession): void {
  enterAuthState(s, srvConf(s.server, mailImapModule).clientBufferSize!);
}

/** authState handles one parsed command (ngx_mail_imap_auth_state): replies are tagged unless continuing. */
function authState(s: MailSession, parsed: ParseResult): void {
  s.out = OK;
  let text = '';
  let tagged = true;
  const reply = (rc: Rc): string => (tagged || rc === RC.INVALID ? text + (s.tag || '* ') + s.out : s.out);
  if (parsed === PARSE.IMAP_NEXT) {
    tagged = false;
    s.out = NEXT;
    return finishCommand(s, RC.OK, INVALID_COMMAND, false, reply);
  }
  if (parsed !== PARSE.OK) return finishCommand(s, RC.INVALID, INVALID_COMMAND, false, reply);
  if (inSasl(s.mailState)) {
    tagged = s.mailState !== SASL.LOGIN_USERNAME;
    return finishCommand(s, saslContinue(s, PROMPTS), INVALID_COMMAND, false, reply);
  }
  let rc: Rc = RC.OK;
  switch (s.command) {
    case 'LOGIN':
      rc = login(s);
      break;
    case 'AUTHENTICATE':
      rc = authenticate(s);
      tagged = rc !== RC.OK;
      break;
    case 'CAPABILITY':
      text = capability(s);
      break;
    case 'LOGOUT':
      s.quit = true;
      text = BYE;
      break;
    case 'NOOP':
      break;
    case 'STARTTLS':
      rc = starttlsAllowed(s, srvConf(s.server, mailSslModule)) ? RC.OK : RC.INVALID;
      return finishCommand(s, rc, INVALID_COMMAND, true, reply);
    default:
      rc = RC.INVALID;
  }
  finishCommand(s, rc, INVALID_COMMAND, false, reply);
}

function capability(s: MailSession): string {
  return capabilityFor(s, srvConf(s.server, mailImapModule));
}

function login(s: MailSession): Rc {
  if (starttlsOnly(s, srvConf(s.server, mailSslModule))) return RC.INVALID;
  if (s.args.length !== 2 || s.args[0]!.length === 0) return RC.INVALID;
  s.login = s.args[0]!.toString('latin1');
  s.passwd = s.args[1]!.toString('latin1');
  s.authMethod = AUTH.PLAIN;
  return RC.DONE;
}

function authenticate(s: MailSession): Rc {
  if (starttlsOnly(s, srvConf(s.server, mailSslModule))) return RC.INVALID;
  return saslStart(s, srvConf(s.server, mailImapModule).authMethods!, PROMPTS);
}
