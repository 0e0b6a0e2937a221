/**
 * SASL pieces shared by the three protocols (the auth helpers of ngx_mail_handler.c): the AUTH argument
 * parser, PLAIN, LOGIN, CRAM-MD5 and EXTERNAL decoding, and the APOP / CRAM-MD5 challenge ("salt").
 * Logins and passwords are byte strings (latin1), so whatever the client sent reaches the auth server and the
 * upstream unchanged.
 */
import crypto from 'node:crypto';
import { AUTH, AUTH_ENABLED, RC, type Rc } from './mail.ts';
import type { MailSession } from './session.ts';

/** SASL exchange states, the same numbers in every protocol (0 is the protocol's command state). */
export const SASL = { LOGIN_USERNAME: 1, LOGIN_PASSWORD: 2, PLAIN: 3, CRAM_MD5: 4, EXTERNAL: 5 } as const;

/** SaslPrompts are one protocol's continuation lines (`334 …` for SMTP, `+ …` for IMAP and POP3). */
export interface SaslPrompts {
  username: string;
  password: string;
  plain: string;
  external: string;
  challengePrefix: string;
}

/** inSasl tells whether the next line is a SASL response rather than a command. */
export function inSasl(state: number): boolean {
  return state >= SASL.LOGIN_USERNAME && state <= SASL.EXTERNAL;
}

/**
 * saslStart acts on the mechanism of AUTH / AUTHENTICATE: asks for the next line or finishes at once.
 * PLAIN and LOGIN are always accepted (nginx cannot disable them); CRAM-MD5 and EXTERNAL only when enabled.
 */
export function saslStart(s: MailSession, methods: number, p: SaslPrompts): Rc {
  const step = authParse(s);
  switch (step) {
    case 'login':
      return ask(s, p.username, SASL.LOGIN_USERNAME);
    case 'login-username':
      ask(s, p.password, SASL.LOGIN_PASSWORD);
      return authLoginUsername(s, 1);
    case 'plain':
      return ask(s, p.plain, SASL.PLAIN);
    case 'cram-md5':
      if (!(methods & AUTH_ENABLED.CRAM_MD5)) return RC.INVALID;
      return ask(s, cramMd5Challenge(s, p.challengePrefix), SASL.CRAM_MD5);
    case 'external':
      if (!(methods & AUTH_ENABLED.EXTERNAL)) return RC.INVALID;
      return ask(s, p.external, SASL.EXTERNAL);
  }
  if (step === RC.DONE && s.authMethod === AUTH.EXTERNAL && !(methods & AUTH_ENABLED.EXTERNAL)) return RC.INVALID;
  return step;
}

function ask(s: MailSession, prompt: string, state: number): Rc {
  s.out = prompt;
  s.mailState = state;
  return RC.OK;
}

/** saslContinue takes one SASL response line in the state the exchange is in. */
export function saslContinue(s: MailSession, p: SaslPrompts): Rc {
  switch (s.mailState) {
    case SASL.LOGIN_USERNAME:
      ask(s, p.password, SASL.LOGIN_PASSWORD);
      return authLoginUsername(s, 0);
    case SASL.LOGIN_PASSWORD:
      return authLoginPassword(s);
    case SASL.PLAIN:
      return authPlain(s, 0);
    case SASL.CRAM_MD5:
      return authCramMd5(s);
  }
  return authExternal(s, 0);
}

/** What the AUTH mechanism argument asks for next (nginx's NGX_MAIL_AUTH_* from ngx_mail_auth_parse). */
export type AuthStep = 'login' | 'login-username' | 'plain' | 'cram-md5' | 'external' | Rc;

const B64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** decodeBase64 is strict, as ngx_decode_base64: bad characters or a dangling sixth of a byte fail. */
export function decodeBase64(text: Buffer): string | undefined {
  const s = text.toString('latin1');
  if (!B64.test(s) || s.length % 4 === 1) return undefined;
  return Buffer.from(s, 'base64').toString('latin1');
}

