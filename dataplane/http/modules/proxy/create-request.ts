/**
 * Building the upstream request (ngx_http_proxy_create_request): the URI by nginx's replacement rules, the
 * request line, the compiled proxy_set_header rows (empty values are not sent), the client's other headers,
 * and the body framing.
 */
import type { HttpRequest } from '../../request.ts';
import { evaluate } from '../../variables.ts';
import type { ProxyLocConf, ProxyPass } from './conf.ts';

const HEX = '0123456789ABCDEF';

/** escapeUri percent-encodes what nginx's NGX_ESCAPE_URI does: controls, space, #, %, ?, and bytes ≥ 0x7f. */
export function escapeUri(s: string): string {
  let i = 0;
  for (; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c <= 0x20 || c === 0x23 || c === 0x25 || c === 0x3f || c >= 0x7f) break;
  }
  if (i === s.length) return s;
  let out = s.slice(0, i);
  for (; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c <= 0x20 || c === 0x23 || c === 0x25 || c === 0x3f || c >= 0x7f) out += '%' + HEX[(c >> 4) & 15] + HEX[c & 15];
    else out += s[i];
  }
  return out;
}

function withArgs(r: HttpRequest, path: string): string {
  return r.args ? `${path}?${r.args}` : path;
}

/**
 * upstreamUri applies nginx's rules: without a URI part the client's URI goes as received (or, once changed,
 * the normalised URI re-escaped); with a URI part the part of the URI matching the prefix location is replaced;
 * after `rewrite … break` the URI part is ignored and the whole changed URI is sent. With variables, an
 * evaluated URL's URI part is sent as is.
 */
export function upstreamUri(r: HttpRequest, pass: ProxyPass, uriPart: string): string {
  if (pass.url !== undefined) {
    if (uriPart !== '') return uriPart;
  } else if (uriPart !== '') {
    if (!r.validLocation) return withArgs(r, escapeUri(r.uri));
    const prefix = pass.locMatch === '' || pass.locMatch === '^~' || pass.locMatch === '=' ? pass.locName : '';
    const tail = prefix && r.uri.startsWith(prefix) ? r.uri.slice(prefix.length) : r.uri;
    return withArgs(r, uriPart + escapeUri(tail));
  }
  if (r.validUnparsedUri && !r.internal) return r.unparsedUri;
  return withArgs(r, escapeUri(r.uri));
}

/**
 * createHead renders the request line and headers. `bodyLength` ≥ 0 adds Content-Length; -2 means the body is
 * streamed chunked. Returns the head and whether the Connection header we send allows keep-alive.
 */
export function createHead(r: HttpRequest, conf: ProxyLocConf, uri: string, bodyLength: number): { head: string; keepalive: boolean } {
  let h = `${r.method} ${uri} HTTP/${conf.httpVersion}\r\n`;
  let connection = '';
  for (const row of conf.headers!) {
    const v = row.value.constant ?? evaluate(r, row.value);
    if (v === '') continue;
    if (row.name.length === 10 && row.name.toLowerCase() === 'connection') connection = v.toLowerCase();
    h += `${row.name}: ${v}\r\n`;
  }
  if (bodyLength >= 0 && (bodyLength > 0 || r.hasBody || r.method === 'POST' || r.method === 'PUT' || r.method === 'PATCH')) h += `Content-Length: ${bodyLength}\r\n`;
  else if (bodyLength === -2) h += 'Transfer-Encoding: chunked\r\n';
  if (conf.passRequestHeaders) {
    const skip = conf.overridden!;
    const hs = r.headers;
    for (let i = 0; i < hs.length; i += 2) {
      const name = hs[i]!;
      if (skip.has(name.toLowerCase())) continue;
      h += `${name}: ${hs[i + 1]}\r\n`;
    }
  }
  const keepalive = conf.httpVersion === '1.1' && connection !== 'close' && !connection.includes('upgrade');
  return { head: h + '\r\n', keepalive };
}
