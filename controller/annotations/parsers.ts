/**
 * Value parsers for annotations and ConfigMap settings. Each returns the parsed value or throws an Error whose
 * message completes "invalid value for <key>: …". They are strict on purpose: every value that reaches the
 * renderer becomes one nginx argument, so nothing here may smuggle `;`, braces, newlines or variables.
 */
import net from 'node:net';

/** Parser turns an annotation's text into a typed value, or throws with a reason. */
export type Parser<T> = (text: string) => T;

const CONTROL = /[\u0000-\u001f\u007f]/;

/** fail rejects a value with the reason shown to the user. */
export function fail(reason: string): never {
  throw new Error(reason);
}

/** bool accepts "true" and "false". */
export const bool: Parser<boolean> = (t) => (t === 'true' ? true : t === 'false' ? false : fail(`"${t}" is not true or false`));

/** int returns a parser for an integer within [min, max]. */
export function int(min: number, max: number): Parser<number> {
  return (t) => {
    if (!/^-?\d+$/.test(t)) fail(`"${t}" is not an integer`);
    const n = Number(t);
    if (n < min || n > max) fail(`${n} is outside ${min}..${max}`);
    return n;
  };
}

/** seconds accepts "10" or "10s" (ingress-nginx writes timeouts in seconds) and returns nginx text "10s". */
export const seconds: Parser<string> = (t) => {
  const m = /^(\d{1,6})s?$/.exec(t);
  if (!m) fail(`"${t}" is not a number of seconds`);
  return `${Number(m[1])}s`;
};

/** size accepts nginx sizes: a number with an optional k/m/g suffix ("0" means unlimited for body size). */
export const size: Parser<string> = (t) => (/^\d{1,12}[kKmMgG]?$/.test(t) ? t.toLowerCase() : fail(`"${t}" is not a size like 8m`));

/** oneOf returns a parser accepting exactly the given words. */
export function oneOf<T extends string>(...words: T[]): Parser<T> {
  return (t) => ((words as string[]).includes(t) ? (t as T) : fail(`"${t}" is not one of ${words.join(', ')}`));
}

/** text accepts printable text without quotes-breaking control characters or nginx variables. */
export const text: Parser<string> = (t) => {
  if (CONTROL.test(t)) fail('control characters are not allowed');
  if (t.includes('$')) fail('"$" is not allowed (no nginx variables here)');
  return t;
};

/** token accepts a cookie or header name (RFC 7230 token characters). */
export const token: Parser<string> = (t) => (/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(t) && !t.includes('$') ? t : fail(`"${t}" is not a valid name`));

