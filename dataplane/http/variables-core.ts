/** The core variables (ngx_http_core_variables): request line, headers, addresses, timing, response. */
import os from 'node:os';
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { VERSION } from '../core/version.ts';
import type { HttpRequest } from './request.ts';
import type { VariableDef } from './types.ts';
import { STATUS_TEXT } from './special.ts';
import { binaryAddr } from './cidr.ts';
import { LIMIT_RATE_VARIABLE } from './limit-rate.ts';

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const p2 = (n: number) => String(n).padStart(2, '0');

function tz(d: Date): string {
  const off = -d.getTimezoneOffset();
  const sign = off >= 0 ? '+' : '-';
  const a = Math.abs(off);
  return `${sign}${p2(Math.floor(a / 60))}${p2(a % 60)}`;
}

/** timeLocal formats nginx's $time_local: `22/Nov/2026:04:00:26 +0000`. */
export function timeLocal(d = new Date()): string {
  return `${p2(d.getDate())}/${MONTHS[d.getMonth()]}/${d.getFullYear()}:${p2(d.getHours())}:${p2(d.getMinutes())}:${p2(d.getSeconds())} ${tz(d)}`;
}

/** timeIso8601 formats nginx's $time_iso8601: `2026-11-22T04:00:26+00:00`. */
export function timeIso8601(d = new Date()): string {
  const t = tz(d);
  return `${d.getFullYear()}-${p2(d.getMonth() + 1)}-${p2(d.getDate())}T${p2(d.getHours())}:${p2(d.getMinutes())}:${p2(d.getSeconds())}${t.slice(0, 3)}:${t.slice(3)}`;
}

function argValue(args: string, name: string): string | undefined {
  if (args === '') return undefined;
  for (const pair of args.split('&')) {
    const eq = pair.indexOf('=');
    const k = eq < 0 ? pair : pair.slice(0, eq);
    if (k.toLowerCase() === name) return eq < 0 ? '' : pair.slice(eq + 1);
  }
  return undefined;
}

