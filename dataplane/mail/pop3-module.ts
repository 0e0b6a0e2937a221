/**
 * ngx_mail_pop3_module: the POP3 side before authentication (RFC 1939, 2449, 5034). USER/PASS, APOP against
 * the salt in the greeting, AUTH PLAIN / LOGIN / CRAM-MD5 / EXTERNAL, CAPA from `pop3_capabilities` with the
 * SASL line for `pop3_auth` and STLS as `starttls` says. nginx reads POP3 commands into a fixed 128-byte buffer.
 */
import { ARGS, CTX } from '../core/module.ts';
import { bitmaskSlot, strArraySlot } from '../core/slots.ts';
import { inSasl, makeSalt, saslContinue, saslStart, type SaslPrompts } from './auth.ts';
import { enterAuthState, finishCommand } from './handler.ts';
import { defineMailModule, AUTH, AUTH_ENABLED, PARSE, RC, srvConf, type MailProtocol, type ParseResult, type Rc } from './mail.ts';
import { parseAuthLine, parsePop3Command } from './parse.ts';
import type { MailSession } from './session.ts';
import { capabilityFor, mailSslModule, starttlsAllowed, starttlsOnly } from './ssl-module.ts';

export interface MailPop3Conf {
  capabilities?: string[];
  authMethods?: number;
  capability: string;
  starttlsCapability: string;
  starttlsOnlyCapability: string;
  /** The answer to a bare AUTH: the SASL mechanisms. */
  authCapability: string;
}

/** After USER, only PASS (and CAPA, NOOP, QUIT) may follow; 1…5 are the SASL states. */
const POP3_USER = 6;

/** nginx's POP3 command buffer is not configurable. */
const POP3_BUFFER = 128;
const GREETING = '+OK POP3 ready';
const OK = '+OK\r\n';
const NEXT = '+ \r\n';
const USERNAME = '+ VXNlcm5hbWU6\r\n';
const PASSWORD = '+ UGFzc3dvcmQ6\r\n';
const INVALID_COMMAND = '-ERR invalid command\r\n';
// nginx asks for the EXTERNAL identity with the "Username:" prompt in POP3.
const PROMPTS: SaslPrompts = { username: USERNAME, password: PASSWORD, plain: NEXT, external: USERNAME, challengePrefix: '+ ' };

const pop3Protocol: MailProtocol = {
  name: 'pop3',
  ports: [110, 995],
  initSession(s) {
    const methods = srvConf(s.server, mailPop3Module).authMethods!;
    // APOP and CRAM-MD5 need the challenge up front: it is part of the greeting (RFC 1939 §7).
    s.send(methods & (AUTH_ENABLED.APOP | AUTH_ENABLED.CRAM_MD5) ? `${GREETING} ${makeSalt(s)}\r\n` : `${GREETING}\r\n`);
    initProtocol(s);
  },
  initProtocol,
  parseCommand: (s) => (inSasl(s.mailState) ? parseAuthLine(s) : parsePop3Command(s)),
  authState,
  internalServerError: '-ERR internal server error\r\n',
  noCert: '-ERR No required SSL certificate\r\n',
  certError: '-ERR SSL certificate error\r\n',
  authError: (_s, text) => `-ERR ${text}\r\n`,
};

