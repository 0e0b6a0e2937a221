/**
 * The upstream response head (ngx_http_proxy_process_status_line / process_header): a small parser for the
 * status line and header lines, and the copy into the client response — hop-by-hop headers dropped, hidden
 * headers removed, Location/Refresh rewritten by proxy_redirect, X-Accel-* controls extracted.
 */
import type { HttpRequest } from '../../request.ts';
import { evaluate } from '../../variables.ts';
import { IGN, type ProxyLocConf } from './conf.ts';

/** UpstreamHead is a parsed upstream response head. */
export interface UpstreamHead {
  version: number;
  status: number;
  statusText: string;
  /** Flat [name, value …] as received. */
  headers: string[];
  contentLength: number;
  chunked: boolean;
  connectionClose: boolean;
  upgrade: boolean;
  /** Bytes the head occupied. */
  length: number;
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** The largest response head accepted (proxy_buffer_size is the bound in nginx; we allow the larger of both). */
export const MAX_HEAD = 64 * 1024;

/**
 * parseUpstreamHead looks for a complete head; returns it, 'invalid' for a malformed one, or undefined when
 * more bytes are needed (and the head is still within `max`).
 */
export function parseUpstreamHead(buf: Buffer, max: number): UpstreamHead | 'invalid' | 'too-big' | undefined {
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0) {
    if (buf.length >= 5 && buf.toString('latin1', 0, 5) !== 'HTTP/') return 'invalid';
    return buf.length > max ? 'too-big' : undefined;
  }
  const text = buf.toString('latin1', 0, end);
  const lines = text.split('\r\n');
  const m = /^HTTP\/1\.([01]) (\d{3})(?: (.*))?$/.exec(lines[0]!);
  if (!m) return 'invalid';
  const head: UpstreamHead = {
    version: m[1] === '1' ? 11 : 10, status: Number(m[2]), statusText: m[3] ?? '', headers: [],
    contentLength: -1, chunked: false, connectionClose: m[1] === '0', upgrade: false, length: end + 4,
  };
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    const colon = line.indexOf(':');
    if (colon <= 0) return 'invalid';
    const name = line.slice(0, colon);
    if (!TOKEN.test(name)) return 'invalid';
    const value = line.slice(colon + 1).trim();
    if (/[\0\r\n]/.test(value)) return 'invalid';
    const l = name.length;
    if (l === 14 && name.toLowerCase() === 'content-length') {
      if (!/^\d+$/.test(value) || (head.contentLength >= 0 && head.contentLength !== Number(value))) return 'invalid';
      head.contentLength = Number(value);
    } else if (l === 17 && name.toLowerCase() === 'transfer-encoding') {
      if (value.toLowerCase() !== 'chunked') return 'invalid';
      head.chunked = true;
    } else if (l === 10 && name.toLowerCase() === 'connection') {
      const v = value.toLowerCase();
      if (v.includes('close')) head.connectionClose = true;
      if (v.includes('upgrade')) head.upgrade = true;
      if (head.version === 10 && v.includes('keep-alive')) head.connectionClose = false;
    }
    head.headers.push(name, value);
  }
  if (head.chunked && head.contentLength >= 0) return 'invalid';
  return head;
}

const HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'te', 'trailer', 'proxy-connection', 'upgrade', 'content-length']);

/** Accel carries the X-Accel-* controls of a response (unless ignored). */
export interface Accel {
  redirect: string | undefined;
  buffering: boolean | undefined;
  limitRate: number | undefined;
}

/** rewriteRedirect applies proxy_redirect rules to a Location or Refresh value. */
export function rewriteRedirect(r: HttpRequest, conf: ProxyLocConf, value: string, refresh: boolean): string {
  let prefixStart = 0;
  if (refresh) {
    const m = /url=/i.exec(value);
    if (!m) return value;
    prefixStart = m.index + 4;
  }
  const target = value.slice(prefixStart);
  for (const rule of conf.redirects!) {
    if (rule.regex) {
      const m = rule.regex.exec(target);
      if (!m) continue;
      const saved = r.captures;
      r.captures = m;
      const out = evaluate(r, rule.replacement);
      r.captures = saved;
      return value.slice(0, prefixStart) + out + target.slice(m.index + m[0].length);
    }
    const prefix = evaluate(r, rule.prefix!);
    if (target.startsWith(prefix)) return value.slice(0, prefixStart) + evaluate(r, rule.replacement) + target.slice(prefix.length);
  }
  return value;
}

/** copyHead fills the client response from the upstream head; returns the X-Accel controls. */
export function copyHead(r: HttpRequest, conf: ProxyLocConf, h: UpstreamHead): Accel {
  const o = r.out;
  o.status = h.status;
  o.statusText = h.statusText || undefined;
  o.contentLength = h.status === 204 || h.status === 304 || r.headerOnly && h.contentLength < 0 ? -1 : h.contentLength;
  if (h.status === 304 || h.status === 204) o.contentLength = -1;
  const hide = conf.hide!;
  const ign = conf.ignoreHeaders!;
  const accel: Accel = { redirect: undefined, buffering: undefined, limitRate: undefined };
  const hs = h.headers;
  for (let i = 0; i < hs.length; i += 2) {
    const name = hs[i]!;
    const value = hs[i + 1]!;
    const l = name.toLowerCase();
    if (l.startsWith('x-accel-')) {
      if (l === 'x-accel-redirect' && !(ign & IGN['x-accel-redirect'])) accel.redirect = value;
      else if (l === 'x-accel-buffering' && !(ign & IGN['x-accel-buffering'])) accel.buffering = value.toLowerCase() !== 'no';
      else if (l === 'x-accel-limit-rate' && !(ign & IGN['x-accel-limit-rate'])) accel.limitRate = Number(value) || 0;
    }
    if (HOP.has(l) || hide.has(l)) {
      if (l === 'upgrade' && h.status === 101) o.headers.push(name, value);
      continue;
    }
    switch (l) {
      case 'content-type':
        o.contentType = value;
        o.charset = undefined;
        continue;
      case 'location':
        o.location = conf.redirects!.length ? rewriteRedirect(r, conf, value, false) : value;
        continue;
      case 'refresh':
        o.headers.push(name, conf.redirects!.length ? rewriteRedirect(r, conf, value, true) : value);
        continue;
      case 'last-modified': {
        const t = Date.parse(value);
        if (!Number.isNaN(t)) {
          o.lastModified = t;
          continue;
        }
        break;
      }
      case 'etag':
        o.etag = value;
        continue;
      case 'server':
        o.server = value;
        continue;
      case 'date':
        o.date = value;
        continue;
    }
    o.headers.push(name, value);
  }
  if (h.status === 101) o.headers.push('Connection', 'upgrade');
  return accel;
}
