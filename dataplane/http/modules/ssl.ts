/**
 * ngx_http_ssl_module: certificates per server (several, e.g. RSA and ECDSA; a path or `data:<PEM>`),
 * protocols and ciphers, session resumption, client certificate verification (495/496), and the $ssl_*
 * variables. The handshake itself is in ../ssl-connection.ts; this module builds each server's
 * tls.SecureContext at configuration time so a bad certificate is an `[emerg]`, never a failed handshake.
 */
import crypto from 'node:crypto';
import type { EventEmitter } from 'node:events';
import tls from 'node:tls';
import type { ConfCtx } from '../../core/conf.ts';
import { ARGS, CTX } from '../../core/module.ts';
import { flagSlot, numSlot, secSlot, strSlot } from '../../core/slots.ts';
import type { ConfDirective } from '../../core/tree.ts';
import { parseProtocols, readPem, resolvePemSource } from '../../tls/certs.ts';
import { LocalSessionStore, SharedSessionStore, sessionEvents, type SessionStore } from '../../tls/session-cache.ts';
import { parseSize } from '../../core/values.ts';
import type { CoreMainConf, CoreSrvConf } from '../core-conf.ts';
import { httpCoreModule } from '../core-module.ts';
import { addrKey, type ListenOpt } from '../listen.ts';
import type { HttpRequest } from '../request.ts';
import { DECLINED, PHASE, defineHttpModule, type VariableDef } from '../types.ts';

/** VerifyClient is `ssl_verify_client`'s value. */
export type VerifyClient = 'off' | 'on' | 'optional' | 'optional_no_ca';

export interface SslSrvConf {
  certificates?: string[];
  certificateKeys?: string[];
  protocols?: tls.SecureVersion[];
  ciphers?: string;
  preferServerCiphers?: boolean;
  /** `ssl_session_cache` as written: off, none, builtin[:size], shared:name:size. */
  sessionCache?: string[];
  /** The session-ID cache hooks handed to each TLSSocket (undefined: no cache). */
  sessions?: EventEmitter;
  sessionTimeout?: number;
  sessionTickets?: boolean;
  dhparam?: string;
  ecdhCurve?: string;
  stapling?: boolean;
  clientCertificate?: string;
  trustedCertificate?: string;
  verifyClient?: VerifyClient;
  verifyDepth?: number;
  /** `ssl_reject_handshake on`: refuse handshakes that select this server (unknown names on a default server). */
  rejectHandshake?: boolean;
  /** The server's context, built in merge when it has certificates. */
  context?: tls.SecureContext;
  file?: string;
  line?: number;
}

const SRV = CTX.HTTP_MAIN | CTX.HTTP_SRV;
const VERSIONS: tls.SecureVersion[] = ['TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3'];
/** Session ticket keys live in a zone so every worker (and the next cycle) encrypts tickets the same way. */
const TICKET_ZONE = 'portico:ssl_session_ticket_keys';
/** Contexts built in this configuration pass, by their settings, so servers sharing a certificate share one. */
const CONTEXTS_KEY = { name: 'http_ssl_contexts', type: 'http' } as const;

function pemListSlot(field: 'certificates' | 'certificateKeys') {
  return (cf: ConfCtx, d: ConfDirective, conf: SslSrvConf): string | void => {
    (conf[field] ??= []).push(resolvePemSource(cf, d.args[0]!));
    if (field === 'certificates' && conf.file === undefined) {
      conf.file = d.file;
      conf.line = d.line;
    }
  };
}

function pemSlot(field: 'clientCertificate' | 'trustedCertificate' | 'dhparam') {
  return (cf: ConfCtx, d: ConfDirective, conf: SslSrvConf): string | void => {
    if (conf[field] !== undefined) return 'is duplicate';
    conf[field] = resolvePemSource(cf, d.args[0]!);
  };
}

function protocolsSlot(cf: ConfCtx, d: ConfDirective, conf: SslSrvConf): string | void {
  if (conf.protocols !== undefined) return 'is duplicate';
  const words = d.args.filter((a) => !/^sslv[23]$/i.test(a));
  const p = parseProtocols(words);
  if (typeof p === 'string') cf.error(`invalid value "${p}"`);
  conf.protocols = p;
}