/** uriPath accepts an absolute path, optionally with `$1`-style capture references. */
export const uriPath: Parser<string> = (t) => {
  if (!t.startsWith('/')) fail(`"${t}" does not start with /`);
  if (/[\s;{}"'\\]/.test(t) || CONTROL.test(t)) fail(`"${t}" contains a character not allowed in a path`);
  if (/\$(?![0-9])/.test(t)) fail(`"${t}" may only use $1..$9 capture references`);
  return t;
};

/**
 * cookieRewrite accepts `off` or `from to` for proxy_cookie_domain / proxy_cookie_path: a `~` regex `from` (also
 * `~*` for paths; domain regexes are always caseless in nginx, which refuses `~*` there) must compile, and `to` may
 * refer to its captures ($1..$9) but to no other nginx variable.
 */
export const cookieRewrite = (what: 'domain' | 'path'): Parser<string[]> => (t) => {
  const words = t.trim().split(/\s+/);
  if (words.length === 1 && words[0] === 'off') return ['off'];
  if (words.length !== 2) fail(`"${t}" is not "off" or "from to"`);
  const [from, to] = words as [string, string];
  for (const w of words) if (/[;{}"']/.test(w) || CONTROL.test(w)) fail(`"${w}" contains a character not allowed here`);
  // A regex's `$` is an anchor; elsewhere `$` would be an nginx variable, and only captures are allowed.
  for (const w of from.startsWith('~') ? [to] : words) if (/\$(?![0-9])/.test(w)) fail(`"${w}" may only use $1..$9 capture references`);
  if (what === 'domain' && from.startsWith('~*')) fail(`"${from}": domain regexes are always case-insensitive; write "~…", not "~*…"`);
  if (from.startsWith('~')) {
    try {
      new RegExp(from.replace(/^~\*?/, ''));
    } catch (err) {
      fail(`"${from}" is not a valid regular expression: ${(err as Error).message}`);
    }
  }
  return words;
};

/** url accepts an absolute http(s) URL (nginx variables are not allowed). */
export const url: Parser<string> = (t) => {
  let u: URL;
  try {
    u = new URL(t);
  } catch {
    fail(`"${t}" is not an absolute URL`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') fail(`"${t}" is not an http or https URL`);
  if (/[\s;{}"'\\$]/.test(t) || CONTROL.test(t)) fail(`"${t}" contains a character not allowed in a URL`);
  return t;
};

/** hostname accepts a DNS name, optionally with a leading "*." wildcard label. */
export const hostname: Parser<string> = (t) => {
  const h = t.toLowerCase();
  if (!/^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/.test(h) || h.length > 253) fail(`"${t}" is not a valid host name`);
  return h;
};

/** list returns a parser for a comma-separated list whose items go through `item`. */
export function list<T>(item: Parser<T>): Parser<T[]> {
  return (t) => {
    const parts = t.split(',').map((s) => s.trim()).filter((s) => s !== '');
    if (parts.length === 0) fail('the list is empty');
    return parts.map(item);
  };
}

/** cidr accepts an IPv4/IPv6 address or CIDR block. */
export const cidr: Parser<string> = (t) => {
  const [addr, bits, extra] = t.split('/');
  if (extra !== undefined || !addr) fail(`"${t}" is not an address or CIDR`);
  const family = net.isIP(addr);
  if (family === 0) fail(`"${t}" is not an address or CIDR`);
  if (bits !== undefined && !(/^\d+$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128))) fail(`"${t}" has an invalid prefix length`);
  return t;
};

/** origin accepts "*" or an http(s) origin (scheme://host[:port]) for CORS. */
export const origin: Parser<string> = (t) => {
  if (t === '*') return t;
  if (!/^https?:\/\/(\*\.)?[A-Za-z0-9.-]+(:\d{1,5})?$/.test(t)) fail(`"${t}" is not an origin like https://example.com`);
  return t;
};

/** httpStatus accepts a status code within [min, max]. */
export function httpStatus(min: number, max: number): Parser<number> {
  return int(min, max);
}

/** nginxVariables accepts a hash key made of nginx variables and plain text, e.g. "$request_uri" or "$arg_id$host". */
export const nginxVariables: Parser<string> = (t) => (/^[$A-Za-z0-9_:.\-/]+$/.test(t) && t.includes('$') ? t : fail(`"${t}" is not a key made of nginx variables`));

/** nextUpstream accepts proxy_next_upstream's words, space separated. */
export const nextUpstream: Parser<string[]> = (t) => {
  const allowed = ['error', 'timeout', 'invalid_header', 'http_500', 'http_502', 'http_503', 'http_504', 'http_403', 'http_404', 'http_429', 'non_idempotent', 'off'];
  const words = t.split(/\s+/).filter(Boolean);
  if (words.length === 0) fail('no value');
  for (const w of words) if (!allowed.includes(w)) fail(`"${w}" is not one of ${allowed.join(' ')}`);
  return words;
};

/** serviceRef accepts a service name (DNS-1035 label). */
export const serviceRef: Parser<string> = (t) => (/^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/.test(t) ? t : fail(`"${t}" is not a service name`));

/** secretRef accepts "name" or "namespace/name". */
export const secretRef: Parser<string> = (t) => (/^([a-z0-9]([-a-z0-9]*[a-z0-9])?\/)?[a-z0-9]([-.a-z0-9]*[a-z0-9])?$/.test(t) ? t : fail(`"${t}" is not a secret name or namespace/name`));
