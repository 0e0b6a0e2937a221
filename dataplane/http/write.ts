/**
 * The HTTP/1 header writer (ngx_http_header_filter): status line, Server, Date, entity headers, the rest,
 * then Connection. Date is formatted at most once per second.
 */
import { NAME, VERSION } from '../core/version.ts';
import type { HttpRequest } from './request.ts';
import { STATUS_TEXT, wireStatus } from './special.ts';

let dateSecond = 0;
let dateText = '';

/** httpDate returns the current time as an IMF-fixdate, cached per second. */
export function httpDateNow(): string {
  const now = Date.now();
  const sec = Math.floor(now / 1000);
  if (sec !== dateSecond) {
    dateSecond = sec;
    dateText = new Date(sec * 1000).toUTCString();
  }
  return dateText;
}

const SERVER_FULL = `Server: ${NAME}/${VERSION}\r\n`;
const SERVER_SHORT = `Server: ${NAME}\r\n`;

/** absoluteLocation turns a relative Location into an absolute URL, as nginx's absolute_redirect does. */
export function absoluteLocation(r: HttpRequest, location: string): string {
  if (location[0] !== '/' || !r.loc.absoluteRedirect) return location;
  const scheme = r.conn.tls ? 'https' : 'http';
  let host = r.loc.serverNameInRedirect ? (r.srv.serverNames[0]?.name ?? r.host) : r.host || r.conn.localAddress;
  if (host.includes(':') && !host.startsWith('[')) host = `[${host}]`;
  const port = r.conn.localPort;
  const defaultPort = scheme === 'https' ? 443 : 80;
  const portPart = r.loc.portInRedirect && port !== defaultPort ? `:${port}` : '';
  return `${scheme}://${host}${portPart}${location}`;
}

/** serializeHead renders the response head for HTTP/1.x. */
export function serializeHead(r: HttpRequest, chunked: boolean): string {
  const o = r.out;
  const status = wireStatus(o.status);
  const text = o.statusText ?? STATUS_TEXT[status] ?? '';
  let h = `HTTP/1.1 ${status} ${text}\r\n`;
  h += o.server === undefined ? (r.loc.serverTokens ? SERVER_FULL : SERVER_SHORT) : `Server: ${o.server}\r\n`;
  h += `Date: ${o.date ?? httpDateNow()}\r\n`;
  if (o.contentType !== undefined) {
    h += o.charset ? `Content-Type: ${o.contentType}; charset=${o.charset}\r\n` : `Content-Type: ${o.contentType}\r\n`;
  }
  if (o.contentLength >= 0) h += `Content-Length: ${o.contentLength}\r\n`;
  if (o.lastModified !== undefined) h += `Last-Modified: ${new Date(o.lastModified).toUTCString()}\r\n`;
  if (o.location !== undefined) h += `Location: ${absoluteLocation(r, o.location)}\r\n`;
  if (chunked) h += 'Transfer-Encoding: chunked\r\n';
  if (status !== 101) h += r.keepalive ? 'Connection: keep-alive\r\n' : 'Connection: close\r\n';
  if (o.etag !== undefined) h += `ETag: ${o.etag}\r\n`;
  const hs = o.headers;
  for (let i = 0; i < hs.length; i += 2) h += `${hs[i]}: ${hs[i + 1]}\r\n`;
  return h + '\r\n';
}