function sessionCacheSlot(cf: ConfCtx, d: ConfDirective, conf: SslSrvConf): string | void {
  if (conf.sessionCache !== undefined) return 'is duplicate';
  for (const a of d.args) {
    if ((a === 'off' || a === 'none') && d.args.length === 1) continue;
    if (a === 'builtin' || /^builtin:\d+$/.test(a)) continue;
    if (/^shared:[^:]+:\d+[kKmM]?$/.test(a)) continue;
    cf.error(`invalid session cache "${a}"`);
  }
  conf.sessionCache = d.args;
}

function verifyClientSlot(cf: ConfCtx, d: ConfDirective, conf: SslSrvConf): string | void {
  if (conf.verifyClient !== undefined) return 'is duplicate';
  const v = d.args[0]!;
  if (v !== 'off' && v !== 'on' && v !== 'optional' && v !== 'optional_no_ca') {
    cf.error(`invalid value "${v}" in "ssl_verify_client" directive, it must be "on", "off", "optional" or "optional_no_ca"`);
  }
  conf.verifyClient = v;
}

function staplingSlot(cf: ConfCtx, d: ConfDirective, conf: SslSrvConf): string | void {
  const rv = flagSlot('stapling')(cf, d, conf);
  if (rv) return rv;
  if (conf.stapling) cf.warn('"ssl_stapling" ignored, not supported');
}

/** ticketKeys returns the 48 ticket key bytes shared by all workers, creating them on first use. */
function ticketKeys(cf: ConfCtx): Buffer {
  const zone = new Uint8Array(cf.zones.get(TICKET_ZONE, 48, 'ssl'));
  if (zone.every((b) => b === 0)) crypto.randomFillSync(zone);
  return Buffer.from(zone);
}

/** buildContext turns a server's settings into a SecureContext; errors use nginx's wording. */
function buildContext(cf: ConfCtx, c: SslSrvConf): tls.SecureContext {
  const certs = c.certificates!;
  const keys = c.certificateKeys ?? [];
  const where = { name: 'ssl_certificate', args: [], file: c.file, line: c.line };
  const shown = (s: string) => (s.startsWith('data:') ? 'data:...' : s);
  if (keys.length < certs.length) cf.error(`no "ssl_certificate_key" is defined for certificate "${shown(certs[keys.length]!)}"`, where);
  const cache = (cf.scratch.get(CONTEXTS_KEY) as Map<string, tls.SecureContext> | undefined) ?? new Map();
  cf.scratch.set(CONTEXTS_KEY, cache);
  const key = JSON.stringify([certs, keys, c.protocols, c.ciphers, c.preferServerCiphers, c.sessionTimeout, c.sessionTickets, c.dhparam, c.ecdhCurve, c.clientCertificate, c.trustedCertificate, c.verifyClient]);
  const cached = cache.get(key);
  if (cached) return cached;
  const load = (src: string, what: string) => {
    try {
      return readPem(src);
    } catch (err) {
      cf.error((err as Error).message.replace('cannot load certificate', `cannot load ${what}`), where);
    }
  };
  const opts: tls.SecureContextOptions = {
    cert: certs.map((s) => load(s, 'certificate')),
    key: keys.map((s) => load(s, 'certificate key')),
    ciphers: c.ciphers,
    honorCipherOrder: c.preferServerCiphers,
    sessionTimeout: Math.floor(c.sessionTimeout! / 1000),
    sessionIdContext: crypto.createHash('sha1').update(key).digest('hex').slice(0, 32),
  };
  const idx = c.protocols!.map((p) => VERSIONS.indexOf(p)).filter((i) => i >= 0);
  if (idx.length) {
    opts.minVersion = VERSIONS[Math.min(...idx)];
    opts.maxVersion = VERSIONS[Math.max(...idx)];
  }
  if (c.sessionTickets) opts.ticketKeys = ticketKeys(cf);
  else opts.secureOptions = crypto.constants.SSL_OP_NO_TICKET;
  if (c.dhparam) opts.dhparam = load(c.dhparam, 'dhparam');
  if (c.ecdhCurve && c.ecdhCurve !== 'auto') opts.ecdhCurve = c.ecdhCurve;
  const ca: string[] = [];
  if (c.clientCertificate) ca.push(load(c.clientCertificate, 'client certificate'));
  if (c.trustedCertificate) ca.push(load(c.trustedCertificate, 'trusted certificate'));
  if (ca.length) opts.ca = ca;
  let ctx: tls.SecureContext;
  try {
    ctx = tls.createSecureContext(opts);
  } catch (err) {
    cf.error(`cannot load certificate "${certs.map(shown).join('", "')}": ${(err as Error).message}`, where);
  }
  cache.set(key, ctx);
  return ctx;
}

