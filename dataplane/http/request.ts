/**
 * HttpRequest: one request and its response state (ngx_http_request_t). Transport specifics (HTTP/1 bytes,
 * HTTP/2 frames, an in-memory subrequest) sit behind ResponseSink and BodySource, so phases, modules and
 * filters are shared by every transport.
 */
import type { CoreLocConf, CoreSrvConf } from './core-conf.ts';
import type { HttpRuntime } from './runtime.ts';
import type { ParsedHead } from './parser.ts';
import type { ProxyAddrs } from '../event/proxy-protocol.ts';

/** ResponseHead is what a handler fills before sending the header (ngx_http_headers_out_t). */
export interface ResponseHead {
  status: number;
  /** Raw status text when an upstream supplied one. */
  statusText?: string;
  contentType?: string;
  charset?: string;
  /** -1 when unknown (chunked, or close-delimited for HTTP/1.0). */
  contentLength: number;
  lastModified?: number;
  etag?: string;
  location?: string;
  /** Server and Date passed from an upstream (proxy_pass_header) replace our own. */
  server?: string;
  date?: string;
  /** Every other header, flat: [name, value, name, value …]. */
  headers: string[];
  /** Trailers, flat; set (even empty) before the head is sent to announce them (HTTP/2, gRPC). */
  trailers?: string[];
}

/** ResponseSink writes a serialized response: HTTP/1 to a socket, HTTP/2 to a stream, a subrequest to memory. */
export interface ResponseSink {
  sendHead(r: HttpRequest): void;
  /** Returns false when the transport buffer is full; wait for onDrain before sending more. */
  sendBody(r: HttpRequest, chunk: Buffer | null, last: boolean): boolean;
  onDrain(r: HttpRequest, cb: () => void): void;
}

/** BodyReader receives the request body: chunks as they arrive (if wanted), then the end or an error status. */
export interface BodyReader {
  onData?: (chunk: Buffer) => void;
  onEnd: (status: number) => void;
}

/** ConnectionInfo is what a request needs to know of its connection (addresses, TLS, counters). */
export interface ConnectionInfo {
  readonly id: number;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly localAddress: string;
  readonly localPort: number;
  readonly tls: import('node:tls').TLSSocket | undefined;
  /** What a PROXY protocol header said (listen … proxy_protocol), if the connection had one. */
  readonly proxyProtocol?: ProxyProtocolInfo;
  requests: number;
  /** Starts reading the request body of `r` (once); 0 status = body complete. */
  readBody(r: HttpRequest, reader: BodyReader): void;
  /** Drops the rest of the request body so the connection can be reused. */
  discardBody(r: HttpRequest): void;
  /** Called when the client goes away mid-request (proxy: 499 and stop the upstream); unset → terminate 499. */
  onClientClose?: (() => void) | undefined;
  /**
   * takeSocket hands the connection's socket to a tunnel (101 Switching Protocols, CONNECT-like upgrades): the
   * connection stops reading and timing it and returns the bytes it had already buffered. Transports that
   * cannot be tunnelled (HTTP/2 streams) leave it undefined.
   */
  takeSocket?(r: HttpRequest): { socket: import('node:net').Socket; buffered: Buffer | undefined } | undefined;
  /** Aborts the connection without a response (444, 499, errors after the header went out). */
  abort(r: HttpRequest): void;
  /** Called when the response has been fully produced and logged. */
  requestDone(r: HttpRequest): void;
  /** Milliseconds timestamp the connection was accepted. */
  readonly startTime: number;
}

/** ProxyProtocolInfo is the client and server address a PROXY protocol (v1 or v2) header carried. */
export type ProxyProtocolInfo = ProxyAddrs;

let requestIds = 0;

export class HttpRequest {
  readonly conn: ConnectionInfo;
  readonly http: HttpRuntime;
  sink: ResponseSink;
  /** The main request (itself for a client request; the parent's main for a subrequest). */
  main: HttpRequest;
  parent: HttpRequest | undefined;

  srv: CoreSrvConf;
  loc: CoreLocConf;
  /** The client address as the request sees it: the peer's, or what realip trusted (set_real_ip_from). */
  remoteAddress: string;
  remotePort: number;
  serverCaptures: RegExpExecArray | undefined;
  captures: RegExpExecArray | undefined;

