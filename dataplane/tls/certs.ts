/**
 * Protocol-agnostic certificate loading: PEM from a file path or from nginx's inline `data:<PEM>` form, and
 * `ssl_protocols` / `ssl_ciphers` turned into a tls.SecureContext. Mail uses it today; HTTP TLS can reuse it.
 */
import fs from 'node:fs';
import tls from 'node:tls';
import type { ConfCtx } from '../core/conf.ts';
import { errnoOf, strerror } from '../core/errors.ts';

/** TLS_PROTOCOLS maps nginx's `ssl_protocols` words to Node's version names, oldest first. */
export const TLS_PROTOCOLS: Record<string, tls.SecureVersion> = {
  tlsv1: 'TLSv1',
  'tlsv1.1': 'TLSv1.1',
  'tlsv1.2': 'TLSv1.2',
  'tlsv1.3': 'TLSv1.3',
};

const ORDER: tls.SecureVersion[] = ['TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3'];

/** CertSpec names one certificate/key pair as written in the configuration (a path or `data:`). */
export interface CertSpec {
  cert: string;
  key: string;
}

/** TlsSettings is what a `server {}` says about TLS, in nginx's directives. */
export interface TlsSettings {
  certificates: CertSpec[];
  /** Node version names from `ssl_protocols`; empty means Node's defaults. */
  protocols: tls.SecureVersion[];
  ciphers?: string;
  /** Whether the server's cipher order wins (`ssl_prefer_server_ciphers`). */
  preferServerCiphers?: boolean;
  /** Trusted CAs for client certificates (`ssl_client_certificate`), a path or `data:`. */
  clientCa?: string;
}

/** readPem returns PEM text from `data:<PEM>` or reads it from a path (resolved by the caller). */
export function readPem(source: string): string {
  if (source.startsWith('data:')) return source.slice(5);
  try {
    return fs.readFileSync(source, 'latin1');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new Error(`cannot load certificate "${source}": BIO_new_file() failed (${errnoOf(e)}: ${strerror(e)})`);
  }
}

/** resolvePemSource keeps `data:` as is and resolves a path against the prefix, as nginx's ngx_conf_full_name. */
export function resolvePemSource(cf: ConfCtx, source: string): string {
  return source.startsWith('data:') ? source : cf.fullPath(source, true);
}

/** parseProtocols reads `ssl_protocols` arguments; returns the unknown word when there is one. */
export function parseProtocols(args: string[]): tls.SecureVersion[] | string {
  const out: tls.SecureVersion[] = [];
  for (const a of args) {
    const v = TLS_PROTOCOLS[a.toLowerCase()];
    if (!v) return a;
    out.push(v);
  }
  return out;
}

/**
 * createContext builds the secure context; errors name the file as nginx does (`cannot load certificate`,
 * `cannot load certificate key`) so a bad path is reported at configuration time.
 */
export function createContext(s: TlsSettings): tls.SecureContext {
  const opts: tls.SecureContextOptions = {
    cert: s.certificates.map((c) => readPem(c.cert)),
    key: s.certificates.map((c) => {
      try {
        return readPem(c.key);
      } catch (err) {
        throw new Error((err as Error).message.replace('cannot load certificate', 'cannot load certificate key'));
      }
    }),
  };
  if (s.protocols.length) {
    const idx = s.protocols.map((p) => ORDER.indexOf(p));
    opts.minVersion = ORDER[Math.min(...idx)];
    opts.maxVersion = ORDER[Math.max(...idx)];
  }
  if (s.ciphers) opts.ciphers = s.ciphers;
  if (s.clientCa) opts.ca = readPem(s.clientCa);
  if (s.preferServerCiphers) opts.honorCipherOrder = true;
  try {
    return tls.createSecureContext(opts);
  } catch (err) {
    const names = s.certificates.map((c) => (c.cert.startsWith('data:') ? 'data:...' : c.cert)).join('", "');
    throw new Error(`cannot load certificate "${names}": ${(err as Error).message}`);
  }
}
