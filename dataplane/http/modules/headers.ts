/**
 * ngx_http_headers_filter_module: `add_header name value [always]` and `expires`. Both apply to the
 * "successful" statuses (200, 201, 204, 206, 301, 302, 303, 304, 307, 308) unless `always` is given. A level
 * with any add_header of its own inherits none from above, as in nginx.
 */
import type { ConfCtx } from '../../core/conf.ts';
import { ARGS, CTX } from '../../core/module.ts';
import type { ConfDirective } from '../../core/tree.ts';
import { parseTime } from '../../core/values.ts';
import type { HttpRequest } from '../request.ts';
import { defineHttpModule, type HeaderFilter } from '../types.ts';
import { compileTemplate, evaluate, type Template } from '../variables.ts';

interface AddHeader {
  name: string;
  lname: string;
  value: Template;
  always: boolean;
}

/** Expires is `off`, `epoch`, `max`, an offset (`access` from now, `modified` from Last-Modified) or `@` a time of day. */
type Expires = { kind: 'off' | 'epoch' | 'max' } | { kind: 'access' | 'modified' | 'daily'; ms: number };

export interface HeadersLocConf {
  headers?: AddHeader[];
  expires?: Expires;
}

const LOC_IF = CTX.HTTP_MAIN | CTX.HTTP_SRV | CTX.HTTP_LOC | CTX.HTTP_LIF;
const SAFE = new Set([200, 201, 204, 206, 301, 302, 303, 304, 307, 308]);
const MAX_AGE_MAX = 315_360_000;
const EXPIRES_MAX = 'Thu, 31 Dec 2037 23:55:55 GMT';
const EXPIRES_EPOCH = 'Thu, 01 Jan 1970 00:00:01 GMT';

function addHeaderDirective(cf: ConfCtx, d: ConfDirective, conf: HeadersLocConf): string | void {
  const [name, value, flag] = d.args as [string, string, string | undefined];
  if (flag !== undefined && flag !== 'always') cf.error(`invalid parameter "${flag}"`);
  (conf.headers ??= []).push({ name, lname: name.toLowerCase(), value: compileTemplate(cf, value), always: flag === 'always' });
}

function expiresDirective(cf: ConfCtx, d: ConfDirective, conf: HeadersLocConf): string | void {
  if (conf.expires) return 'is duplicate';
  let args = d.args;
  let modified = false;
  if (args[0] === 'modified') {
    if (args.length !== 2) cf.error(`invalid number of arguments in "expires" directive`);
    modified = true;
    args = args.slice(1);
  } else if (args.length !== 1) cf.error(`invalid value "${args[1]}"`);
  const v = args[0]!;
  if (!modified && (v === 'off' || v === 'epoch' || v === 'max')) {
    conf.expires = { kind: v };
    return;
  }
  if (v.startsWith('@')) {
    const ms = parseTime(v.slice(1), 's');
    if (ms === undefined || ms >= 86_400_000) cf.error(`invalid value "${v}"`);
    conf.expires = { kind: 'daily', ms };
    return;
  }
  const negative = v.startsWith('-');
  const ms = parseTime(negative || v.startsWith('+') ? v.slice(1) : v, 's');
  if (ms === undefined) cf.error(`invalid value "${v}"`);
  conf.expires = { kind: modified ? 'modified' : 'access', ms: negative ? -ms : ms };
}

function removeHeader(r: HttpRequest, lname: string): void {
  const h = r.out.headers;
  for (let i = h.length - 2; i >= 0; i -= 2) if (h[i]!.toLowerCase() === lname) h.splice(i, 2);
}

function setExpires(r: HttpRequest, e: Expires): void {
  removeHeader(r, 'expires');
  removeHeader(r, 'cache-control');
  if (e.kind === 'epoch') {
    r.addHeader('Expires', EXPIRES_EPOCH);
    r.addHeader('Cache-Control', 'no-cache');
    return;
  }
  if (e.kind === 'max') {
    r.addHeader('Expires', EXPIRES_MAX);
    r.addHeader('Cache-Control', `max-age=${MAX_AGE_MAX}`);
    return;
  }
  if (e.kind === 'off') return;
  const ms = (e as { ms: number }).ms;
  const now = Math.floor(Date.now() / 1000) * 1000;
  let at: number;
  if (e.kind === 'modified') at = (r.out.lastModified ?? now) + ms;
  else if (e.kind === 'daily') {
    const day = new Date(now);
    day.setHours(0, 0, 0, 0);
    at = day.getTime() + ms;
    if (at <= now) at += 86_400_000;
  } else at = now + ms;
  r.addHeader('Expires', new Date(at).toUTCString());
  const age = Math.round((at - now) / 1000);
  r.addHeader('Cache-Control', age < 0 || (e.kind === 'access' && ms < 0) ? 'no-cache' : `max-age=${age}`);
}

function applyHeader(r: HttpRequest, h: AddHeader, value: string): void {
  if (value === '') return;
  switch (h.lname) {
    case 'etag':
      r.out.etag = value;
      return;
    case 'last-modified':
      r.out.lastModified = Date.parse(value) || undefined;
      return;
  }
  r.addHeader(h.name, value);
}

export const httpHeadersFilterModule = defineHttpModule<undefined, undefined, HeadersLocConf>({
  name: 'ngx_http_headers_filter_module',
  type: 'http',
  directives: [
    { name: 'add_header', contexts: LOC_IF, args: ARGS.TAKE23, conf: 'loc', set: addHeaderDirective },
    { name: 'expires', contexts: LOC_IF, args: ARGS.TAKE12, conf: 'loc', set: expiresDirective },
  ],
  createLocConf: () => ({}),
  mergeLocConf(_cf, p, c) {
    c.headers ??= p.headers;
    c.expires ??= p.expires ?? { kind: 'off' };
  },
  headerFilter(next, cf): HeaderFilter {
    const idx = cf.index(httpHeadersFilterModule);
    return (r) => {
      const conf = r.loc.confs[idx] as HeadersLocConf;
      if ((conf.expires!.kind === 'off' && conf.headers === undefined) || r !== r.main) return next(r);
      const safe = SAFE.has(r.out.status);
      if (safe && conf.expires!.kind !== 'off') setExpires(r, conf.expires!);
      if (conf.headers) for (const h of conf.headers) if (safe || h.always) applyHeader(r, h, evaluate(r, h.value));
      return next(r);
    };
  },
});
