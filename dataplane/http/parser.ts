/**
 * HTTP/1.x request head parser. It is handed the bytes received so far and either finds a complete head
 * (request line + headers) or says how much more it may wait for; it never buffers beyond the configured
 * limits (client_header_buffer_size / large_client_header_buffers). Smuggling shapes are refused here.
 */
import { normalizePath, percentDecode } from './parse-uri.ts';

/** HeadLimits: a request line or a header line longer than `lineMax` is refused; the head as a whole ≤ `headMax`. */
export interface HeadLimits {
  lineMax: number;
  headMax: number;
  mergeSlashes: boolean;
  underscoresInHeaders: boolean;
  ignoreInvalidHeaders: boolean;
}

/** ParsedHead is a request head; `headers` is a flat [name, value, name, value …] list in arrival order. */
export interface ParsedHead {
  method: string;
  /** The request target as received. */
  unparsedUri: string;
  /** The decoded, normalised path. */
  uri: string;
  args: string;
  /** Host from an absolute-form target, which wins over the Host header. */
  targetHost: string | undefined;
  httpMajor: number;
  httpMinor: number;
  headers: string[];
  host: string | undefined;
  contentLength: number;
  chunked: boolean;
  connection: string | undefined;
  expect: string | undefined;
  /** Bytes the head occupied, including the blank line. */
  length: number;
  /** The request line as received, when $request cannot be rebuilt from the parts (absolute-form targets). */
  requestLine?: string;
}

/** HeadError is a refused head: the status to answer with, and why (for the error log). */
export interface HeadError {
  status: number;
  reason: string;
}

const METHOD_RE = /^[A-Z_-]+$/;
const TOKEN_RE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/**
 * parseHead looks for a complete head at the start of `buf`. Returns the head, an error, or undefined when
 * more bytes are needed (after checking that what is there is still within limits).
 */
export function parseHead(buf: Buffer, limits: HeadLimits): ParsedHead | HeadError | undefined {
  // Empty lines before the request line are skipped, as nginx does (they count in the head's length).
  let start = 0;
  while (start < buf.length && (buf[start] === 13 || buf[start] === 10)) start++;
  if (start > 0 && start === buf.length) return start > limits.lineMax ? { status: 400, reason: 'client sent invalid request' } : undefined;
  let end = buf.indexOf('\r\n\r\n', start);
  let headLen = end + 4;
  const lf = buf.indexOf('\n\n', start);
  if (lf >= 0 && (end < 0 || lf < end)) {
    end = lf;
    headLen = lf + 2;
  }
  const body = start > 0 ? buf.subarray(start) : buf;
  if (end < 0) return checkPartial(body, limits);
  if (headLen - start > limits.headMax) return tooLarge(body, limits);
  const text = buf.toString('latin1', start, end);
  return parseText(text, headLen, limits);
}

function checkPartial(buf: Buffer, limits: HeadLimits): HeadError | undefined {
  // Skip leading empty lines before the request line, as nginx does.
  const firstNl = buf.indexOf('\n');
  if (firstNl < 0) {
    if (buf.length > limits.lineMax) return { status: 414, reason: 'client sent too long URI' };
    return undefined;
  }
  if (firstNl > limits.lineMax) return { status: 414, reason: 'client sent too long URI' };
  if (buf.length > limits.headMax) return tooLarge(buf, limits);
  // Any complete header line longer than the line limit is refused early.
  const lastNl = buf.lastIndexOf('\n');
  if (buf.length - lastNl - 1 > limits.lineMax) return { status: 494, reason: 'client sent too long header line' };
  return undefined;
}

function tooLarge(buf: Buffer, limits: HeadLimits): HeadError {
  const firstNl = buf.indexOf('\n');
  if (firstNl < 0 || firstNl > limits.lineMax) return { status: 414, reason: 'client sent too long URI' };
  return { status: 494, reason: 'client sent too long header line' };
}