export const mailPop3Module = defineMailModule<undefined, MailPop3Conf>({
  name: 'ngx_mail_pop3_module',
  type: 'mail',
  directives: [
    { name: 'pop3_capabilities', contexts: CTX.MAIL_MAIN | CTX.MAIL_SRV, args: ARGS.ONEMORE, conf: 'srv', set: strArraySlot('capabilities') },
    {
      name: 'pop3_auth',
      contexts: CTX.MAIL_MAIN | CTX.MAIL_SRV,
      args: ARGS.ONEMORE,
      conf: 'srv',
      set: bitmaskSlot('authMethods', { plain: AUTH_ENABLED.PLAIN, apop: AUTH_ENABLED.APOP, 'cram-md5': AUTH_ENABLED.CRAM_MD5, external: AUTH_ENABLED.EXTERNAL }),
    },
  ],
  createSrvConf: () => ({ capability: '', starttlsCapability: '', starttlsOnlyCapability: '', authCapability: '' }),
  mergeSrvConf(_cf, prev, conf) {
    conf.capabilities ??= prev.capabilities ?? ['TOP', 'USER', 'UIDL'];
    conf.authMethods ??= prev.authMethods ?? AUTH_ENABLED.PLAIN;
    const m = conf.authMethods;
    const mechs = [...(m & AUTH_ENABLED.PLAIN ? ['LOGIN', 'PLAIN'] : []), ...(m & AUTH_ENABLED.CRAM_MD5 ? ['CRAM-MD5'] : []), ...(m & AUTH_ENABLED.EXTERNAL ? ['EXTERNAL'] : [])];
    const sasl = mechs.length ? [`SASL ${mechs.join(' ')}`] : [];
    const list = (lines: string[]): string => `+OK Capability list follows\r\n${lines.map((l) => `${l}\r\n`).join('')}.\r\n`;
    conf.capability = list([...conf.capabilities, ...sasl]);
    conf.starttlsCapability = list([...conf.capabilities, ...sasl, 'STLS']);
    // Before STLS a client may not log in with USER, so neither USER nor SASL is offered.
    conf.starttlsOnlyCapability = list([...conf.capabilities.filter((c) => c.toUpperCase() !== 'USER'), 'STLS']);
    conf.authCapability = `+OK methods supported:\r\n${mechs.map((x) => `${x}\r\n`).join('')}.\r\n`;
  },
});
mailPop3Module.mailProtocol = pop3Protocol;

function initProtocol(s: MailSession): void {
  enterAuthState(s, POP3_BUFFER);
}

/** authState handles one parsed command (ngx_mail_pop3_auth_state). */
function authState(s: MailSession, parsed: ParseResult): void {
  s.out = OK;
  if (parsed !== PARSE.OK) return finishCommand(s, RC.INVALID, INVALID_COMMAND, false);
  if (inSasl(s.mailState)) return finishCommand(s, saslContinue(s, PROMPTS), INVALID_COMMAND, false);
  const afterUser = s.mailState === POP3_USER;
  let rc: Rc = RC.OK;
  switch (s.command) {
    case 'USER':
      rc = afterUser ? RC.INVALID : user(s);
      break;
    case 'PASS':
      rc = afterUser ? pass(s) : RC.INVALID;
      break;
    case 'CAPA':
      s.out = capa(s, !afterUser);
      break;
    case 'APOP':
      rc = afterUser ? RC.INVALID : apop(s);
      break;
    case 'AUTH':
      rc = afterUser ? RC.INVALID : auth(s);
      break;
    case 'QUIT':
      s.quit = true;
      break;
    case 'NOOP':
      break;
    case 'STLS':
      if (afterUser) {
        rc = RC.INVALID;
        break;
      }
      rc = starttlsAllowed(s, srvConf(s.server, mailSslModule)) ? RC.OK : RC.INVALID;
      return finishCommand(s, rc, INVALID_COMMAND, true);
    default:
      rc = RC.INVALID;
  }
  finishCommand(s, rc, INVALID_COMMAND, false);
}

function capa(s: MailSession, stls: boolean): string {
  const pscf = srvConf(s.server, mailPop3Module);
  return stls ? capabilityFor(s, pscf) : pscf.capability;
}

function user(s: MailSession): Rc {
  if (starttlsOnly(s, srvConf(s.server, mailSslModule))) return RC.INVALID;
  if (s.args.length !== 1) return RC.INVALID;
  s.login = s.args[0]!.toString('latin1');
  s.mailState = POP3_USER;
  return RC.OK;
}

function pass(s: MailSession): Rc {
  if (s.args.length !== 1) return RC.INVALID;
  s.passwd = s.args[0]!.toString('latin1');
  s.authMethod = AUTH.PLAIN;
  return RC.DONE;
}

function apop(s: MailSession): Rc {
  if (starttlsOnly(s, srvConf(s.server, mailSslModule))) return RC.INVALID;
  if (s.args.length !== 2) return RC.INVALID;
  if (!(srvConf(s.server, mailPop3Module).authMethods! & AUTH_ENABLED.APOP)) return RC.INVALID;
  s.login = s.args[0]!.toString('latin1');
  s.passwd = s.args[1]!.toString('latin1');
  s.authMethod = AUTH.APOP;
  return RC.DONE;
}

function auth(s: MailSession): Rc {
  if (starttlsOnly(s, srvConf(s.server, mailSslModule))) return RC.INVALID;
  const pscf = srvConf(s.server, mailPop3Module);
  if (s.args.length === 0) {
    s.out = pscf.authCapability;
    return RC.OK;
  }
  return saslStart(s, pscf.authMethods!, PROMPTS);
}