  method: string;
  unparsedUri: string;
  uri: string;
  args: string;
  httpMajor: number;
  httpMinor: number;
  headers: string[];
  #headerMap: Map<string, string> | undefined;
  /** Validated Host (lowercase, no port), or '' when absent. */
  host: string;
  contentLength: number;
  chunked: boolean;
  keepalive: boolean;
  expectContinue: boolean;
  requestLength: number;

  phaseIndex = 0;
  uriChanged = false;
  /** False once the URI was changed (rewrite, internal redirect): proxies then send `uri` instead of `unparsedUri`. */
  validUnparsedUri = true;
  /** False after `rewrite … break` changed the URI inside the location: proxy_pass ignores its URI part. */
  validLocation = true;
  uriChanges = 11;
  internal = false;
  errorPage = false;
  /** The status an error_page redirect answers with whatever the page's handler sets (nginx's err_status); 0 = none. */
  errStatus = 0;
  accessCode = 0;
  /** The content handler chosen at find-config (the location's). */
  contentHandler: ((r: HttpRequest) => number) | undefined;

  out: ResponseHead = { status: 0, contentLength: -1, headers: [] };
  headerSent = false;
  responseDone = false;
  finalized = false;
  headerOnly = false;
  /** The request line as received, when it could not be parsed in full (refused or timed-out heads). */
  requestLine: string | undefined;
  /** Set when discarding the body found it malformed before the response started (400/413): answer with it. */
  discardError = 0;
  /** The page a header filter substituted for the handler's body (see HttpRuntime.filterFinalize). */
  replacement: Buffer | undefined;
  /** The response may be cut into byte ranges (set by handlers of static content; nginx's allow_ranges). */
  allowRanges = false;
  bytesSent = 0;
  bodyBytesSent = 0;
  /** The response rate in bytes per second once set or applied ($limit_rate, X-Accel-Limit-Rate); 0 = none. */
  limitRate: number | undefined;
  /** Holds a rate-limited response's bytes until they may go out (limit-rate.ts); undefined when unthrottled. */
  pacer: import('./limit-rate.ts').Pacer | undefined;
  bodyRead = false;
  /** The request body, when a module read it into memory (client_body_buffer_size is the bound). */
  body: Buffer[] | undefined;
  /** Per-module request state (nginx's r->ctx[]), by module index; internal redirects clear it. */
  readonly ctx: unknown[] = [];
  /** Per-module state that internal redirects keep (what nginx keeps on r->main, e.g. limit_req_status). */
  readonly mainCtx: unknown[] = [];
  /** Functions run once when the request is over, after the log phase (nginx's pool cleanups). */
  cleanups: (() => void)[] | undefined;
  /** Variable values cached for this request. */
  readonly vars = new Map<string, string | undefined>();
  /** Values of `set` variables; unlike the cache they survive internal redirects, as nginx's r->variables. */
  userVars: Map<string, string> | undefined;
  readonly startTime: number;
  readonly startHr: bigint;
  readonly id: number;
  /** Set on requests that stop the connection after the response (Connection: close, errors). */
  lingering = false;
  /** Subrequests started under this (main) request, against MAX_SUBREQUESTS. */
  subrequests = 0;
  /** For a subrequest: called once it is finalized (set by startSubrequest). */
  onSubrequestDone: (() => void) | undefined;
  /** For a subrequest with captureBody: the body it produced (up to the bound), and whether more was dropped. */
  subrequestBody: Buffer | undefined;
  subrequestTruncated = false;

  constructor(conn: ConnectionInfo, http: HttpRuntime, sink: ResponseSink, head: ParsedHead, srv: CoreSrvConf) {
    this.conn = conn;
    this.http = http;
    this.sink = sink;
    this.main = this;
    this.parent = undefined;
    this.srv = srv;
    this.loc = srv.loc;
    this.remoteAddress = conn.remoteAddress;
    this.remotePort = conn.remotePort;
    this.serverCaptures = undefined;
    this.captures = undefined;
    this.method = head.method;
    this.unparsedUri = head.unparsedUri;
    this.uri = head.uri;
    this.args = head.args;
    this.httpMajor = head.httpMajor;
    this.httpMinor = head.httpMinor;
    this.headers = head.headers;
    this.host = head.host ?? '';
    this.contentLength = head.contentLength;
    this.chunked = head.chunked;
    this.keepalive = head.httpMinor >= 1 ? !hasToken(head.connection, 'close') : hasToken(head.connection, 'keep-alive');
    this.expectContinue = head.httpMinor >= 1 && head.expect !== undefined && head.expect.toLowerCase() === '100-continue';
    this.requestLength = head.length;
    this.requestLine = head.requestLine;
    this.headerOnly = head.method === 'HEAD';
    this.startTime = Date.now();
    this.startHr = process.hrtime.bigint();
    this.id = ++requestIds;
  }

