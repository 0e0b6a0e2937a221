/**
 * proxy_cookie_domain, proxy_cookie_path and proxy_cookie_flags (ngx_http_proxy_rewrite_cookie): Set-Cookie
 * values from the upstream are split into `name=value` attributes, the Domain and Path values are rewritten by
 * the first matching rule, flags are added, replaced or removed, and a changed cookie is joined again with
 * "; " (nginx's normalisation: spaces around names and values go, an empty trailing attribute stays as "; ").
 * A cookie nothing applies to is passed on byte for byte. Checked against nginx 1.22 (test/dataplane/proxy/
 * cookies.test.ts runs both).
 */
import type { ConfCtx } from '../../../core/conf.ts';
import { ARGS, CTX, type Directive } from '../../../core/module.ts';
import type { ConfDirective } from '../../../core/tree.ts';
import { compileRegex } from '../../core-module.ts';
import type { HttpRequest } from '../../request.ts';
import { compileTemplate, evaluate, type Template } from '../../variables.ts';

/** CookieRewrite is one proxy_cookie_domain or proxy_cookie_path rule. */
export interface CookieRewrite {
  /** A regex replaces the whole value it matches; otherwise `pattern` is matched (see `domain`). */
  regex: RegExp | undefined;
  pattern: Template | undefined;
  /** Domain rules match the whole value caselessly, past one leading dot; path rules match a prefix. */
  domain: boolean;
  replacement: Template;
}

/** CookieFlags is one proxy_cookie_flags rule: a cookie name (caseless) or regex, and up to three flags. */
export interface CookieFlags {
  regex: RegExp | undefined;
  name: Template | undefined;
  flags: Template[];
}

/** The cookie fields of the proxy location conf; `null` is `off` (nginx's NULL), `undefined` is unset. */
export interface CookieConf {
  cookieDomains?: CookieRewrite[] | null;
  cookiePaths?: CookieRewrite[] | null;
  cookieFlags?: CookieFlags[] | null;
}

const LOC = CTX.HTTP_MAIN | CTX.HTTP_SRV | CTX.HTTP_LOC;

type Field = 'cookieDomains' | 'cookiePaths' | 'cookieFlags';

/** listOrOff handles `off` and the duplicate rules shared by the three directives; returns the list to add to. */
function listOrOff<T>(cf: ConfCtx, d: ConfDirective, conf: CookieConf, field: Field): T[] | 'is duplicate' | undefined {
  if (d.args.length === 1) {
    if (d.args[0] !== 'off') cf.error(`invalid parameter "${d.args[0]}"`);
    if (conf[field] !== undefined) return 'is duplicate';
    conf[field] = null;
    return undefined;
  }
  if (conf[field] === null) return 'is duplicate';
  return (conf[field] ??= []) as T[];
}

function cookieDomain(cf: ConfCtx, d: ConfDirective, conf: CookieConf): string | void {
  const list = listOrOff<CookieRewrite>(cf, d, conf, 'cookieDomains');
  if (!Array.isArray(list)) return list;
  let [from, to] = d.args as [string, string];
  // nginx compiles every domain regex caselessly and knows no `~*` here (it becomes a bad pattern "*…").
  if (from.startsWith('~')) {
    list.push({ regex: compileRegex(cf, from.slice(1), true), pattern: undefined, domain: true, replacement: compileTemplate(cf, to) });
    return;
  }
  // A leading dot is not part of the domain, in the pattern and in a literal replacement alike.
  if (from.startsWith('.')) from = from.slice(1);
  if (to.startsWith('.')) to = to.slice(1);
  list.push({ regex: undefined, pattern: compileTemplate(cf, from), domain: true, replacement: compileTemplate(cf, to) });
}

function cookiePath(cf: ConfCtx, d: ConfDirective, conf: CookieConf): string | void {
  const list = listOrOff<CookieRewrite>(cf, d, conf, 'cookiePaths');
  if (!Array.isArray(list)) return list;
  const [from, to] = d.args as [string, string];
  const caseless = from.startsWith('~*');
  const regex = from.startsWith('~') ? compileRegex(cf, from.slice(caseless ? 2 : 1), caseless) : undefined;
  list.push({ regex, pattern: regex ? undefined : compileTemplate(cf, from), domain: false, replacement: compileTemplate(cf, to) });
}