function mergeSrv(cf: ConfCtx, p: SslSrvConf, c: SslSrvConf): void {
  if (c.certificates === undefined) {
    c.certificates = p.certificates;
    c.file = p.file;
    c.line = p.line;
  }
  c.certificateKeys ??= p.certificateKeys;
  c.protocols ??= p.protocols ?? ['TLSv1.2', 'TLSv1.3'];
  c.ciphers ??= p.ciphers ?? 'HIGH:!aNULL:!MD5';
  c.preferServerCiphers ??= p.preferServerCiphers ?? false;
  c.sessionCache ??= p.sessionCache ?? ['none'];
  c.sessionTimeout ??= p.sessionTimeout ?? 300_000;
  c.sessionTickets ??= p.sessionTickets ?? true;
  c.dhparam ??= p.dhparam;
  c.ecdhCurve ??= p.ecdhCurve ?? 'auto';
  c.stapling ??= p.stapling ?? false;
  c.clientCertificate ??= p.clientCertificate;
  c.trustedCertificate ??= p.trustedCertificate;
  c.verifyClient ??= p.verifyClient ?? 'off';
  c.verifyDepth ??= p.verifyDepth ?? 1;
  c.rejectHandshake ??= p.rejectHandshake ?? false;
  if (c.verifyClient !== 'off' && c.verifyClient !== 'optional_no_ca' && !c.clientCertificate && !c.trustedCertificate && c.certificates) {
    cf.error('no ssl_client_certificate or ssl_trusted_certificate for ssl_verify_client', { name: 'ssl_verify_client', args: [], file: c.file, line: c.line });
  }
  if (c.certificates?.length) {
    c.context = buildContext(cf, c);
    c.sessions = sessionStores(cf, c);
  }
}

/** sessionStores turns `ssl_session_cache` into the stores behind session-ID resumption. */
function sessionStores(cf: ConfCtx, c: SslSrvConf): EventEmitter | undefined {
  const stores: SessionStore[] = [];
  for (const a of c.sessionCache!) {
    if (a.startsWith('builtin')) stores.push(new LocalSessionStore(a.includes(':') ? Number(a.slice(8)) : 20480, c.sessionTimeout!));
    else if (a.startsWith('shared:')) {
      const [, name, sizeText] = a.split(':') as [string, string, string];
      const size = parseSize(sizeText)!;
      if (SharedSessionStore.slotsFor(size) === 0) cf.error(`session cache "${a}" is too small`, { name: 'ssl_session_cache', args: [], file: c.file, line: c.line });
      stores.push(new SharedSessionStore(cf.zones.get(name, size, 'ssl_session_cache'), c.sessionTimeout!));
    }
  }
  return stores.length ? sessionEvents(stores) : undefined;
}

/** The default server of each `listen … ssl` address must have a certificate (ngx_http_ssl_init). */
function checkListens(cf: ConfCtx): void {
  const cmcf = cf.level.main[cf.index(httpCoreModule)] as CoreMainConf;
  const idx = cf.index(httpSslModule);
  const defaults = new Map<string, { srv: CoreSrvConf; l: ListenOpt & { file?: string; line?: number }; explicit: boolean }>();
  for (const srv of cmcf.servers) {
    for (const l of srv.listens as (ListenOpt & { file?: string; line?: number })[]) {
      const key = addrKey(l.host, l.port, l.unixPath);
      const cur = defaults.get(key);
      if (!cur || (l.defaultServer && !cur.explicit)) defaults.set(key, { srv, l, explicit: l.defaultServer });
      else if (l.ssl && !cur.l.ssl) cur.l = { ...cur.l, ssl: true, file: l.file, line: l.line };
    }
  }
  for (const { srv, l } of defaults.values()) {
    if (!l.ssl) continue;
    const sc = srv.level.srv[idx] as SslSrvConf;
    if (!sc.context && !sc.rejectHandshake) {
      cf.error(`no "ssl_certificate" is defined for the "listen ... ssl" directive in ${l.file}:${l.line}`, { name: 'listen', args: [], file: l.file, line: l.line });
    }
  }
}