  get protocol(): string {
    return this.httpMajor === 2 ? 'HTTP/2.0' : `HTTP/${this.httpMajor}.${this.httpMinor}`;
  }

  /** hasBody: the request announced a body (Content-Length > 0 or chunked). */
  get hasBody(): boolean {
    return this.contentLength > 0 || this.chunked;
  }

  /** header returns a request header's value by lowercase name (the first one for repeated headers). */
  header(lname: string): string | undefined {
    if (this.#headerMap === undefined) {
      const map = new Map<string, string>();
      const h = this.headers;
      for (let i = 0; i < h.length; i += 2) {
        const k = h[i]!.toLowerCase();
        const cur = map.get(k);
        // Repeated headers join as nginx's $http_ variables do: cookies with "; ", others with ", ".
        map.set(k, cur === undefined ? h[i + 1]! : `${cur}${k === 'cookie' ? '; ' : ', '}${h[i + 1]}`);
      }
      this.#headerMap = map;
    }
    return this.#headerMap.get(lname);
  }

  /** setHeaders replaces the request headers (used by subrequests and real-ip style modules). */
  setHeaders(headers: string[]): void {
    this.headers = headers;
    this.#headerMap = undefined;
  }

  /** onCleanup registers a function run once when the main request is over (after logging). */
  onCleanup(fn: () => void): void {
    (this.main.cleanups ??= []).push(fn);
  }

  /** addHeader appends a response header (flat list). */
  addHeader(name: string, value: string): void {
    this.out.headers.push(name, value);
  }

  /** sendHeader runs the header filter chain (which ends in the sink). */
  sendHeader(): number {
    if (this.headerSent) return 0;
    this.headerSent = true;
    if (this.errStatus !== 0) {
      this.out.status = this.errStatus;
      this.out.statusText = undefined;
    } else if (this.out.status === 0) this.out.status = 200;
    return this.http.headerFilter(this);
  }

  /** send passes a body chunk (or just `last`) through the body filter chain. */
  send(chunk: Buffer | null, last: boolean): number {
    if (!this.headerSent) this.sendHeader();
    if (this.responseDone) return 0;
    if (this.replacement !== undefined) {
      // A header filter answered with its own page (412, 416): the handler's bytes are dropped.
      if (!last) return 0;
      return this.http.bodyFilter(this, this.headerOnly ? null : this.replacement, true);
    }
    return this.http.bodyFilter(this, chunk, last);
  }

  /** respond sends a complete in-memory response (head and body) and returns OK; HEAD gets the head only. */
  respond(status: number, contentType: string | undefined, body: Buffer): number {
    const o = this.out;
    o.status = status;
    o.contentType = contentType;
    o.contentLength = body.length;
    this.sendHeader();
    this.send(this.headerOnly ? null : body, true);
    return 0;
  }

  /**
   * subrequest runs `uri?args` as a child request whose response stays in memory; `done` gets the child when it
   * is finalized (its `out.status`, `out.headers`, and `subrequestBody` if captured). Returns false when the
   * request tree already has MAX_SUBREQUESTS subrequests.
   */
  subrequest(uri: string, args: string, opts: import('./subrequest.ts').SubrequestOptions, done: (sr: HttpRequest) => void): boolean {
    return this.http.subrequest(this, uri, args, opts, done) !== undefined;
  }

  /** finalize ends the request with a handler's return code (ngx_http_finalize_request). */
  finalize(rc: number): void {
    this.http.finalize(this, rc);
  }
}

/** hasToken tests a comma-separated header value for a token, case-insensitively. */
export function hasToken(value: string | undefined, token: string): boolean {
  if (value === undefined) return false;
  const v = value.toLowerCase();
  if (v === token) return true;
  return v.split(',').some((t) => t.trim() === token);
}
