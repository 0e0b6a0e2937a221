/**
 * Shared pieces of the mail proxy tests: the test user, an auth_http handler that checks passwords the way a
 * real auth service would (plain, APOP and CRAM-MD5 digests against the salt), and the config preamble.
 */
import crypto from 'node:crypto';
import type http from 'node:http';
import type { AuthReply } from './mail-servers.ts';

export const USER = 'alice';
export const PASS = 'secret';

/** Upstreams maps a protocol to the port of the real server behind Portico. */
export type Upstreams = Partial<Record<'smtp' | 'imap' | 'pop3', number>>;

/** passwordOk checks Auth-Pass for the Auth-Method used (the digest methods prove the password with the salt). */
export function passwordOk(h: http.IncomingHttpHeaders): boolean {
  const user = unescapeAuth(String(h['auth-user'] ?? ''));
  const pass = unescapeAuth(String(h['auth-pass'] ?? ''));
  const salt = String(h['auth-salt'] ?? '');
  if (h['auth-method'] === 'none') return true;
  if (user !== USER) return false;
  switch (h['auth-method']) {
    case 'plain':
      return pass === PASS;
    case 'apop':
      return pass === crypto.createHash('md5').update(salt + PASS).digest('hex');
    case 'cram-md5':
      return pass === crypto.createHmac('md5', PASS).update(salt).digest('hex');
  }
  return false;
}

/** unescapeAuth undoes nginx's %XX escaping of Auth-User / Auth-Pass (bytes, not UTF-8). */
export function unescapeAuth(v: string): string {
  return v.replace(/%([0-9A-F]{2})/g, (_, x: string) => String.fromCharCode(parseInt(x, 16)));
}

/** authHandler answers like a mail auth service: where the user's server is, or why not, with Auth-Wait. */
export function authHandler(upstreams: Upstreams, failure: Record<string, string> = { 'Auth-Wait': '1' }): (h: http.IncomingHttpHeaders) => AuthReply {
  return (h): AuthReply => {
    const port = upstreams[h['auth-protocol'] as keyof Upstreams];
    if (!passwordOk(h) || !port) return { headers: { ...failure, 'Auth-Status': 'Invalid login or password' } };
    return { headers: { 'Auth-Status': 'OK', 'Auth-Server': '127.0.0.1', 'Auth-Port': String(port), 'Auth-Pass': PASS } };
  };
}

/** preamble is the part of nginx.conf every mail test shares; `%PREFIX%` is the worker's temp folder. */
export const PREAMBLE = `
events {}
error_log %PREFIX%/error.log info;
`;

/** A small deterministic PRNG so a failing fuzz run can be replayed from its seed. */
export function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}
