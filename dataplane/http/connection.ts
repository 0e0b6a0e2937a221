/**
 * An HTTP/1.x connection: reads request heads (bounded), runs one request at a time (pipelined requests
 * wait in the buffer), reads or discards request bodies, writes responses (Content-Length or chunked), and
 * keeps the connection alive between requests. Each new request reads the listening slot again, so a
 * reload applies to the next request on a kept-alive connection.
 * It stays one file past the usual size on purpose: the read, body and write states share private fields on the
 * hot path, and splitting them would add indirection per request (the exception STYLE.md allows the parser).
 */
import type net from 'node:net';
import type { ListenSlot } from '../core/cycle.ts';
import { IDLE_CLOSER } from '../event/listeners.ts';
import { Deadline } from '../event/deadline.ts';
import { countRead } from '../event/read-gc.ts';
import { holdWrites } from '../event/write-batch.ts';
import { ChunkedDecoder } from './chunked.ts';
import { parseHead, splitTarget, type HeadLimits, type ParsedHead } from './parser.ts';
import { proxyInfoOf } from './proxy-protocol.ts';
import { limitRateOf, startPacing, type PacedOutput, type Pacer } from './limit-rate.ts';
import { HttpRequest, type BodyReader, type ConnectionInfo, type ProxyProtocolInfo, type ResponseSink } from './request.ts';
import { addrConfOf, type HttpAddrConf, type HttpListenCtx } from './listen-ctx.ts';
import { STAT, type HttpStats } from './stats.ts';
import { serializeHead } from './write.ts';

const HEAD = 0;
const BUSY = 1;
const CLOSED = 2;
/** The socket was handed to a tunnel (WebSocket, Upgrade): this connection no longer reads or times it. */
const TUNNEL = 3;

let connectionIds = 0;

/** nextConnectionId numbers connections of every HTTP transport ($connection). */
export function nextConnectionId(): number {
  return ++connectionIds;
}

/** Bytes kept from a client while a request is being handled before reading pauses (pipelining bound). */
const PIPELINE_HOLD = 64 * 1024;

const CRLF = Buffer.from('\r\n');
const LAST_CHUNK = Buffer.from('0\r\n\r\n');

export class Http1Connection implements ConnectionInfo, ResponseSink {
  readonly socket: net.Socket;
  readonly slot: ListenSlot;
  readonly id = nextConnectionId();
  readonly startTime = Date.now();
  readonly remoteAddress: string;
  readonly remotePort: number;
  #localAddress: string | undefined;
  #localPort = -1;
  readonly tls: import('node:tls').TLSSocket | undefined;
  requests = 0;
  proxyProtocol: ProxyProtocolInfo | undefined;

  #state = HEAD;
  #buf: Buffer | undefined;
  #req: HttpRequest | undefined;
  /** The connection's one timeout (read, send, keep-alive, lingering close), moved lazily. */
  readonly #deadline = new Deadline(() => this.#onTimeout());
  #parsing = false;
  #paused = false;
  // Request body state.
  #reader: BodyReader | undefined;
  #remaining = 0;
  #decoder: ChunkedDecoder | undefined;
  #bodyDone = true;
  #discarding = false;
  // Response state.
  #head: string | undefined;
  #chunkedOut = false;
  #noBody = false;
  #closeAfter = false;
  #aborted = false;
  /** The socket as a rate-limited response's output (limit-rate.ts), made on the first paced response. */
  #paced: PacedOutput | undefined;
  /** Shared counters (stub_status), and which of reading/writing this connection is counted in (0: neither). */
  readonly #stats: HttpStats | undefined;
  #statState = 0;
  /** Set when plain HTTP arrived on a TLS address: every request is answered with 497 (nginx's NGX_HTTP_TO_HTTPS). */
  plainOnSslPort = false;
  /** Handlers that want to know when the client goes away mid-request (proxy: 499 and stop the upstream). */
  onClientClose: (() => void) | undefined;

