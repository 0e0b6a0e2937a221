/**
 * ngx_http_gzip_filter_module: compresses 200/403/404 responses whose type is in `gzip_types` and whose length
 * reaches `gzip_min_length`, for clients that accept gzip (`gzip_http_version`, `gzip_proxied`,
 * `gzip_disable`), adding `Vary: Accept-Encoding` with `gzip_vary`.
 *
 * The filter stays synchronous, like nginx's: each chunk is deflated at once by node:zlib with a sync flush
 * (a chunk's deflate blocks are valid continuations of the stream), the CRC is carried with zlib.crc32, and
 * the last chunk closes the stream. Output therefore follows the handler's pace and backpressure, and the
 * response finishes when the handler's last chunk does.
 */
import zlib from 'node:zlib';
import type { ConfCtx } from '../../core/conf.ts';
import { ARGS, CTX } from '../../core/module.ts';
import { bitmaskSlot, flagSlot, numSlot, sizeSlot } from '../../core/slots.ts';
import type { ConfDirective } from '../../core/tree.ts';
import { compileRegex } from '../core-module.ts';
import type { HttpRequest } from '../request.ts';
import { defineHttpModule, type BodyFilter, type HeaderFilter, type HttpModule } from '../types.ts';

export interface GzipLocConf {
  enable?: boolean;
  types?: Set<string> | '*';
  level?: number;
  minLength?: number;
  vary?: boolean;
  proxied?: number;
  httpVersion?: number;
  disable?: RegExp[];
}

interface GzipCtx {
  crc: number;
  size: number;
  started: boolean;
  level: number;
}

const LOC = CTX.HTTP_MAIN | CTX.HTTP_SRV | CTX.HTTP_LOC;
const PROXIED = { off: 1, expired: 2, 'no-cache': 4, 'no-store': 8, private: 16, no_last_modified: 32, no_etag: 64, auth: 128, any: 256 };
const HEADER = Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]);

function typesDirective(_cf: ConfCtx, d: ConfDirective, conf: GzipLocConf): string | void {
  if (conf.types === '*') return;
  if (d.args.includes('*')) {
    conf.types = '*';
    return;
  }
  const set = conf.types ?? new Set<string>(['text/html']);
  for (const t of d.args) set.add(t.toLowerCase());
  conf.types = set;
}

function httpVersionDirective(cf: ConfCtx, d: ConfDirective, conf: GzipLocConf): string | void {
  if (conf.httpVersion !== undefined) return 'is duplicate';
  const v = d.args[0];
  if (v !== '1.0' && v !== '1.1') cf.error(`invalid value "${v}"`);
  conf.httpVersion = v === '1.0' ? 10 : 11;
}

function disableDirective(cf: ConfCtx, d: ConfDirective, conf: GzipLocConf): string | void {
  const list = (conf.disable ??= []);
  for (const a of d.args) list.push(a === 'msie6' ? /MSIE [4-6]\./ : compileRegex(cf, a, true));
}

function acceptsGzip(r: HttpRequest): boolean {
  const ae = r.header('accept-encoding');
  if (ae === undefined) return false;
  for (const part of ae.toLowerCase().split(',')) {
    const [coding, ...params] = part.split(';').map((s) => s.trim());
    if (coding !== 'gzip' && coding !== 'x-gzip') continue;
    const q = params.find((p) => p.startsWith('q='));
    return q === undefined || Number(q.slice(2)) > 0;
  }
  return false;
}

function headerValue(r: HttpRequest, lname: string): string | undefined {
  const h = r.out.headers;
  for (let i = 0; i < h.length; i += 2) if (h[i]!.toLowerCase() === lname) return h[i + 1];
  return undefined;
}

function proxiedOk(r: HttpRequest, mask: number): boolean {
  if (r.header('via') === undefined) return true;
  if (mask & PROXIED.any) return true;
  if (mask & PROXIED.off) return false;
  const cc = headerValue(r, 'cache-control')?.toLowerCase() ?? '';
  return (
    (!!(mask & PROXIED.expired) && headerValue(r, 'expires') !== undefined) ||
    (!!(mask & PROXIED['no-cache']) && cc.includes('no-cache')) ||
    (!!(mask & PROXIED['no-store']) && cc.includes('no-store')) ||
    (!!(mask & PROXIED.private) && cc.includes('private')) ||
    (!!(mask & PROXIED.no_last_modified) && r.out.lastModified === undefined) ||
    (!!(mask & PROXIED.no_etag) && r.out.etag === undefined) ||
    (!!(mask & PROXIED.auth) && r.header('authorization') !== undefined)
  );
}

