/**
 * The range filters (ngx_http_range_header_filter_module and _body_filter_module) as one module: a `Range:
 * bytes=…` request for a 200 whose length is known and whose handler allows ranges becomes a 206 with one
 * range or a multipart/byteranges body, or a 416 when no range is satisfiable; If-Range guards it. Ranges are
 * cut from the body as it streams, so a multipart answer needs its ranges in ascending, non-overlapping order
 * (others get the whole 200, which the RFC allows).
 */
import { ARGS, CTX } from '../../core/module.ts';
import { numSlot } from '../../core/slots.ts';
import type { HttpRequest } from '../request.ts';
import { OK, defineHttpModule, type BodyFilter, type HeaderFilter } from '../types.ts';

export interface RangeLocConf {
  maxRanges?: number;
}

interface Part {
  start: number;
  /** Exclusive end. */
  end: number;
  head: Buffer;
}

interface RangeCtx {
  parts: Part[];
  /** Offset in the original body of the next byte the handler sends. */
  offset: number;
  next: number;
  tail: Buffer | undefined;
  finished: boolean;
  /** Set for unordered ranges: the body is collected, then cut. */
  collected: Buffer[] | undefined;
}

/** The largest body whose unordered ranges are served (it is held in memory until complete). */
const UNORDERED_MAX = 1024 * 1024;

const DECLINE = -1;
const UNSATISFIABLE = -2;
let boundaryCounter = 0;

/** parseRanges reads `bytes=a-b, c-, -n` against a length (ngx_http_range_parse): ranges, or DECLINE/UNSATISFIABLE. */
export function parseRanges(value: string, len: number, max: number): { start: number; end: number }[] | number {
  if (!/^bytes=/i.test(value)) return DECLINE;
  const out: { start: number; end: number }[] = [];
  let size = 0;
  for (const raw of value.slice(6).split(',')) {
    const spec = raw.trim();
    const m = /^(\d*)\s*-\s*(\d*)$/.exec(spec);
    if (!m || (m[1] === '' && m[2] === '')) return UNSATISFIABLE;
    let start: number;
    let end: number;
    if (m[1] === '') {
      const suffix = Number(m[2]);
      start = suffix > len ? 0 : len - suffix;
      end = len;
    } else {
      start = Number(m[1]);
      end = m[2] === '' ? len : Number(m[2]) + 1;
      if (m[2] !== '' && end <= start) return UNSATISFIABLE;
      if (end > len) end = len;
    }
    if (start < end) {
      out.push({ start, end });
      size += end - start;
      if (out.length > max) return DECLINE;
    }
  }
  if (out.length === 0) return UNSATISFIABLE;
  if (size > len) return DECLINE;
  return out;
}

function ifRangeHolds(r: HttpRequest): boolean {
  const ir = r.header('if-range');
  if (ir === undefined) return true;
  if (ir.startsWith('"') || ir.startsWith('W/')) return r.out.etag !== undefined && !r.out.etag.startsWith('W/') && ir === r.out.etag;
  const t = Date.parse(ir);
  return r.out.lastModified !== undefined && t === r.out.lastModified;
}