function cookieFlags(cf: ConfCtx, d: ConfDirective, conf: CookieConf): string | void {
  const list = listOrOff<CookieFlags>(cf, d, conf, 'cookieFlags');
  if (!Array.isArray(list)) return list;
  const [name, ...flags] = d.args as [string, ...string[]];
  // As for domains, a name regex is always caseless and `~*` is not special.
  const regex = name.startsWith('~') ? compileRegex(cf, name.slice(1), true) : undefined;
  // Flags may hold variables, so an unknown flag is only found (and skipped) per response, as in nginx.
  list.push({ regex, name: regex ? undefined : compileTemplate(cf, name), flags: flags.map((f) => compileTemplate(cf, f)) });
}

/** cookieDirectives are the three rows of the proxy module's directive table. */
export const cookieDirectives: Directive[] = [
  { name: 'proxy_cookie_domain', contexts: LOC, args: ARGS.TAKE12, conf: 'loc', set: cookieDomain },
  { name: 'proxy_cookie_path', contexts: LOC, args: ARGS.TAKE12, conf: 'loc', set: cookiePath },
  { name: 'proxy_cookie_flags', contexts: LOC, args: ARGS.TAKE1234, conf: 'loc', set: cookieFlags },
];

/** mergeCookieConf: a level with any rule (or `off`) replaces the inherited list, as ngx_conf_merge_ptr_value. */
export function mergeCookieConf(p: CookieConf, c: CookieConf): void {
  if (c.cookieDomains === undefined) c.cookieDomains = p.cookieDomains ?? null;
  if (c.cookiePaths === undefined) c.cookiePaths = p.cookiePaths ?? null;
  if (c.cookieFlags === undefined) c.cookieFlags = p.cookieFlags ?? null;
}

/** rewritesCookies says whether Set-Cookie values need rewriteCookie at all. */
export function rewritesCookies(conf: CookieConf): boolean {
  return !!(conf.cookieDomains || conf.cookiePaths || conf.cookieFlags);
}

/** Attr is one `key=value` part of a cookie; `value` undefined for a bare flag, `key` undefined once removed. */
interface Attr {
  key: string | undefined;
  value: string | undefined;
}

/** parseCookie splits at every ';' and trims spaces (only spaces, as nginx) around keys and values. */
function parseCookie(text: string): Attr[] {
  const attrs: Attr[] = [];
  for (const part of text.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) attrs.push({ key: trimSpaces(part), value: undefined });
    else attrs.push({ key: trimSpaces(part.slice(0, eq)), value: trimSpaces(part.slice(eq + 1)) });
  }
  return attrs;
}

function trimSpaces(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && s.charCodeAt(a) === 0x20) a++;
  while (b > a && s.charCodeAt(b - 1) === 0x20) b--;
  return s.slice(a, b);
}

/** applyRewrite runs one rule on a Domain or Path value; the new value, or undefined when it does not match. */
function applyRewrite(r: HttpRequest, rule: CookieRewrite, value: string): string | undefined {
  if (rule.regex) {
    const m = rule.regex.exec(value);
    if (!m) return undefined;
    // The replacement's $1… are this match's captures (nginx's ngx_http_regex_exec sets r->captures).
    const saved = r.captures;
    r.captures = m;
    const out = evaluate(r, rule.replacement);
    r.captures = saved;
    return out;
  }
  const pattern = evaluate(r, rule.pattern!);
  if (rule.domain) {
    const dot = value.startsWith('.') ? 1 : 0;
    if (value.length - dot !== pattern.length || value.slice(dot).toLowerCase() !== pattern.toLowerCase()) return undefined;
    return value.slice(0, dot) + evaluate(r, rule.replacement);
  }
  if (!value.startsWith(pattern)) return undefined;
  return evaluate(r, rule.replacement) + value.slice(pattern.length);
}

