/**
 * ngx_http_not_modified_filter_module: conditional requests against Last-Modified and ETag. If-Unmodified-Since
 * and If-Match failing give 412; If-Modified-Since (`if_modified_since exact|before|off`) and If-None-Match
 * matching turn a 200 into a bodiless 304.
 */
import { ARGS, CTX } from '../../core/module.ts';
import { enumSlot } from '../../core/slots.ts';
import type { HttpRequest } from '../request.ts';
import { defineHttpModule, type HeaderFilter } from '../types.ts';

export interface NotModifiedLocConf {
  ifModifiedSince?: 'off' | 'exact' | 'before';
}

/** etagMatches tests an If-Match / If-None-Match list against the response's ETag (weak comparison if asked). */
export function etagMatches(list: string, etag: string | undefined, weak: boolean): boolean {
  if (etag === undefined) return false;
  if (list.trim() === '*') return true;
  const norm = (t: string) => (weak && t.startsWith('W/') ? t.slice(2) : t);
  if (!weak && etag.startsWith('W/')) return false;
  const want = norm(etag);
  for (const raw of list.split(',')) {
    const t = raw.trim();
    if (!weak && t.startsWith('W/')) continue;
    if (norm(t) === want) return true;
  }
  return false;
}

function notModified(r: HttpRequest, mode: NotModifiedLocConf['ifModifiedSince']): boolean {
  const ims = r.header('if-modified-since');
  const inm = r.header('if-none-match');
  if (ims === undefined && inm === undefined) return false;
  if (ims !== undefined) {
    const lm = r.out.lastModified;
    if (lm === undefined || mode === 'off') return false;
    const t = Date.parse(ims);
    if (Number.isNaN(t)) return false;
    if (!(t === lm || (mode === 'before' && t >= lm))) return false;
  }
  if (inm !== undefined && !etagMatches(inm, r.out.etag, true)) return false;
  return true;
}

export const httpNotModifiedFilterModule = defineHttpModule<undefined, undefined, NotModifiedLocConf>({
  name: 'ngx_http_not_modified_filter_module',
  type: 'http',
  directives: [
    { name: 'if_modified_since', contexts: CTX.HTTP_MAIN | CTX.HTTP_SRV | CTX.HTTP_LOC, args: ARGS.TAKE1, conf: 'loc', set: enumSlot('ifModifiedSince', { off: 'off', exact: 'exact', before: 'before' }) },
  ],
  createLocConf: () => ({}),
  mergeLocConf(_cf, p, c) {
    c.ifModifiedSince ??= p.ifModifiedSince ?? 'exact';
  },
  headerFilter(next, cf): HeaderFilter {
    const idx = cf.index(httpNotModifiedFilterModule);
    return (r) => {
      if (r.out.status !== 200 || r !== r.main) return next(r);
      const ius = r.header('if-unmodified-since');
      if (ius !== undefined) {
        const t = Date.parse(ius);
        if (r.out.lastModified === undefined || Number.isNaN(t) || t < r.out.lastModified) {
          r.http.filterFinalize(r, 412);
          return next(r);
        }
      }
      const im = r.header('if-match');
      if (im !== undefined && !etagMatches(im, r.out.etag, false)) {
        r.http.filterFinalize(r, 412);
        return next(r);
      }
      if (notModified(r, (r.loc.confs[idx] as NotModifiedLocConf).ifModifiedSince)) {
        const o = r.out;
        o.status = 304;
        o.statusText = undefined;
        o.contentType = undefined;
        o.charset = undefined;
        o.contentLength = -1;
        r.allowRanges = false;
        r.headerOnly = true;
      }
      return next(r);
    };
  },
});