// ---- variables ----

/** sslConf returns a server's SSL conf at run time. */
export function sslConf(r: HttpRequest, idx: number): SslSrvConf {
  return r.srv.level.srv[idx] as SslSrvConf;
}

const OPTIONAL_NO_CA = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
]);

type TlsHandle = { verifyError?: () => Error | null };

/** verifyResult is `$ssl_client_verify`: NONE, SUCCESS or FAILED:reason (OpenSSL's text). */
export function verifyResult(sock: tls.TLSSocket, depth: number): { value: string; code?: string } {
  const cert = sock.getPeerCertificate(true);
  if (!cert || Object.keys(cert).length === 0) return { value: 'NONE' };
  // Sockets made outside tls.Server never get `authorized` set; the handle's verify result is the truth.
  const handle = (sock as unknown as { _handle?: TlsHandle })._handle;
  const err = handle?.verifyError ? handle.verifyError() : sock.authorized ? null : new Error(String(sock.authorizationError));
  if (err) {
    const code = String((err as NodeJS.ErrnoException).code ?? err.message);
    // Node appends advice to some OpenSSL texts ("…; if the root CA is installed locally, …"): keep OpenSSL's.
    return { value: `FAILED:${err.message.replace(/; if the root CA .*$/, '')}`, code };
  }
  let n = 0;
  for (let c: tls.DetailedPeerCertificate | undefined = cert; c && n < 100; n++) {
    if (c.issuerCertificate === c || !c.issuerCertificate) break;
    c = c.issuerCertificate;
  }
  if (n > depth) return { value: 'FAILED:certificate chain too long', code: 'CERT_CHAIN_TOO_LONG' };
  return { value: 'SUCCESS' };
}