  /** `peeked` says the PROXY header was already read before the TLS layer (see peek.ts). */
  constructor(socket: net.Socket, slot: ListenSlot, tls?: import('node:tls').TLSSocket, peeked?: { proxy: ProxyProtocolInfo | null }) {
    this.socket = socket;
    this.slot = slot;
    this.tls = tls;
    this.remoteAddress = stripV4Mapped(socket.remoteAddress ?? '');
    this.remotePort = socket.remotePort ?? 0;
    socket.on('data', (chunk: Buffer) => {
      countRead(chunk.length);
      this.#onData(chunk);
    });
    socket.on('end', () => this.#onEnd());
    socket.on('close', () => this.#onClose());
    socket.on('error', () => {});
    (socket as net.Socket & { [IDLE_CLOSER]?: () => boolean })[IDLE_CLOSER] = () => this.closeIdle();
    const addr = this.#addr();
    // The PROXY header was read before any protocol (proxy-protocol.ts); peek.ts passes it on for TLS/h2c.
    this.proxyProtocol = peeked ? (peeked.proxy ?? undefined) : proxyInfoOf(tls ?? socket);
    this.#arm(addr.defaultSrv.clientHeaderTimeout!);
    const st = (this.#stats = addr.runtime.main.stats);
    if (st) {
      st.add(STAT.ACCEPTED, 1n);
      st.add(STAT.HANDLED, 1n);
      st.add(STAT.ACTIVE, 1n);
    }
  }

  /** #count moves this connection between the reading (1), writing (2) and waiting (0) counters. */
  #count(state: number): void {
    const st = this.#stats;
    if (!st || state === this.#statState) return;
    if (this.#statState === 1) st.add(STAT.READING, -1n);
    else if (this.#statState === 2) st.add(STAT.WRITING, -1n);
    if (state === 1) st.add(STAT.READING, 1n);
    else if (state === 2) st.add(STAT.WRITING, 1n);
    this.#statState = state;
  }

  /** localAddress is read on first use: most connections never need it, and it costs a system call. */
  get localAddress(): string {
    return (this.#localAddress ??= stripV4Mapped(this.socket.localAddress ?? ''));
  }

  get localPort(): number {
    if (this.#localPort < 0) this.#localPort = this.socket.localPort ?? 0;
    return this.#localPort;
  }

  #addr(): HttpAddrConf {
    // Only a wildcard socket that also serves specific addresses needs the local address (a getsockname).
    const ctx = this.slot.current.ctx as HttpListenCtx;
    return ctx.byAddr ? addrConfOf(this.slot, this.localAddress) : ctx.fallback;
  }

  #arm(ms: number): void {
    this.#deadline.arm(ms);
  }

  #disarm(): void {
    this.#deadline.disarm();
  }

  #clearTimer(): void {
    this.#deadline.clear();
  }

  #onTimeout(): void {
    const r = this.#req;
    if (this.#state === CLOSED) {
      // The lingering close ran out of patience.
      this.socket.destroy();
      return;
    }
    if (this.#state === HEAD) {
      // An idle keep-alive connection closes silently; a head that never completed is a 408 in the log.
      if (this.#buf !== undefined && this.#buf.length > 0) {
        const addr = this.#addr();
        addr.runtime.cycle.log?.log('info', `*${this.id} client timed out while reading client request headers, client: ${this.remoteAddress}`);
        const rr = this.#placeholder(addr, this.#buf);
        this.#buf = undefined;
        addr.runtime.terminate(rr, 408);
        return;
      }
      this.#close();
      return;
    }
    if (r && this.#reader && !this.#bodyDone) {
      r.http.cycle.log?.log('info', `*${this.id} client timed out while reading client request body`);
      const reader = this.#reader;
      this.#reader = undefined;
      this.#bodyDone = true;
      reader.onEnd(408);
      return;
    }
    if (r && r.headerSent) {
      r.http.cycle.log?.log('info', `*${this.id} client timed out while sending response to client`);
      r.http.terminate(r, 408);
    }
  }

  #onData(chunk: Buffer): void {
    if (this.#state === CLOSED) return;
    if (this.#reader && !this.#bodyDone) {
      this.#feedBody(chunk);
      return;
    }
    const fresh = this.#buf === undefined || this.#buf.length === 0;
    this.#buf = fresh ? chunk : Buffer.concat([this.#buf!, chunk]);
    if (this.#state === HEAD) {
      // The first bytes of a request on a kept-alive connection: client_header_timeout replaces keepalive_timeout.
      if (fresh && this.requests > 0) this.#arm(this.#addr().defaultSrv.clientHeaderTimeout!);
      if (this.#stats) this.#count(1);
      this.#parse();
    }
    else if (this.#buf.length > PIPELINE_HOLD && !this.#paused) {
      this.#paused = true;
      this.socket.pause();
    }
  }

  #parse(): void {
    if (this.#parsing) return;
    this.#parsing = true;
    try {
      while (this.#state === HEAD && this.#buf !== undefined && this.#buf.length > 0) {
        const addr = this.#addr();
        const res = parseHead(this.#buf, addr.limits);
        if (res === undefined) {
          if (!this.#deadline.armed) this.#arm(addr.defaultSrv.clientHeaderTimeout!);
          return;
        }
        if ('status' in res) {
          addr.runtime.cycle.log?.log('info', `*${this.id} ${res.reason} while reading client request headers, client: ${this.remoteAddress}`);
          const seen = this.#buf;
          this.#buf = undefined;
          this.#rejectHead(addr, res.status, seen);
          return;
        }
        this.#buf = res.length < this.#buf.length ? this.#buf.subarray(res.length) : undefined;
        this.#startRequest(addr, res);
      }
    } finally {
      this.#parsing = false;
    }
  }

  #startRequest(addr: HttpAddrConf, head: ParsedHead): void {
    this.#disarm();
    const { srv, captures } = addr.names.find(head.host ?? '');
    const r = new HttpRequest(this, addr.runtime, this, head, srv);
    r.serverCaptures = captures;
    if (this.#stats) {
      this.#count(2);
      this.#stats.add(STAT.REQUESTS, 1n);
    }
    this.#req = r;
    this.#state = BUSY;
    this.#bodyDone = !r.hasBody;
    this.#remaining = r.chunked ? 0 : Math.max(0, r.contentLength);
    this.#decoder = r.chunked ? new ChunkedDecoder() : undefined;
    this.#head = undefined;
    this.#chunkedOut = false;
    this.#noBody = false;
    this.#closeAfter = false;
    if (this.plainOnSslPort) {
      addr.runtime.cycle.log?.log('info', `*${this.id} client sent plain HTTP request to HTTPS port while reading client request headers, client: ${this.remoteAddress}`);
      r.keepalive = false;
      addr.runtime.finalize(r, 497);
      return;
    }
    addr.runtime.start(r);
  }

  /** A request for a head that was never parsed (refused, or timed out): the default server answers and logs it. */
  #placeholder(addr: HttpAddrConf, seen: Buffer | undefined): HttpRequest {
    const head: ParsedHead = {
      method: 'GET', unparsedUri: '', uri: '', args: '', targetHost: undefined, httpMajor: 1, httpMinor: 1,
      headers: [], host: undefined, contentLength: -1, chunked: false, connection: 'close', expect: undefined, length: 0,
    };
    const r = new HttpRequest(this, addr.runtime, this, head, addr.defaultSrv);
    r.method = '';
    r.keepalive = false;
    if (seen !== undefined) describeSeen(r, seen, addr.limits.mergeSlashes);
    this.#req = r;
    return r;
  }

  /** A head we refused: answer with nginx's page for the status, then close. */
  #rejectHead(addr: HttpAddrConf, status: number, seen: Buffer | undefined): void {
    const r = this.#placeholder(addr, seen);
    this.#state = BUSY;
    this.#bodyDone = true;
    this.#head = undefined;
    this.#chunkedOut = false;
    this.#noBody = false;
    this.#closeAfter = true;
    addr.runtime.finalize(r, status);
  }

  // ---- request body ----

  readBody(r: HttpRequest, reader: BodyReader): void {
    if (this.#reader || r !== this.#req) {
      reader.onEnd(500);
      return;
    }
    if (this.#bodyDone) {
      r.bodyRead = true;
      reader.onEnd(0);
      return;
    }
    this.#reader = reader;
    if (r.expectContinue && this.#buf === undefined) {
      r.expectContinue = false;
      this.socket.write('HTTP/1.1 100 Continue\r\n\r\n');
    }
    this.#arm(r.loc.clientBodyTimeout!);
    if (this.#paused) {
      this.#paused = false;
      this.socket.resume();
    }
    const buf = this.#buf;
    this.#buf = undefined;
    if (buf && buf.length > 0) this.#feedBody(buf);
  }

  discardBody(r: HttpRequest): void {
    if (this.#bodyDone || this.#reader || r !== this.#req) return;
    if (r.expectContinue && (this.#buf === undefined || this.#buf.length === 0)) {
      // The client waits for "100 Continue" and may never send the body: answer, then close.
      r.keepalive = false;
      return;
    }
    this.#discarding = true;
    this.readBody(r, { onData: () => {}, onEnd: () => {} });
  }

  #feedBody(chunk: Buffer): void {
    const r = this.#req!;
    const reader = this.#reader!;
    let consumed: number;
    let data: Buffer[] | undefined;
    const emit = reader.onData ?? ((d: Buffer) => (data ??= []).push(d));
    if (this.#decoder) {
      consumed = this.#decoder.decode(chunk, (d) => emit(d));
      if (consumed < 0) return this.#bodyError(r, 400, `client sent invalid chunked body`);
      const max = r.loc.clientMaxBodySize!;
      if (max > 0 && this.#decoder.total > max && !this.#discarding) {
        return this.#bodyError(r, 413, `client intended to send too large chunked body: ${this.#decoder.total} bytes`);
      }
      if (this.#decoder.done) this.#bodyDone = true;
    } else {
      consumed = Math.min(this.#remaining, chunk.length);
      if (consumed > 0) emit(consumed === chunk.length ? chunk : chunk.subarray(0, consumed));
      this.#remaining -= consumed;
      if (this.#remaining === 0) this.#bodyDone = true;
    }
    if (data) (r.body ??= []).push(...data);
    r.requestLength += consumed;
    if (consumed < chunk.length) this.#buf = chunk.subarray(consumed);
    if (this.#bodyDone) {
      this.#reader = undefined;
      r.bodyRead = true;
      if (this.#discarding) {
        this.#discarding = false;
        if (r.finalized) this.#next();
      } else {
        this.#disarm();
        reader.onEnd(0);
      }
    } else {
      this.#arm(r.loc.clientBodyTimeout!);
    }
  }

  #bodyError(r: HttpRequest, status: number, why: string): void {
    r.http.cycle.log?.log('info', `*${this.id} ${why}`);
    const reader = this.#reader!;
    this.#reader = undefined;
    this.#bodyDone = true;
    r.keepalive = false;
    this.#closeAfter = true;
    if (this.#discarding) {
      this.#discarding = false;
      // Found before the answer went out (the body was already buffered): the handler answers with the error,
      // as nginx's ngx_http_discard_request_body does; afterwards there is no one to tell, so just close.
      if (!r.headerSent && !r.finalized) r.discardError = status;
      else this.#close();
      return;
    }
    reader.onEnd(status);
  }

  // ---- response ----

  sendHead(r: HttpRequest): void {
    const clcf = r.loc;
    if (r.keepalive) {
      if (this.requests + 1 >= clcf.keepaliveRequests! || clcf.keepaliveTimeout === 0 || this.#closeAfter || this.slot.draining) {
        r.keepalive = false;
      }
    }
    const status = r.out.status;
    this.#noBody = r.headerOnly || status === 204 || status === 304 || (status >= 100 && status < 200);
    this.#chunkedOut = false;
    if (r.out.contentLength < 0 && !this.#noBody) {
      if (r.httpMinor >= 1 && clcf.chunkedTransferEncoding) this.#chunkedOut = true;
      else r.keepalive = false;
    }
    this.#head = serializeHead(r, this.#chunkedOut);
    if (limitRateOf(r) > 0) startPacing(r, this.#paced ??= this.#pacedOutput(), 0);
  }

  #pacedOutput(): PacedOutput {
    const socket = this.socket;
    return {
      write: (b) => {
        if (this.#state === CLOSED) return false;
        socket.write(b);
        // Paced bytes are progress: send_timeout counts from the last of them, as nginx's delayed writes do.
        const r = this.#req;
        if (r !== undefined) this.#arm(r.loc.sendTimeout!);
        return socket.writableLength < socket.writableHighWaterMark;
      },
      onDrain: (cb) => socket.once('drain', cb),
    };
  }

  /** #sendPaced frames like sendBody and hands the bytes to the request's pacer instead of the socket. */
  #sendPaced(r: HttpRequest, pacer: Pacer, chunk: Buffer | null, last: boolean): boolean {
    const parts: Buffer[] = [];
    const head = this.#head;
    this.#head = undefined;
    if (head !== undefined) parts.push(Buffer.from(head, 'latin1'));
    if (!this.#noBody && chunk !== null && chunk.length > 0) {
      r.bodyBytesSent += chunk.length;
      if (this.#chunkedOut) parts.push(Buffer.from(chunk.length.toString(16) + '\r\n', 'latin1'), chunk, CRLF);
      else parts.push(chunk);
    }
    if (this.#chunkedOut && last) parts.push(LAST_CHUNK);
    if (parts.length === 0) return !pacer.busy && this.socket.writableLength < this.socket.writableHighWaterMark;
    const out = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
    r.bytesSent += out.length;
    const ok = pacer.write(out);
    if (r.headerSent) this.#arm(r.loc.sendTimeout!);
    return ok;
  }

  sendBody(r: HttpRequest, chunk: Buffer | null, last: boolean): boolean {
    if (this.#state === CLOSED) return false;
    const pacer = r.pacer;
    if (pacer !== undefined) return this.#sendPaced(r, pacer, chunk, last);
    const socket = this.socket;
    // Small writes wait for the end of this I/O round (write-batch.ts); large ones go out at once so a slow
    // reader's kernel buffer takes them and nothing extra is held in memory.
    if (chunk === null || chunk.length <= 16384) holdWrites(socket);
    const head = this.#head;
    this.#head = undefined;
    let payload: Buffer | string | undefined;
    if (this.#noBody || chunk === null || chunk.length === 0) {
      if (this.#chunkedOut && last) payload = head === undefined ? '0\r\n\r\n' : head + '0\r\n\r\n';
      else payload = head;
      if (payload !== undefined) {
        const n = Buffer.byteLength(payload, 'latin1');
        r.bytesSent += n;
        socket.write(payload, 'latin1');
      }
    } else {
      r.bodyBytesSent += chunk.length;
      if (this.#chunkedOut) {
        const pre = (head ?? '') + chunk.length.toString(16) + '\r\n';
        const post = last ? '\r\n0\r\n\r\n' : '\r\n';
        const out = Buffer.allocUnsafe(pre.length + chunk.length + post.length);
        out.write(pre, 0, 'latin1');
        chunk.copy(out, pre.length);
        out.write(post, pre.length + chunk.length, 'latin1');
        r.bytesSent += out.length;
        socket.write(out);
      } else if (head !== undefined) {
        if (chunk.length <= 16384) {
          const out = Buffer.allocUnsafe(head.length + chunk.length);
          out.write(head, 0, 'latin1');
          chunk.copy(out, head.length);
          r.bytesSent += out.length;
          socket.write(out);
        } else {
          socket.cork();
          socket.write(head, 'latin1');
          socket.write(chunk);
          socket.uncork();
          r.bytesSent += head.length + chunk.length;
        }
      } else {
        r.bytesSent += chunk.length;
        socket.write(chunk);
      }
    }
    if (r.headerSent) this.#arm(r.loc.sendTimeout!);
    return socket.writableLength < socket.writableHighWaterMark;
  }

  onDrain(r: HttpRequest, cb: () => void): void {
    const pacer = r.pacer;
    if (pacer !== undefined && pacer.busy) pacer.onIdle(cb);
    else this.socket.once('drain', cb);
  }

  // ---- lifecycle ----

  requestDone(r: HttpRequest): void {
    if (r !== this.#req || this.#state === TUNNEL) return;
    if (r.pacer !== undefined) r.pacer.close();
    this.requests++;
    this.#disarm();
    if (this.#state === CLOSED) return;
    // Draining (graceful shutdown, or this address was dropped by a reload): no next request.
    if (!r.keepalive || this.#closeAfter || this.slot.draining) {
      this.#finishAndClose(r);
      return;
    }
    if (!this.#bodyDone) {
      // A client still waiting for "100 Continue" may never send the body: close rather than wait for it.
      if (r.expectContinue && !this.#reader && (this.#buf === undefined || this.#buf.length === 0)) {
        this.#finishAndClose(r);
        return;
      }
      // Keep-alive needs the rest of the body off the wire first; nginx discards it the same way.
      if (!this.#reader) this.discardBody(r);
      if (!this.#bodyDone) return;
    }
    this.#next();
  }

  #next(): void {
    this.#req = undefined;
    this.#state = HEAD;
    if (this.#stats) this.#count(0);
    if (this.#paused) {
      this.#paused = false;
      this.socket.resume();
    }
    if (this.#buf !== undefined && this.#buf.length > 0) {
      this.#arm(this.#addr().defaultSrv.clientHeaderTimeout!);
      // Pipelined requests already buffered: handle them after this turn to bound recursion.
      setImmediate(() => this.#parse());
      return;
    }
    const clcf = this.#addr().defaultSrv.loc;
    this.#arm(clcf.keepaliveTimeout!);
  }

  #finishAndClose(r: HttpRequest): void {
    this.#state = CLOSED;
    this.#req = undefined;
    void r;
    // Half-close after the response so pending bytes are delivered (a simple lingering close).
    this.socket.end();
    this.#arm(5000);
  }

  takeSocket(r: HttpRequest): { socket: net.Socket; buffered: Buffer | undefined } | undefined {
    if (r !== this.#req || this.#state !== BUSY) return undefined;
    this.#state = TUNNEL;
    this.#disarm();
    this.onClientClose = undefined;
    const buffered = this.#buf;
    this.#buf = undefined;
    this.socket.removeAllListeners('data');
    this.socket.removeAllListeners('end');
    this.socket.removeAllListeners('close');
    if (this.#paused) {
      this.#paused = false;
      this.socket.resume();
    }
    return { socket: this.socket, buffered };
  }

  abort(r: HttpRequest): void {
    if (this.#state === TUNNEL) return;
    this.#aborted = true;
    if (r.pacer !== undefined) r.pacer.close();
    this.#close();
  }

  /** closeIdle closes the connection if no request is in progress (graceful shutdown, reload drains). */
  closeIdle(): boolean {
    if (this.#state !== HEAD || (this.#buf !== undefined && this.#buf.length > 0)) return false;
    if (this.socket.writableLength > 0) {
      // The last response is still on its way to a slow reader: close once it is delivered, bounded by
      // send_timeout, rather than cut it short.
      this.#state = CLOSED;
      this.socket.end();
      this.#arm(this.#addr().defaultSrv.loc.sendTimeout!);
      return true;
    }
    this.#close();
    return true;
  }

  #close(): void {
    this.#state = CLOSED;
    this.#clearTimer();
    this.socket.destroy();
  }

  #onEnd(): void {
    // The client half-closed: finish the request in progress, then close (nginx does not wait for more).
    if (this.#state === HEAD) {
      this.#close();
      return;
    }
    this.#closeAfter = true;
    // A handler waiting on something else (an upstream) treats EOF as the client going away, as nginx's
    // broken-connection check does; handlers that do not ask are left to finish.
    const cb = this.onClientClose;
    if (cb && this.#bodyDone && this.#req && !this.#req.finalized) {
      this.onClientClose = undefined;
      cb();
    }
  }

  #onClose(): void {
    this.#clearTimer();
    if (this.#req?.pacer !== undefined) this.#req.pacer.close();
    if (this.#stats) {
      this.#count(0);
      this.#stats.add(STAT.ACTIVE, -1n);
    }
    const prev = this.#state;
    this.#state = CLOSED;
    const r = this.#req;
    if (prev !== CLOSED && r && !r.finalized && !this.#aborted) {
      if (this.#reader && !this.#bodyDone) {
        const reader = this.#reader;
        this.#reader = undefined;
        this.#bodyDone = true;
        reader.onEnd(499);
      }
      const cb = this.onClientClose;
      this.onClientClose = undefined;
      if (cb) cb();
      else if (!r.finalized) r.http.terminate(r, 499);
    }
  }
}

/**
 * describeSeen fills a refused or timed-out request with what its first line showed, so the log says what
 * nginx's would: a complete request line gives the method, target and version; a partial one is $request only.
 */
function describeSeen(r: HttpRequest, seen: Buffer, mergeSlashes: boolean): void {
  let start = 0;
  while (start < seen.length && (seen[start] === 13 || seen[start] === 10)) start++;
  const nl = seen.indexOf(10, start);
  const line = seen.toString('latin1', start, nl < 0 ? Math.min(seen.length, start + 8192) : nl).replace(/\r$/, '');
  const m = nl < 0 ? null : /^([A-Z_-]+) +(\S+)(?: +HTTP\/(\d{1,3})\.(\d{1,3}))? *$/.exec(line);
  if (!m) {
    r.requestLine = line;
    return;
  }
  r.method = m[1]!;
  if (m[3] !== undefined) {
    r.httpMajor = Number(m[3]);
    r.httpMinor = Number(m[4]);
  }
  r.requestLine = line.trimEnd();
  const split = m[2]!.startsWith('/') ? splitTarget(m[2]!, mergeSlashes) : undefined;
  // A target that does not parse leaves $request_uri unknown and $uri empty, as in nginx's log.
  if (split) {
    r.unparsedUri = m[2]!;
    r.uri = split.uri;
    r.args = split.args;
  }
}

/** stripV4Mapped turns an IPv4-mapped IPv6 address (::ffff:1.2.3.4) back into IPv4. */
export function stripV4Mapped(a: string): string {
  return a.startsWith('::ffff:') && a.includes('.') ? a.slice(7) : a;
}


/** headLimitsOf derives the parser limits from a server's conf. */
export function headLimitsOf(srv: import('./core-conf.ts').CoreSrvConf): HeadLimits {
  const large = srv.largeClientHeaderBuffers!;
  return {
    lineMax: large.size,
    headMax: Math.max(srv.clientHeaderBufferSize!, large.size * large.num),
    mergeSlashes: srv.mergeSlashes!,
    underscoresInHeaders: srv.underscoresInHeaders!,
    ignoreInvalidHeaders: srv.ignoreInvalidHeaders!,
  };
}