function headerFilter(next: HeaderFilter, idx: number): HeaderFilter {
  return (r) => {
    const o = r.out;
    if (r.httpMajor < 1 || o.status !== 200 || r !== r.main || o.contentLength < 0 || !r.allowRanges) return next(r);
    const range = r.header('range');
    if (range !== undefined && range.length >= 7 && ifRangeHolds(r)) {
      const len = o.contentLength;
      const ranges = parseRanges(range, len, (r.loc.confs[idx] as RangeLocConf).maxRanges!);
      if (ranges === UNSATISFIABLE) {
        r.http.filterFinalize(r, 416);
        r.addHeader('Content-Range', `bytes */${len}`);
        return next(r);
      }
      if (typeof ranges !== 'number' && (ranges.length === 1 || ascending(ranges) || len <= UNORDERED_MAX)) {
        o.status = 206;
        o.statusText = undefined;
        const ctx: RangeCtx = { parts: [], offset: 0, next: 0, tail: undefined, finished: false, collected: undefined };
        if (ranges.length === 1) {
          const { start, end } = ranges[0]!;
          r.addHeader('Content-Range', `bytes ${start}-${end - 1}/${len}`);
          o.contentLength = end - start;
          ctx.parts.push({ start, end, head: Buffer.alloc(0) });
        } else {
          const boundary = String(++boundaryCounter).padStart(20, '0');
          if (!ascending(ranges)) ctx.collected = [];
          const type = o.contentType === undefined ? '' : `Content-Type: ${o.contentType}${o.charset ? `; charset=${o.charset}` : ''}\r\n`;
          let total = 0;
          for (const { start, end } of ranges) {
            const head = Buffer.from(`\r\n--${boundary}\r\n${type}Content-Range: bytes ${start}-${end - 1}/${len}\r\n\r\n`, 'latin1');
            ctx.parts.push({ start, end, head });
            total += head.length + end - start;
          }
          ctx.tail = Buffer.from(`\r\n--${boundary}--\r\n`, 'latin1');
          o.contentType = `multipart/byteranges; boundary=${boundary}`;
          o.charset = undefined;
          o.contentLength = total + ctx.tail.length;
        }
        r.ctx[idx] = ctx;
        return next(r);
      }
    }
    r.addHeader('Accept-Ranges', 'bytes');
    return next(r);
  };
}

function ascending(ranges: { start: number; end: number }[]): boolean {
  for (let i = 1; i < ranges.length; i++) if (ranges[i]!.start < ranges[i - 1]!.end) return false;
  return true;
}

function bodyFilter(next: BodyFilter, idx: number): BodyFilter {
  return (r, chunk, last) => {
    const ctx = r.ctx[idx] as RangeCtx | undefined;
    if (ctx === undefined || r.replacement !== undefined) return next(r, chunk, last);
    if (ctx.finished) return OK;
    if (ctx.collected !== undefined) {
      if (chunk !== null) ctx.collected.push(chunk);
      if (!last) return OK;
      ctx.finished = true;
      const whole = Buffer.concat(ctx.collected);
      const out: Buffer[] = [];
      for (const p of ctx.parts) out.push(p.head, whole.subarray(p.start, p.end));
      out.push(ctx.tail!);
      return next(r, Buffer.concat(out), true);
    }
    const out: Buffer[] = [];
    if (chunk !== null) {
      const from = ctx.offset;
      const to = from + chunk.length;
      ctx.offset = to;
      while (ctx.next < ctx.parts.length) {
        const p = ctx.parts[ctx.next]!;
        if (p.start >= to) break;
        const a = Math.max(p.start, from);
        const b = Math.min(p.end, to);
        if (a === p.start && p.head.length > 0) out.push(p.head);
        if (b > a) out.push(chunk.subarray(a - from, b - from));
        if (p.end <= to) ctx.next++;
        else break;
      }
    }
    const done = last || ctx.next >= ctx.parts.length;
    if (done && ctx.tail !== undefined) {
      out.push(ctx.tail);
      ctx.tail = undefined;
    }
    ctx.finished = done;
    if (out.length === 0 && !done) return OK;
    return next(r, out.length === 0 ? null : out.length === 1 ? out[0]! : Buffer.concat(out), done);
  };
}

export const httpRangeFilterModule: import('../types.ts').HttpModule<undefined, undefined, RangeLocConf> = defineHttpModule<undefined, undefined, RangeLocConf>({
  name: 'ngx_http_range_filter_module',
  type: 'http',
  directives: [{ name: 'max_ranges', contexts: CTX.HTTP_MAIN | CTX.HTTP_SRV | CTX.HTTP_LOC, args: ARGS.TAKE1, conf: 'loc', set: numSlot('maxRanges') }],
  createLocConf: () => ({}),
  mergeLocConf(_cf, p, c) {
    c.maxRanges ??= p.maxRanges ?? Number.MAX_SAFE_INTEGER;
  },
  headerFilter: (next, cf): HeaderFilter => headerFilter(next, cf.index(httpRangeFilterModule)),
  bodyFilter: (next, cf): BodyFilter => bodyFilter(next, cf.index(httpRangeFilterModule)),
});
