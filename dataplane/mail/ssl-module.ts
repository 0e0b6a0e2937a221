/**
 * ngx_mail_ssl_module: `starttls on|off|only`, `ssl_certificate`, `ssl_certificate_key` (paths or `data:`),
 * `ssl_protocols`, `ssl_ciphers`, `ssl_prefer_server_ciphers`, `ssl_verify_client`, `ssl_client_certificate`,
 * and the session cache directives (accepted; Node keeps its own ticket keys). `listen … ssl` is read by the
 * core module; this module requires a certificate for it and builds the server's secure context.
 */
import tls from 'node:tls';
import { ConfError } from '../core/errors.ts';
import { ARGS, CTX } from '../core/module.ts';
import { enumSlot, flagSlot, strSlot } from '../core/slots.ts';
import { createContext, parseProtocols, resolvePemSource } from '../tls/certs.ts';
import { mailCoreModule, type MailCoreSrvConf } from './core-module.ts';
import { defineMailModule, srvConf } from './mail.ts';
import type { MailSession } from './session.ts';

/** STARTTLS modes (NGX_MAIL_STARTTLS_*). */
export const STARTTLS = { OFF: 0, ON: 1, ONLY: 2 } as const;

export interface MailSslConf {
  starttls?: number;
  certificates?: string[];
  certificateKeys?: string[];
  protocols?: tls.SecureVersion[];
  ciphers?: string;
  preferServerCiphers?: boolean;
  verifyClient?: number;
  clientCertificate?: string;
  file?: string;
  line?: number;
}

const DEFAULT_PROTOCOLS: tls.SecureVersion[] = ['TLSv1.2', 'TLSv1.3'];