function rewriteValue(r: HttpRequest, rules: CookieRewrite[], attr: Attr): boolean {
  for (const rule of rules) {
    const out = applyRewrite(r, rule, attr.value!);
    if (out !== undefined) {
      attr.value = out;
      return true;
    }
  }
  return false;
}

const SECURE_ON = 1;
const SECURE_OFF = 2;
const HTTPONLY_ON = 4;
const HTTPONLY_OFF = 8;
const STRICT = 16;
const LAX = 32;
const NONE = 64;
const SAMESITE_OFF = 128;
const FLAG_BITS: Record<string, number> = {
  secure: SECURE_ON, nosecure: SECURE_OFF, httponly: HTTPONLY_ON, nohttponly: HTTPONLY_OFF,
  'samesite=strict': STRICT, 'samesite=lax': LAX, 'samesite=none': NONE, nosamesite: SAMESITE_OFF,
};

/** flagsFor returns the flag bits of the first rule naming this cookie (0 when none or only unknown flags). */
function flagsFor(r: HttpRequest, rules: CookieFlags[], name: string): number {
  for (const rule of rules) {
    if (rule.regex ? !rule.regex.test(name) : evaluate(r, rule.name!).toLowerCase() !== name.toLowerCase()) continue;
    let f = 0;
    for (const t of rule.flags) f |= FLAG_BITS[evaluate(r, t).toLowerCase()] ?? 0;
    return f;
  }
  return 0;
}

/** editFlags sets, replaces or drops Secure, HttpOnly and SameSite; an "on" flag wins over its "no" form. */
function editFlags(attrs: Attr[], flags: number): void {
  let f = flags;
  for (let i = 1; i < attrs.length; i++) {
    const a = attrs[i]!;
    const key = a.key!.toLowerCase();
    if (key === 'secure') {
      if (f & SECURE_ON) f &= ~SECURE_ON;
      else if (f & SECURE_OFF) a.key = undefined;
    } else if (key === 'httponly') {
      if (f & HTTPONLY_ON) f &= ~HTTPONLY_ON;
      else if (f & HTTPONLY_OFF) a.key = undefined;
    } else if (key === 'samesite') {
      const to = f & STRICT ? 'Strict' : f & LAX ? 'Lax' : f & NONE ? 'None' : undefined;
      if (to) {
        a.value = to;
        f &= ~(STRICT | LAX | NONE);
      } else if (f & SAMESITE_OFF) a.key = undefined;
    }
  }
  if (f & SECURE_ON) attrs.push({ key: 'Secure', value: undefined });
  if (f & HTTPONLY_ON) attrs.push({ key: 'HttpOnly', value: undefined });
  const same = f & STRICT ? 'Strict' : f & LAX ? 'Lax' : f & NONE ? 'None' : undefined;
  if (same) attrs.push({ key: 'SameSite', value: same });
}

/** rewriteCookie applies the location's cookie rules to one Set-Cookie value. */
export function rewriteCookie(r: HttpRequest, conf: CookieConf, text: string): string {
  const attrs = parseCookie(text);
  // A cookie without "name=" is left alone entirely.
  if (attrs[0]!.value === undefined) return text;
  let changed = false;
  for (let i = 1; i < attrs.length; i++) {
    const a = attrs[i]!;
    if (a.value === undefined) continue;
    const key = a.key!.toLowerCase();
    if (conf.cookieDomains && key === 'domain' && rewriteValue(r, conf.cookieDomains, a)) changed = true;
    if (conf.cookiePaths && key === 'path' && rewriteValue(r, conf.cookiePaths, a)) changed = true;
  }
  if (conf.cookieFlags) {
    const f = flagsFor(r, conf.cookieFlags, attrs[0]!.key!);
    if (f) {
      editFlags(attrs, f);
      changed = true;
    }
  }
  if (!changed) return text;
  let out = '';
  for (let i = 0; i < attrs.length; i++) {
    const a = attrs[i]!;
    if (a.key === undefined) continue;
    if (i > 0) out += '; ';
    out += a.value === undefined ? a.key : `${a.key}=${a.value}`;
  }
  return out;
}
