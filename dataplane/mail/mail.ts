/**
 * What every mail module shares (nginx's ngx_mail.h): the protocol descriptor each protocol module exports,
 * authentication methods, and the per-server runtime a session reads its settings from.
 */
import type tls from 'node:tls';
import type { ConfCtx } from '../core/conf.ts';
import type { ErrorLog } from '../core/log.ts';
import type { Runtime } from '../core/runtime.ts';
import type { Module } from '../core/module.ts';
import type { Registry } from '../core/registry.ts';
import type { MailSession } from './session.ts';
import type { MailStats } from './stats.ts';

/** Authentication methods a client used (s->auth_method); the index picks the Auth-Method header value. */
export const AUTH = {
  PLAIN: 0,
  LOGIN: 1,
  LOGIN_USERNAME: 2,
  APOP: 3,
  CRAM_MD5: 4,
  EXTERNAL: 5,
  NONE: 6,
} as const;

/** AUTH_METHOD_NAMES are the Auth-Method header values, by AUTH index (LOGIN is reported as plain). */
export const AUTH_METHOD_NAMES = ['plain', 'plain', 'plain', 'apop', 'cram-md5', 'external', 'none'] as const;

/** Bits of `smtp_auth` / `imap_auth` / `pop3_auth` (NGX_MAIL_AUTH_*_ENABLED). */
export const AUTH_ENABLED = {
  PLAIN: 0x0002,
  LOGIN: 0x0004,
  APOP: 0x0008,
  CRAM_MD5: 0x0010,
  EXTERNAL: 0x0020,
  NONE: 0x0040,
} as const;

/** Parser results (NGX_OK, NGX_AGAIN, NGX_MAIL_PARSE_INVALID_COMMAND, NGX_IMAP_NEXT). */
export const PARSE = { OK: 0, AGAIN: 1, INVALID: 2, IMAP_NEXT: 3 } as const;
export type ParseResult = (typeof PARSE)[keyof typeof PARSE];

/** Results of a verb handler: reply and go on, hand over to auth_http, or reply the protocol's error. */
export const RC = { OK: 0, DONE: 1, INVALID: 2, ERROR: 3 } as const;
export type Rc = (typeof RC)[keyof typeof RC];

/** MailProtocol is one protocol's descriptor (nginx's ngx_mail_protocol_t). */
export interface MailProtocol {
  name: 'smtp' | 'imap' | 'pop3';
  /** Ports that select this protocol when a server has no `protocol` directive. */
  ports: readonly number[];
  /** Sends the greeting and arms the first read. */
  initSession(s: MailSession): void;
  /** Called once the client's bytes may be read as commands (after the greeting, or after STARTTLS). */
  initProtocol(s: MailSession): void;
  /** Parses one command from s.buffer; fills s.command / s.args. */
  parseCommand(s: MailSession): ParseResult;
  /** Handles one parsed command (or the parser's verdict on it) and sends the reply. */
  authState(s: MailSession, parsed: ParseResult): void;
  /** The reply when the session fails on our side (auth server down, upstream refused …). */
  internalServerError: string;
  /** Replies when `ssl_verify_client on` finds no certificate, or a bad one. */
  noCert: string;
  certError: string;
  /** Reply for a failed login as the auth server words it: `-ERR x`, `tag NO x`, `535 5.7.0 x`. */
  authError(s: MailSession, text: string, code: string | undefined): string;
}

/** MailModule is a mail-type module; protocol modules carry their descriptor. */
export interface MailModule<M = any, S = any> extends Module<M, S> {
  mailProtocol?: MailProtocol;
  /** Called for each merged `server {}` so the module can prepare runtime objects (TLS context, trust lists). */
  initServer?(cf: ConfCtx, server: MailServer, conf: S): void;
}

/** defineMailModule is defineModule for mail modules, which may carry a protocol and an initServer hook. */
export function defineMailModule<M = undefined, S = undefined>(m: MailModule<M, S>): MailModule<M, S> {
  return m;
}

/**
 * MailServer is one `server {}` made ready to serve: its merged confs (by module index), the objects a session
 * needs without lookups, and the worker-side resources (error log) opened when the cycle starts serving.
 */
export interface MailServer {
  srv: unknown[];
  registry: Registry;
  protocol: MailProtocol;
  /** `server_name`, already defaulted to the host name. */
  serverName: string;
  timeout: number;
  maxErrors: number;
  /** Where `client … connected to …` and friends go; set when the cycle starts serving in a worker. */
  readonly log: ErrorLog | undefined;
  /** The server's own `error_log`, if it has one. */
  ownLog: ErrorLog | undefined;
  /** The worker's runtime, whose log is used when the server has no `error_log` of its own. */
  runtime: Runtime | undefined;
  /** Implicit TLS / STARTTLS context, built at configuration time. */
  secureContext: tls.SecureContext | undefined;
  /** `ssl_verify_client`: 0 off, 1 on, 2 optional, 3 optional_no_ca. */
  verifyClient: number;
  stats: MailStats;
  /** sessionEnded is called once per closed session (the cycle's log stays open while sessions remain). */
  sessionEnded(): void;
  /** realIp tells whether a PROXY protocol header from this address is trusted (`set_real_ip_from`). */
  realIp(addr: string): boolean;
  /** Reverse DNS with a timeout, or undefined when `resolver off`. */
  resolver: { servers: string[]; timeout: number } | undefined;
}

/** MailListen is one `listen` of a mail server (nginx's ngx_mail_listen_t). */
export interface MailListen {
  host: string;
  port: number;
  /** Text for logs ("127.0.0.1:25"). */
  addrText: string;
  ssl: boolean;
  proxyProtocol: boolean;
  backlog: number;
  bind: boolean;
  ipv6only: boolean;
  server: MailServer;
}

/** srvConf reads a module's merged conf of a server (sessions call it once and keep the result). */
export function srvConf<S>(server: MailServer, m: Module<any, S>): S {
  return server.srv[server.registry.index(m)] as S;
}