/** authParse reads `AUTH mech [initial-response]`; PLAIN and EXTERNAL with a response finish right here. */
export function authParse(s: MailSession): AuthStep {
  const mech = s.args[0]?.toString('latin1').toUpperCase();
  const n = s.args.length;
  switch (mech) {
    case 'LOGIN':
      if (n === 1) return 'login';
      if (n === 2) return 'login-username';
      return RC.INVALID;
    case 'PLAIN':
      if (n === 1) return 'plain';
      if (n === 2) return authPlain(s, 1);
      return RC.INVALID;
    case 'CRAM-MD5':
      return n === 1 ? 'cram-md5' : RC.INVALID;
    case 'EXTERNAL':
      if (n === 1) return 'external';
      if (n === 2) return authExternal(s, 1);
      return RC.INVALID;
  }
  return RC.INVALID;
}

/** authPlain decodes `[authzid] NUL authcid NUL passwd` (RFC 4616). */
export function authPlain(s: MailSession, n: number): Rc {
  const plain = decodeBase64(s.args[n]!);
  if (plain === undefined) return invalid(s, 'client sent invalid base64 encoding in AUTH PLAIN command');
  const a = plain.indexOf('\0');
  if (a < 0) return invalid(s, 'client sent invalid login in AUTH PLAIN command');
  const b = plain.indexOf('\0', a + 1);
  if (b < 0) return invalid(s, 'client sent invalid password in AUTH PLAIN command');
  s.login = plain.slice(a + 1, b);
  s.passwd = plain.slice(b + 1);
  s.authMethod = AUTH.PLAIN;
  return RC.DONE;
}

/** authLoginUsername takes the base64 user name of AUTH LOGIN. */
export function authLoginUsername(s: MailSession, n: number): Rc {
  const login = decodeBase64(s.args[n]!);
  if (login === undefined) return invalid(s, 'client sent invalid base64 encoding in AUTH LOGIN command');
  s.login = login;
  return RC.OK;
}

/** authLoginPassword takes the base64 password of AUTH LOGIN and completes it. */
export function authLoginPassword(s: MailSession): Rc {
  const passwd = decodeBase64(s.args[0]!);
  if (passwd === undefined) return invalid(s, 'client sent invalid base64 encoding in AUTH LOGIN command');
  s.passwd = passwd;
  s.authMethod = AUTH.LOGIN;
  return RC.DONE;
}

/** cramMd5Challenge is the continuation line carrying the base64 salt: `334 …` (SMTP) or `+ …`. */
export function cramMd5Challenge(s: MailSession, prefix: string): string {
  if (!s.salt) makeSalt(s);
  return `${prefix}${Buffer.from(s.salt, 'latin1').toString('base64')}\r\n`;
}

/** authCramMd5 reads `user SP hex-digest`; the digest must be 32 hex characters. */
export function authCramMd5(s: MailSession): Rc {
  const text = decodeBase64(s.args[0]!);
  if (text === undefined) return invalid(s, 'client sent invalid base64 encoding in AUTH CRAM-MD5 command');
  const sp = text.lastIndexOf(' ');
  const digest = sp < 0 ? '' : text.slice(sp + 1);
  if (digest.length !== 32) return invalid(s, 'client sent invalid CRAM-MD5 hash in AUTH CRAM-MD5 command');
  s.login = text.slice(0, sp);
  s.passwd = digest;
  s.authMethod = AUTH.CRAM_MD5;
  return RC.DONE;
}

/** authExternal takes the (possibly empty) authorization identity; the certificate vouches for the client. */
export function authExternal(s: MailSession, n: number): Rc {
  const login = decodeBase64(s.args[n]!);
  if (login === undefined) return invalid(s, 'client sent invalid base64 encoding in AUTH EXTERNAL command');
  s.login = login;
  s.passwd = undefined;
  s.authMethod = AUTH.EXTERNAL;
  return RC.DONE;
}

/** makeSalt sets the challenge `<random.time@server_name>` used by APOP and CRAM-MD5 (ngx_mail_salt). */
export function makeSalt(s: MailSession): string {
  s.salt = `<${crypto.randomInt(0, 2 ** 47)}.${Math.floor(Date.now() / 1000)}@${s.server.serverName}>`;
  return s.salt;
}

function invalid(s: MailSession, text: string): Rc {
  s.error('info', text);
  return RC.INVALID;
}