export const mailSslModule = defineMailModule<undefined, MailSslConf>({
  name: 'ngx_mail_ssl_module',
  type: 'mail',
  configureArg: '--with-mail_ssl_module',
  directives: [
    { name: 'starttls', contexts: CTX.MAIL_MAIN | CTX.MAIL_SRV, args: ARGS.TAKE1, conf: 'srv', set: enumSlot('starttls', { off: STARTTLS.OFF, on: STARTTLS.ON, only: STARTTLS.ONLY }) },
    { name: 'ssl_certificate', contexts: CTX.MAIL_MAIN | CTX.MAIL_SRV, args: ARGS.TAKE1, conf: 'srv', set: (cf, d, c: MailSslConf) => void (c.certificates ??= []).push(resolvePemSource(cf, d.args[0]!)) },
    { name: 'ssl_certificate_key', contexts: CTX.MAIL_MAIN | CTX.MAIL_SRV, args: ARGS.TAKE1, conf: 'srv', set: (cf, d, c: MailSslConf) => void (c.certificateKeys ??= []).push(resolvePemSource(cf, d.args[0]!)) },
    {
      name: 'ssl_protocols',
      contexts: CTX.MAIL_MAIN | CTX.MAIL_SRV,
      args: ARGS.ONEMORE,
      conf: 'srv',
      set(cf, d, c: MailSslConf) {
        if (c.protocols) return 'is duplicate';
        const p = parseProtocols(d.args);
        if (typeof p === 'string') return cf.error(`invalid value "${p}"`);
        c.protocols = p;
      },
    },
    { name: 'ssl_ciphers', contexts: CTX.MAIL_MAIN | CTX.MAIL_SRV, args: ARGS.TAKE1, conf: 'srv', set: strSlot('ciphers') },
    { name: 'ssl_prefer_server_ciphers', contexts: CTX.MAIL_MAIN | CTX.MAIL_SRV, args: ARGS.FLAG, conf: 'srv', set: flagSlot('preferServerCiphers') },
    { name: 'ssl_verify_client', contexts: CTX.MAIL_MAIN | CTX.MAIL_SRV, args: ARGS.TAKE1, conf: 'srv', set: enumSlot('verifyClient', { off: 0, on: 1, optional: 2, optional_no_ca: 3 }) },
    { name: 'ssl_client_certificate', contexts: CTX.MAIL_MAIN | CTX.MAIL_SRV, args: ARGS.TAKE1, conf: 'srv', set: (cf, d, c: MailSslConf) => void (c.clientCertificate = resolvePemSource(cf, d.args[0]!)) },
    { name: 'ssl_session_cache', contexts: CTX.MAIL_MAIN | CTX.MAIL_SRV, args: ARGS.TAKE12, conf: 'srv', set: () => {} },
    { name: 'ssl_session_timeout', contexts: CTX.MAIL_MAIN | CTX.MAIL_SRV, args: ARGS.TAKE1, conf: 'srv', set: () => {} },
    { name: 'ssl_session_tickets', contexts: CTX.MAIL_MAIN | CTX.MAIL_SRV, args: ARGS.FLAG, conf: 'srv', set: () => {} },
  ],
  createSrvConf: (cf) => ({ file: cf.directive?.file, line: cf.directive?.line }),
  mergeSrvConf(cf, prev, conf) {
    conf.starttls ??= prev.starttls ?? STARTTLS.OFF;
    if (!conf.certificates) {
      conf.certificates = prev.certificates;
      conf.certificateKeys = prev.certificateKeys;
    }
    conf.protocols ??= prev.protocols ?? DEFAULT_PROTOCOLS;
    conf.ciphers ??= prev.ciphers ?? 'HIGH:!aNULL:!MD5';
    conf.preferServerCiphers ??= prev.preferServerCiphers ?? false;
    conf.verifyClient ??= prev.verifyClient ?? 0;
    conf.clientCertificate ??= prev.clientCertificate;
    const cscf = cf.level.srv![cf.index(mailCoreModule)] as MailCoreSrvConf;
    const listenSsl = cscf.listens.some((l) => l.ssl);
    if (!listenSsl && conf.starttls === STARTTLS.OFF) return;
    const where = `${cscf.file}:${cscf.line}`;
    if (!conf.certificates?.length) {
      throw new ConfError(listenSsl ? `no "ssl_certificate" is defined for server in ${where}` : `no "ssl_certificate" is defined for the "starttls" directive in ${where}`);
    }
    if ((conf.certificateKeys?.length ?? 0) < conf.certificates.length) {
      throw new ConfError(`no "ssl_certificate_key" is defined for certificate "${conf.certificates.at(-1)}"`);
    }
    if (conf.verifyClient === 1 || conf.verifyClient === 2) {
      if (!conf.clientCertificate) throw new ConfError(`no ssl_client_certificate for ssl_verify_client`);
    }
  },
  initServer(cf, server, conf) {
    if (!conf.certificates?.length) return;
    try {
      const ctx = createContext({
        certificates: conf.certificates.map((cert, i) => ({ cert, key: conf.certificateKeys![i]! })),
        protocols: conf.protocols!,
        ciphers: conf.ciphers,
        preferServerCiphers: conf.preferServerCiphers,
        clientCa: conf.clientCertificate,
      });
      server.secureContext = ctx;
    } catch (err) {
      cf.error((err as Error).message);
    }
    server.verifyClient = conf.verifyClient!;
  },
});

/** starttlsOnly tells whether this session must say STARTTLS before it may log in. */
export function starttlsOnly(s: MailSession, conf: MailSslConf): boolean {
  return !s.ssl && conf.starttls === STARTTLS.ONLY;
}

/** starttlsAllowed tells whether STARTTLS / STLS may be used now. */
export function starttlsAllowed(s: MailSession, conf: MailSslConf): boolean {
  return !s.ssl && conf.starttls !== STARTTLS.OFF;
}

/** Capabilities is a protocol's three canned capability replies. */
export interface Capabilities {
  capability: string;
  starttlsCapability: string;
  starttlsOnlyCapability: string;
}

/** capabilityFor picks the reply for this session: STARTTLS (and LOGINDISABLED) only before TLS. */
export function capabilityFor(s: MailSession, caps: Capabilities): string {
  if (s.ssl) return caps.capability;
  const starttls = srvConf(s.server, mailSslModule).starttls;
  return starttls === STARTTLS.ON ? caps.starttlsCapability : starttls === STARTTLS.ONLY ? caps.starttlsOnlyCapability : caps.capability;
}
