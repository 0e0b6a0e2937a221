/**
 * The upstream response head (ngx_http_proxy_process_status_line / process_header): a small parser for the
 * status line and header lines, and the copy into the client response — hop-by-hop headers dropped, hidden
 * headers removed, Location/Refresh rewritten by proxy_redirect, Set-Cookie by proxy_cookie_* (cookies.ts),
 * X-Accel-* controls extracted.
 */
import type { HttpRequest } from '../../request.ts';
import { parseAccelLimitRate } from '../../limit-rate.ts';
import { evaluate } from '../../variables.ts';
import { IGN, type ProxyLocConf } from './conf.ts';
import { rewriteCookie, rewritesCookies } from './cookies.ts';

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

/** TCHAR[c] is 1 for the bytes allowed in a header name (RFC 9110 token). */
const TCHAR = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") TCHAR[c.charCodeAt(0)] = 1;
const END_OF_HEAD = Buffer.from('\r\n\r\n', 'latin1');
/** The largest response head accepted (proxy_buffer_size is the bound in nginx; we allow the larger of both). */
export const MAX_HEAD = 64 * 1024;

function isToken(text: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    if (c >= 128 || TCHAR[c] === 0) return false;
  }
  return true;
}

/** clean says the line [from, eol) holds no bare CR or LF. */
function clean(text: string, from: number, eol: number): boolean {
  const cr = text.indexOf('\r', from);
  const lf = text.indexOf('\n', from);
  return (cr < 0 || cr >= eol) && (lf < 0 || lf >= eol);
}

/** statusLine reads `HTTP/1.x NNN[ text]` into `head`; false when it is not one. */
function statusLine(text: string, eol: number, head: UpstreamHead): boolean {
  if (eol < 12 || !text.startsWith('HTTP/1.', 0)) return false;
  const minor = text.charCodeAt(7);
  if ((minor !== 0x30 && minor !== 0x31) || text.charCodeAt(8) !== 0x20) return false;
  let status = 0;
  for (let i = 9; i < 12; i++) {
    const d = text.charCodeAt(i) - 0x30;
    if (d < 0 || d > 9) return false;
    status = status * 10 + d;
  }
  if (eol > 12 && text.charCodeAt(12) !== 0x20) return false;
  head.version = minor === 0x31 ? 11 : 10;
  head.connectionClose = minor === 0x30;
  head.status = status;
  head.statusText = eol > 13 ? text.slice(13, eol) : '';
  return true;
}

/**
 * parseUpstreamHead looks for a complete head; returns it, 'invalid' for a malformed one, or undefined when
 * more bytes are needed (and the head is still within `max`). One pass over the head: lines end in CRLF, a
 * bare CR, LF or NUL inside a line makes the head invalid, values lose surrounding spaces and tabs.
 */
export function parseUpstreamHead(buf: Buffer, max: number): UpstreamHead | 'invalid' | 'too-big' | undefined {
  const end = buf.indexOf(END_OF_HEAD);
  if (end < 0) {
    if (buf.length >= 5 && buf.toString('latin1', 0, 5) !== 'HTTP/') return 'invalid';
    return buf.length > max ? 'too-big' : undefined;
  }
  const text = buf.toString('latin1', 0, end);
  if (text.indexOf('\0') >= 0) return 'invalid';
  const head: UpstreamHead = {
    version: 11, status: 0, statusText: '', headers: [],
    contentLength: -1, chunked: false, connectionClose: false, upgrade: false, length: end + 4,
  };
  let eol = text.indexOf('\r\n');
  if (eol < 0) eol = text.length;
  if (!statusLine(text, eol, head) || !clean(text, 0, eol)) return 'invalid';
  const len = text.length;
  for (let pos = eol + 2; pos < len; pos = eol + 2) {
    eol = text.indexOf('\r\n', pos);
    if (eol < 0) eol = len;
    if (!clean(text, pos, eol)) return 'invalid';
    const colon = text.indexOf(':', pos);
    if (colon <= pos || colon >= eol || !isToken(text, pos, colon)) return 'invalid';
    let vs = colon + 1;
    let ve = eol;
    while (vs < ve && (text.charCodeAt(vs) === 0x20 || text.charCodeAt(vs) === 0x09)) vs++;
    while (ve > vs && (text.charCodeAt(ve - 1) === 0x20 || text.charCodeAt(ve - 1) === 0x09)) ve--;
    const name = text.slice(pos, colon);
    const value = text.slice(vs, ve);
    const l = colon - pos;
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
      // A matching regex replaces the whole value (after "url=" in Refresh), as nginx does, not only the match.
      return value.slice(0, prefixStart) + out;
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
  const cookies = rewritesCookies(conf);
  for (let i = 0; i < hs.length; i += 2) {
    const name = hs[i]!;
    const value = hs[i + 1]!;
    const l = name.toLowerCase();
    if (l.startsWith('x-accel-')) {
      if (l === 'x-accel-redirect' && !(ign & IGN['x-accel-redirect'])) accel.redirect = value;
      else if (l === 'x-accel-buffering' && !(ign & IGN['x-accel-buffering'])) accel.buffering = value.toLowerCase() !== 'no';
      else if (l === 'x-accel-limit-rate' && !(ign & IGN['x-accel-limit-rate'])) accel.limitRate = parseAccelLimitRate(value);
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
      case 'set-cookie':
        o.headers.push(name, cookies ? rewriteCookie(r, conf, value) : value);
        continue;
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