/** rfc2253 prints a Node X509 name ("C=US\nO=x\nCN=y") as nginx's $ssl_client_s_dn does ("CN=y,O=x,C=US"). */
export function rfc2253(name: string): string {
  return name
    .split('\n')
    .filter(Boolean)
    .reverse()
    .map((rdn) => {
      const eq = rdn.indexOf('=');
      const v = rdn.slice(eq + 1).replace(/([,+"\\<>;])/g, '\\$1').replace(/^([ #])/, '\\$1').replace(/ $/, '\\ ');
      return rdn.slice(0, eq + 1) + v;
    })
    .join(',');
}

function peer(r: HttpRequest): crypto.X509Certificate | undefined {
  return r.conn.tls?.getPeerX509Certificate();
}

const sv = (name: string, get: (r: HttpRequest, s: tls.TLSSocket) => string | undefined): VariableDef => ({
  name,
  get: (r) => (r.conn.tls ? get(r, r.conn.tls) : undefined),
});

const SSL_VARIABLES: VariableDef[] = [
  sv('ssl_protocol', (_r, s) => s.getProtocol() ?? undefined),
  sv('ssl_cipher', (_r, s) => s.getCipher()?.name),
  sv('ssl_server_name', (_r, s) => (typeof s.servername === 'string' ? s.servername : undefined)),
  sv('ssl_alpn_protocol', (_r, s) => (typeof s.alpnProtocol === 'string' ? s.alpnProtocol : '')),
  sv('ssl_session_reused', (_r, s) => (s.isSessionReused() ? 'r' : '.')),
  sv('ssl_client_verify', (r, s) => verifyResult(s, sslConf(r, r.http.cycle.registry.index(httpSslModule)).verifyDepth ?? 1).value),
  sv('ssl_client_s_dn', (r) => {
    const c = peer(r);
    return c ? rfc2253(c.subject) : undefined;
  }),
  sv('ssl_client_i_dn', (r) => {
    const c = peer(r);
    return c ? rfc2253(c.issuer) : undefined;
  }),
  sv('ssl_client_serial', (r) => peer(r)?.serialNumber.toUpperCase()),
  sv('ssl_client_fingerprint', (r) => peer(r)?.fingerprint.replaceAll(':', '').toLowerCase()),
  sv('ssl_client_raw_cert', (r) => peer(r)?.toString()),
  sv('ssl_client_cert', (r) => peer(r)?.toString().replace(/\n$/, '').replaceAll('\n', '\n\t') + '\n'),
  sv('ssl_client_v_start', (r) => peer(r)?.validFrom),
  sv('ssl_client_v_end', (r) => peer(r)?.validTo),
];

/** The client certificate check of ngx_http_process_request: 495 for a bad certificate, 496 for none. */
function verifyHandler(cf: ConfCtx) {
  const idx = cf.index(httpSslModule);
  return (r: HttpRequest): number => {
    const sock = r.conn.tls;
    if (sock === undefined || r !== r.main) return DECLINED;
    const sc = sslConf(r, idx);
    const mode = sc.verifyClient;
    if (mode === 'off' || mode === undefined) return DECLINED;
    const res = verifyResult(sock, sc.verifyDepth!);
    if (res.value === 'NONE') {
      if (mode !== 'on') return DECLINED;
      r.http.cycle.log?.log('info', `*${r.conn.id} client sent no required SSL certificate while reading client request headers, client: ${r.conn.remoteAddress}`);
      return 496;
    }
    if (res.code !== undefined && !(mode === 'optional_no_ca' && OPTIONAL_NO_CA.has(res.code))) {
      r.http.cycle.log?.log('info', `*${r.conn.id} client SSL certificate verify error: (${res.code}:${res.value.slice(7)}) while reading client request headers, client: ${r.conn.remoteAddress}`);
      return 495;
    }
    return DECLINED;
  };
}

export const httpSslModule = defineHttpModule<undefined, SslSrvConf, undefined>({
  name: 'ngx_http_ssl_module',
  type: 'http',
  configureArg: '--with-http_ssl_module',
  directives: [
    { name: 'ssl_certificate', contexts: SRV, args: ARGS.TAKE1, conf: 'srv', set: pemListSlot('certificates') },
    { name: 'ssl_certificate_key', contexts: SRV, args: ARGS.TAKE1, conf: 'srv', set: pemListSlot('certificateKeys') },
    { name: 'ssl_protocols', contexts: SRV, args: ARGS.ONEMORE, conf: 'srv', set: protocolsSlot },
    { name: 'ssl_ciphers', contexts: SRV, args: ARGS.TAKE1, conf: 'srv', set: strSlot('ciphers') },
    { name: 'ssl_prefer_server_ciphers', contexts: SRV, args: ARGS.FLAG, conf: 'srv', set: flagSlot('preferServerCiphers') },
    { name: 'ssl_session_cache', contexts: SRV, args: ARGS.TAKE12, conf: 'srv', set: sessionCacheSlot },
    { name: 'ssl_session_timeout', contexts: SRV, args: ARGS.TAKE1, conf: 'srv', set: secSlot('sessionTimeout') },
    { name: 'ssl_session_tickets', contexts: SRV, args: ARGS.FLAG, conf: 'srv', set: flagSlot('sessionTickets') },
    { name: 'ssl_dhparam', contexts: SRV, args: ARGS.TAKE1, conf: 'srv', set: pemSlot('dhparam') },
    { name: 'ssl_ecdh_curve', contexts: SRV, args: ARGS.TAKE1, conf: 'srv', set: strSlot('ecdhCurve') },
    { name: 'ssl_stapling', contexts: SRV, args: ARGS.FLAG, conf: 'srv', set: staplingSlot },
    { name: 'ssl_stapling_verify', contexts: SRV, args: ARGS.FLAG, conf: 'srv', set: () => {} },
    { name: 'ssl_client_certificate', contexts: SRV, args: ARGS.TAKE1, conf: 'srv', set: pemSlot('clientCertificate') },
    { name: 'ssl_trusted_certificate', contexts: SRV, args: ARGS.TAKE1, conf: 'srv', set: pemSlot('trustedCertificate') },
    { name: 'ssl_verify_client', contexts: SRV, args: ARGS.TAKE1, conf: 'srv', set: verifyClientSlot },
    { name: 'ssl_verify_depth', contexts: SRV, args: ARGS.TAKE1, conf: 'srv', set: numSlot('verifyDepth') },
    { name: 'ssl_reject_handshake', contexts: SRV, args: ARGS.FLAG, conf: 'srv', set: flagSlot('rejectHandshake') },
  ],
  variables: SSL_VARIABLES,
  createSrvConf: () => ({}),
  mergeSrvConf: mergeSrv,
  postconfiguration: checkListens,
  phases: [{ phase: PHASE.POST_READ, handler: verifyHandler }],
});