function headerFilter(next: HeaderFilter, idx: number): HeaderFilter {
  return (r) => {
    const conf = r.loc.confs[idx] as GzipLocConf;
    const o = r.out;
    if (!conf.enable || (o.status !== 200 && o.status !== 403 && o.status !== 404) || r.headerOnly) return next(r);
    if (headerValue(r, 'content-encoding') !== undefined) return next(r);
    if (o.contentLength !== -1 && o.contentLength < conf.minLength!) return next(r);
    if (conf.types !== '*' && (o.contentType === undefined || !conf.types!.has(o.contentType.toLowerCase()))) return next(r);
    if (conf.vary) r.addHeader('Vary', 'Accept-Encoding');
    if (r !== r.main || !acceptsGzip(r)) return next(r);
    if (r.httpMajor * 10 + r.httpMinor < conf.httpVersion!) return next(r);
    if (!proxiedOk(r, conf.proxied!)) return next(r);
    const ua = r.header('user-agent');
    if (ua !== undefined && conf.disable?.some((re) => re.test(ua))) return next(r);
    r.addHeader('Content-Encoding', 'gzip');
    o.contentLength = -1;
    if (o.etag !== undefined && !o.etag.startsWith('W/')) o.etag = `W/${o.etag}`;
    r.allowRanges = false;
    r.ctx[idx] = { crc: 0, size: 0, started: false, level: conf.level! } satisfies GzipCtx;
    return next(r);
  };
}

function bodyFilter(next: BodyFilter, idx: number): BodyFilter {
  return (r, chunk, last) => {
    const ctx = r.ctx[idx] as GzipCtx | undefined;
    if (ctx === undefined || r.replacement !== undefined) return next(r, chunk, last);
    const input = chunk ?? Buffer.alloc(0);
    if (input.length === 0 && !last) return next(r, null, false);
    ctx.crc = zlib.crc32(input, ctx.crc);
    ctx.size = (ctx.size + input.length) >>> 0;
    const deflated = zlib.deflateRawSync(input, { level: ctx.level, finishFlush: last ? zlib.constants.Z_FINISH : zlib.constants.Z_SYNC_FLUSH });
    const parts: Buffer[] = [];
    if (!ctx.started) {
      ctx.started = true;
      parts.push(HEADER);
    }
    parts.push(deflated);
    if (last) {
      const trailer = Buffer.allocUnsafe(8);
      trailer.writeUInt32LE(ctx.crc >>> 0, 0);
      trailer.writeUInt32LE(ctx.size, 4);
      parts.push(trailer);
      r.ctx[idx] = undefined;
    }
    return next(r, parts.length === 1 ? parts[0]! : Buffer.concat(parts), last);
  };
}

export const httpGzipFilterModule: HttpModule<undefined, undefined, GzipLocConf> = defineHttpModule<undefined, undefined, GzipLocConf>({
  name: 'ngx_http_gzip_filter_module',
  type: 'http',
  configureArg: '--with-http_gzip_module',
  directives: [
    { name: 'gzip', contexts: LOC | CTX.HTTP_LIF, args: ARGS.FLAG, conf: 'loc', set: flagSlot('enable') },
    { name: 'gzip_types', contexts: LOC, args: ARGS.ONEMORE, conf: 'loc', set: typesDirective },
    {
      name: 'gzip_comp_level',
      contexts: LOC,
      args: ARGS.TAKE1,
      conf: 'loc',
      set(cf, d, conf: GzipLocConf) {
        const rv = numSlot('level')(cf, d, conf);
        if (rv) return rv;
        if (conf.level! < 1 || conf.level! > 9) cf.error('value must be between 1 and 9');
      },
    },
    { name: 'gzip_min_length', contexts: LOC, args: ARGS.TAKE1, conf: 'loc', set: sizeSlot('minLength') },
    { name: 'gzip_vary', contexts: LOC, args: ARGS.FLAG, conf: 'loc', set: flagSlot('vary') },
    { name: 'gzip_proxied', contexts: LOC, args: ARGS.ONEMORE, conf: 'loc', set: bitmaskSlot('proxied', PROXIED) },
    { name: 'gzip_http_version', contexts: LOC, args: ARGS.TAKE1, conf: 'loc', set: httpVersionDirective },
    { name: 'gzip_disable', contexts: LOC, args: ARGS.ONEMORE, conf: 'loc', set: disableDirective },
    // Buffers are nginx's memory management; node:zlib sizes its own.
    { name: 'gzip_buffers', contexts: LOC, args: ARGS.TAKE2, conf: 'loc', set() {} },
  ],
  createLocConf: () => ({}),
  mergeLocConf(_cf, p, c) {
    c.enable ??= p.enable ?? false;
    c.types ??= p.types ?? new Set(['text/html']);
    c.level ??= p.level ?? 1;
    c.minLength ??= p.minLength ?? 20;
    c.vary ??= p.vary ?? false;
    c.proxied ??= p.proxied ?? PROXIED.off;
    c.httpVersion ??= p.httpVersion ?? 11;
    c.disable ??= p.disable;
  },
  headerFilter: (next, cf): HeaderFilter => headerFilter(next, cf.index(httpGzipFilterModule)),
  bodyFilter: (next, cf): BodyFilter => bodyFilter(next, cf.index(httpGzipFilterModule)),
});