function parseText(text: string, length: number, limits: HeadLimits): ParsedHead | HeadError {
  const lines = text.split('\n');
  let li = 0;
  while (li < lines.length && (lines[li] === '' || lines[li] === '\r')) li++;
  const reqLine = stripCr(lines[li++] ?? '');
  if (reqLine.length > limits.lineMax) return { status: 414, reason: 'client sent too long URI' };
  // Fields are separated by one or more spaces; trailing spaces are tolerated (nginx's parser does both).
  const parts = reqLine.split(' ').filter((p) => p !== '');
  if (parts.length !== 3) return { status: 400, reason: 'client sent invalid request' };
  const [method, target, version] = parts as [string, string, string];
  if (!METHOD_RE.test(method)) return { status: 400, reason: 'client sent invalid method' };
  const vm = /^HTTP\/([1-9]\d{0,2})\.(\d{1,3})$/.exec(version);
  if (!vm) return { status: 400, reason: 'client sent invalid request' };
  const httpMajor = Number(vm[1]);
  const httpMinor = Number(vm[2]);
  if (httpMajor !== 1) return { status: 505, reason: 'client sent unsupported HTTP version' };
  if (target.length === 0 || /[\s\x00-\x1f\x7f]/.test(target)) return { status: 400, reason: 'client sent invalid request' };

  let pathAndQuery = target;
  let targetHost: string | undefined;
  if (target[0] !== '/') {
    const m = /^[a-z][a-z0-9+.-]*:\/\/([^/?#]+)(.*)$/i.exec(target);
    if (!m) return { status: 400, reason: 'client sent invalid request' };
    targetHost = m[1]!.toLowerCase();
    pathAndQuery = m[2] || '/';
    if (pathAndQuery[0] !== '/') {
      if (pathAndQuery[0] !== '?') return { status: 400, reason: 'client sent invalid request' };
      pathAndQuery = '/' + pathAndQuery;
    }
  }
  const split = splitTarget(pathAndQuery, limits.mergeSlashes);
  if (split === undefined) return { status: 400, reason: 'client sent invalid request' };
  const { uri, args } = split;

  const headers: string[] = [];
  let host: string | undefined;
  let contentLength = -1;
  let chunked = false;
  let te: string | undefined;
  let connection: string | undefined;
  let expect: string | undefined;
  for (; li < lines.length; li++) {
    const line = stripCr(lines[li]!);
    if (line.length > limits.lineMax) return { status: 494, reason: 'client sent too long header line' };
    if (line.length === 0) continue;
    const c0 = line.charCodeAt(0);
    if (c0 === 32 || c0 === 9) return { status: 400, reason: 'client sent invalid header line' };
    const colon = line.indexOf(':');
    // A line without a colon is a header with an empty value, as nginx reads it.
    if (colon === 0) return { status: 400, reason: 'client sent invalid header line' };
    const name = colon < 0 ? line : line.slice(0, colon);
    if (!TOKEN_RE.test(name)) {
      if (/[\s\x00-\x1f\x7f]/.test(name) || !limits.ignoreInvalidHeaders) {
        return { status: 400, reason: 'client sent invalid header line' };
      }
      continue;
    }
    if (!limits.underscoresInHeaders && name.includes('_')) {
      if (!limits.ignoreInvalidHeaders) return { status: 400, reason: 'client sent invalid header line' };
      continue;
    }
    const value = colon < 0 ? '' : line.slice(colon + 1).trim();
    if (/[\x00\r\n]/.test(value)) return { status: 400, reason: 'client sent invalid header line' };
    headers.push(name, value);
    switch (name.length) {
      case 4:
        if (name.toLowerCase() === 'host') {
          if (host !== undefined) return { status: 400, reason: 'client sent duplicate host header' };
          host = value;
        }
        break;
      case 6:
        if (name.toLowerCase() === 'expect') expect = value;
        break;
      case 10:
        if (name.toLowerCase() === 'connection') connection = connection === undefined ? value : `${connection}, ${value}`;
        break;
      case 14:
        if (name.toLowerCase() === 'content-length') {
          if (contentLength !== -1) return { status: 400, reason: 'client sent duplicate header line: "Content-Length"' };
          if (!/^\d{1,15}$/.test(value)) return { status: 400, reason: 'client sent invalid "Content-Length" header' };
          contentLength = Number(value);
        }
        break;
      case 17:
        if (name.toLowerCase() === 'transfer-encoding') {
          if (te !== undefined) return { status: 400, reason: 'client sent duplicate header line: "Transfer-Encoding"' };
          te = value;
        }
        break;
    }
  }
  if (te !== undefined) {
    if (httpMinor === 0) return { status: 400, reason: 'client sent HTTP/1.0 request with "Transfer-Encoding" header' };
    if (contentLength !== -1) {
      return { status: 400, reason: 'client sent "Content-Length" and "Transfer-Encoding" headers at the same time' };
    }
    if (te.toLowerCase() !== 'chunked') return { status: 501, reason: `client sent unknown "Transfer-Encoding": "${te}"` };
    chunked = true;
  }
  if (host === undefined && httpMinor >= 1) return { status: 400, reason: 'client sent HTTP/1.1 request without "Host" header' };
  if (targetHost !== undefined) host = targetHost;
  if (host !== undefined) {
    const h = validateHost(host);
    if (h === undefined) return { status: 400, reason: 'client sent invalid host header' };
    host = h;
  } else if (httpMinor >= 1) {
    return { status: 400, reason: 'client sent HTTP/1.1 request without "Host" header' };
  }
  // $request_uri of an absolute-form target is its path and query, as nginx keeps it.
  const requestLine = targetHost === undefined ? undefined : `${method} ${target} ${version}`;
  return { requestLine, method, unparsedUri: targetHost === undefined ? target : pathAndQuery, uri, args, targetHost, httpMajor, httpMinor, headers, host, contentLength, chunked, connection, expect, length };
}

/** splitTarget turns an origin-form target (`/a/../b?x=1#f`) into the normalised URI and the args. */
export function splitTarget(target: string, mergeSlashes: boolean): { uri: string; args: string } | undefined {
  const hash = target.indexOf('#');
  if (hash >= 0) target = target.slice(0, hash);
  const q = target.indexOf('?');
  let decoded = percentDecode(q >= 0 ? target.slice(0, q) : target);
  if (decoded === undefined) return undefined;
  // Paths are bytes; valid UTF-8 becomes text so file names and configured (UTF-8) patterns match.
  if (/[\x80-\xff]/.test(decoded)) decoded = utf8IfValid(decoded);
  const uri = normalizePath(decoded, mergeSlashes);
  if (uri === undefined) return undefined;
  return { uri, args: q >= 0 ? target.slice(q + 1) : '' };
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

function utf8IfValid(bytes: string): string {
  try {
    return UTF8.decode(Buffer.from(bytes, 'latin1'));
  } catch {
    return bytes;
  }
}

function stripCr(line: string): string {
  return line.charCodeAt(line.length - 1) === 13 ? line.slice(0, -1) : line;
}

/** validateHost lowercases a Host value and drops the port and a trailing dot (ngx_http_validate_host). */
export function validateHost(host: string): string | undefined {
  let h = host.toLowerCase();
  if (h.length === 0) return undefined;
  if (h[0] === '[') {
    const close = h.indexOf(']');
    if (close < 0) return undefined;
    const rest = h.slice(close + 1);
    if (rest !== '' && !/^:\d*$/.test(rest)) return undefined;
    return h.slice(0, close + 1);
  }
  // Like ngx_http_validate_host, whatever follows the first colon is the port and is not checked.
  const colon = h.indexOf(':');
  if (colon >= 0) h = h.slice(0, colon);
  if (h.endsWith('.')) h = h.slice(0, -1);
  if (h.length === 0) return undefined;
  if (h.includes('/') || h.includes('\\') || h.includes('..') || h.startsWith('.') || /[\x00-\x20]/.test(h)) return undefined;
  return h;
}
