/**
 * htpasswd files for auth_basic: parsing `user:hash[:comment]` lines and checking a password against a stored
 * hash. Supported schemes: bcrypt (`$2y$`, `$2b$`, `$2a$`, checked off the event loop's critical path with
 * bcryptjs' asynchronous compare), Apache MD5 (`$apr1$`) and MD5-crypt (`$1$`), `{SHA}`, `{SSHA}` and `{PLAIN}`.
 * Traditional DES crypt(3) and SHA-crypt (`$5$`, `$6$`) are not supported: such entries never match, and the
 * caller logs why.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import bcrypt from 'bcryptjs';

/** parseHtpasswd reads the text of a user file into user → stored hash (first entry wins, `#` comments). */
export function parseHtpasswd(text: string): Map<string, string> {
  const users = new Map<string, string>();
  for (const raw of text.split('\n')) {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line === '' || line.startsWith('#')) continue;
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const user = line.slice(0, colon);
    let hash = line.slice(colon + 1);
    // A third field is a comment; hashes themselves contain no ':'.
    const c2 = hash.indexOf(':');
    if (c2 >= 0) hash = hash.slice(0, c2);
    if (!users.has(user)) users.set(user, hash);
  }
  return users;
}

/** hashScheme names the scheme of a stored hash, or undefined when it is not one Portico can check. */
export function hashScheme(hash: string): string | undefined {
  if (/^\$2[aby]\$\d\d\$/.test(hash)) return 'bcrypt';
  if (hash.startsWith('$apr1$')) return 'apr1';
  if (hash.startsWith('$1$')) return 'md5-crypt';
  if (hash.startsWith('{SHA}')) return 'sha';
  if (hash.startsWith('{SSHA}')) return 'ssha';
  if (hash.startsWith('{PLAIN}')) return 'plain';
  return undefined;
}

/** isSlowHash is true for schemes that must not be computed inline (bcrypt). */
export function isSlowHash(hash: string): boolean {
  return hash.startsWith('$2');
}

/** verifyFast checks a password against a fast scheme; undefined means the scheme is slow or unknown. */
export function verifyFast(password: Buffer, hash: string): boolean | undefined {
  if (hash.startsWith('$apr1$')) return safeEqual(md5Crypt(password, hash, '$apr1$'), hash);
  if (hash.startsWith('$1$')) return safeEqual(md5Crypt(password, hash, '$1$'), hash);
  if (hash.startsWith('{SHA}')) return safeEqual(createHash('sha1').update(password).digest('base64'), hash.slice(5));
  if (hash.startsWith('{SSHA}')) {
    const raw = Buffer.from(hash.slice(6), 'base64');
    if (raw.length <= 20) return false;
    const digest = createHash('sha1').update(password).update(raw.subarray(20)).digest();
    return timingSafeEqual(digest, raw.subarray(0, 20));
  }
  if (hash.startsWith('{PLAIN}')) return safeEqual(password.toString('latin1'), hash.slice(7));
  return undefined;
}

/** verifySlow checks a bcrypt hash without blocking the event loop for the whole computation. */
export function verifySlow(password: Buffer, hash: string, done: (ok: boolean) => void): void {
  bcrypt.compare(password.toString('utf8'), hash.replace(/^\$2y\$/, '$2b$'), (err, ok) => done(!err && ok === true));
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a, 'latin1');
  const y = Buffer.from(b, 'latin1');
  return x.length === y.length && timingSafeEqual(x, y);
}

const ITOA64 = './0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

function to64(v: number, n: number): string {
  let s = '';
  while (n-- > 0) {
    s += ITOA64[v & 0x3f];
    v >>>= 6;
  }
  return s;
}

/** md5Crypt computes the MD5-crypt hash (`$1$` or Apache's `$apr1$`) of a password with the salt of `setting`. */
export function md5Crypt(pw: Buffer, setting: string, magic: string): string {
  const rest = setting.slice(magic.length);
  const end = rest.indexOf('$');
  const salt = (end < 0 ? rest : rest.slice(0, end)).slice(0, 8);
  const md5 = () => createHash('md5');
  const ctx = md5().update(pw).update(magic).update(salt);
  let final = md5().update(pw).update(salt).update(pw).digest();
  for (let pl = pw.length; pl > 0; pl -= 16) ctx.update(final.subarray(0, Math.min(pl, 16)));
  const zero = Buffer.alloc(1);
  for (let i = pw.length; i > 0; i >>= 1) ctx.update(i & 1 ? zero : pw.subarray(0, 1));
  final = ctx.digest();
  for (let i = 0; i < 1000; i++) {
    const c = md5();
    c.update(i & 1 ? pw : final);
    if (i % 3) c.update(salt);
    if (i % 7) c.update(pw);
    c.update(i & 1 ? final : pw);
    final = c.digest();
  }
  const f = final;
  return (
    magic + salt + '$' +
    to64((f[0]! << 16) | (f[6]! << 8) | f[12]!, 4) +
    to64((f[1]! << 16) | (f[7]! << 8) | f[13]!, 4) +
    to64((f[2]! << 16) | (f[8]! << 8) | f[14]!, 4) +
    to64((f[3]! << 16) | (f[9]! << 8) | f[15]!, 4) +
    to64((f[4]! << 16) | (f[10]! << 8) | f[5]!, 4) +
    to64(f[11]!, 2)
  );
}