/** cookieValue returns the value of request cookie `name` (case-insensitive name), as $cookie_ does. */
export function cookieValue(r: HttpRequest, name: string): string | undefined {
  const c = r.header('cookie');
  if (c === undefined) return undefined;
  for (const part of c.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim().toLowerCase() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** sentHeader returns a response header's value by lowercase name (for $sent_http_*). */
export function sentHeader(r: HttpRequest, lname: string): string | undefined {
  const o = r.out;
  switch (lname) {
    case 'content_type':
      return o.contentType === undefined ? undefined : o.charset ? `${o.contentType}; charset=${o.charset}` : o.contentType;
    case 'content_length':
      return o.contentLength >= 0 ? String(o.contentLength) : undefined;
    case 'location':
      return o.location;
    case 'last_modified':
      return o.lastModified === undefined ? undefined : new Date(o.lastModified).toUTCString();
    case 'etag':
      return o.etag;
    case 'connection':
      return r.headerSent ? (r.keepalive ? 'keep-alive' : 'close') : undefined;
  }
  const want = lname.replaceAll('_', '-');
  const h = o.headers;
  for (let i = 0; i < h.length; i += 2) if (h[i]!.toLowerCase() === want) return h[i + 1];
  return undefined;
}

/** namedCaptureVariable is the variable of a regex's named capture: the last regex match that has it wins. */
export function namedCaptureVariable(name: string): VariableDef {
  return {
    name,
    nocache: true,
    get: (r) => r.captures?.groups?.[name] ?? r.serverCaptures?.groups?.[name],
  };
}

/** documentRoot is the location's root (or alias), variables expanded, resolved against the prefix. */
export function documentRoot(r: HttpRequest): string {
  const clcf = r.loc;
  const root = clcf.root ?? clcf.alias ?? 'html';
  if (root.includes('$')) return resolveRoot(r.http.cycle.prefix, r.http.expand(r, root));
  // A constant root resolves the same way for every request of this location.
  let resolved = ROOTS.get(clcf);
  if (resolved === undefined) ROOTS.set(clcf, (resolved = resolveRoot(r.http.cycle.prefix, root)));
  return resolved;
}

/** resolveRoot resolves against the prefix but keeps a trailing slash, as nginx's $document_root shows it. */
function resolveRoot(prefix: string, root: string): string {
  const p = path.resolve(prefix, root);
  return root.endsWith('/') && !p.endsWith('/') ? p + '/' : p;
}

const ROOTS = new WeakMap<object, string>();

/**
 * mapUriToPath maps a URI onto the file system (ngx_http_map_uri_to_path): root + uri; a prefix location's
 * alias replaces the location's name; a regex location's alias is the whole path (it uses captures).
 */
export function mapUriToPath(r: HttpRequest, uri: string): string {
  const clcf = r.loc;
  if (clcf.alias === undefined) return documentRoot(r) + uri;
  let alias = clcf.alias;
  if (alias.includes('$')) alias = r.http.expand(r, alias);
  const full = path.resolve(r.http.cycle.prefix, alias) + (alias.endsWith('/') ? '/' : '');
  if (clcf.regex || clcf.match === '~' || clcf.match === '~*') return full;
  return full + uri.slice(Math.min(clcf.name.length, uri.length));
}

/** requestFilename maps the request's URI onto the file system as root/alias do ($request_filename). */
export function requestFilename(r: HttpRequest): string {
  return mapUriToPath(r, r.uri);
}


function realpathOrUndefined(p: string): string | undefined {
  try {
    return fs.realpathSync(p);
  } catch {
    return undefined;
  }
}

const v = (name: string, get: VariableDef['get'], extra: Partial<VariableDef> = {}): VariableDef => ({ name, get, ...extra });

/** CORE_VARIABLES are declared by the HTTP core module. */
export const CORE_VARIABLES: VariableDef[] = [
  // Unknown ("-" in logs) for a head whose request line never completed.
  v('uri', (r) => (r.method === '' && r.requestLine !== undefined ? undefined : r.uri), { nocache: true }),
  v('document_uri', (r) => r.uri, { nocache: true }),
  v('request_uri', (r) => r.unparsedUri || undefined),
  v('args', (r) => r.args, { nocache: true, set: (r, _n, val) => void (r.args = val) }),
  v('query_string', (r) => r.args, { nocache: true }),
  v('is_args', (r) => (r.args ? '?' : ''), { nocache: true }),
  v('arg_', (r, n) => argValue(r.args, n.slice(4)), { prefix: true, nocache: true }),
  v('http_', (r, n) => r.header(n.slice(5).replaceAll('_', '-')), { prefix: true }),
  v('cookie_', (r, n) => cookieValue(r, n.slice(7)), { prefix: true }),
  v('sent_http_', (r, n) => sentHeader(r, n.slice(10)), { prefix: true, nocache: true }),
  v('host', (r) => r.host || r.srv.serverNames[0]?.name || ''),
  v('hostname', () => os.hostname()),
  v('remote_addr', (r) => r.remoteAddress),
  v('binary_remote_addr', (r) => binaryAddr(r.remoteAddress)),
  v('remote_port', (r) => String(r.remotePort)),
  v('server_addr', (r) => r.conn.localAddress),
  v('server_port', (r) => String(r.conn.localPort)),
  v('server_name', (r) => r.srv.serverNames[0]?.name ?? ''),
  v('server_protocol', (r) => r.protocol),
  v('scheme', (r) => (r.conn.tls ? 'https' : 'http')),
  v('https', (r) => (r.conn.tls ? 'on' : '')),
  v('request_method', (r) => r.method || undefined, { nocache: true }),
  v('request', (r) => r.requestLine ?? `${r.method} ${r.unparsedUri} ${r.protocol}`),
  v('status', (r) => (r.out.status ? String(r.out.status).padStart(3, '0') : '000'), { nocache: true }),
  v('status_text', (r) => STATUS_TEXT[r.out.status] ?? '', { nocache: true }),
  v('body_bytes_sent', (r) => String(r.bodyBytesSent), { nocache: true }),
  v('bytes_sent', (r) => String(r.bytesSent), { nocache: true }),
  v('request_length', (r) => String(r.requestLength), { nocache: true }),
  v('request_time', (r) => (Number(process.hrtime.bigint() - r.startHr) / 1e9).toFixed(3), { nocache: true }),
  v('msec', () => (Date.now() / 1000).toFixed(3), { nocache: true }),
  v('time_local', () => timeLocal(), { nocache: true }),
  v('time_iso8601', () => timeIso8601(), { nocache: true }),
  v('connection', (r) => String(r.conn.id)),
  v('connection_requests', (r) => String(r.conn.requests + 1)),
  v('content_type', (r) => r.header('content-type')),
  v('content_length', (r) => r.header('content-length')),
  v('document_root', (r) => documentRoot(r), { nocache: true }),
  v('realpath_root', (r) => realpathOrUndefined(documentRoot(r)), { nocache: true }),
  v('request_filename', (r) => requestFilename(r), { nocache: true }),
  v('request_id', () => randomBytes(16).toString('hex')),
  v('request_body', (r) => (r.body ? Buffer.concat(r.body).toString('latin1') : undefined)),
  v('nginx_version', () => VERSION),
  v('pid', () => String(process.pid)),
  LIMIT_RATE_VARIABLE,
];
