/**
 * One HTTP/2 stream as an HTTP request's transport: it is the request's ResponseSink (a response head becomes
 * a HEADERS frame, the body DATA frames, `r.out.trailers` a trailing HEADERS frame) and its ConnectionInfo
 * (addresses and counters are the session's; the body is the stream's DATA). Phases, modules, variables and
 * logs are the same as for HTTP/1.
 */
import http2 from 'node:http2';
import type tls from 'node:tls';
import { NAME, VERSION } from '../../core/version.ts';
import type { HttpRequest, BodyReader, ConnectionInfo, ProxyProtocolInfo, ResponseSink } from '../request.ts';
import { limitRateOf, startPacing, type PacedOutput, type Pacer } from '../limit-rate.ts';
import { wireStatus } from '../special.ts';
import { absoluteLocation, httpDateNow } from '../write.ts';

/** StreamOwner is what a stream needs of its session. */
export interface StreamOwner {
  readonly id: number;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly localAddress: string;
  readonly localPort: number;
  readonly tls: tls.TLSSocket | undefined;
  readonly proxyProtocol: ProxyProtocolInfo | undefined;
  readonly startTime: number;
  requests: number;
  streamDone(s: Http2Stream): void;
}

/** Headers that only mean something on an HTTP/1 connection; HTTP/2 forbids them. */
const CONNECTION_HEADERS = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']);

export class Http2Stream implements ConnectionInfo, ResponseSink {
  readonly owner: StreamOwner;
  readonly stream: http2.ServerHttp2Stream;
  req: HttpRequest | undefined;
  /** Handlers that want to know when the client resets the stream mid-request (proxy, grpc: 499). */
  onClientClose: (() => void) | undefined;
  #reader: BodyReader | undefined;
  #bodyDone: boolean;
  #bodyTotal = 0;
  #timer: NodeJS.Timeout | undefined;
  #noBody = false;
  #done = false;

  constructor(owner: StreamOwner, stream: http2.ServerHttp2Stream, endStream: boolean) {
    this.owner = owner;
    this.stream = stream;
    this.#bodyDone = endStream;
    stream.on('error', () => {});
    stream.on('close', () => this.#onClose());
  }

  get id(): number {
    return this.owner.id;
  }
  get remoteAddress(): string {
    return this.owner.remoteAddress;
  }

  get proxyProtocol(): ProxyProtocolInfo | undefined {
    return this.owner.proxyProtocol;
  }
  get remotePort(): number {
    return this.owner.remotePort;
  }
  get localAddress(): string {
    return this.owner.localAddress;
  }
  get localPort(): number {
    return this.owner.localPort;
  }
  get tls(): tls.TLSSocket | undefined {
    return this.owner.tls;
  }
  get startTime(): number {
    return this.owner.startTime;
  }
  get requests(): number {
    return this.owner.requests;
  }
  set requests(n: number) {
    this.owner.requests = n;
  }

  // ---- request body ----

  readBody(r: HttpRequest, reader: BodyReader): void {
    if (this.#reader) {
      reader.onEnd(500);
      return;
    }
    if (this.#bodyDone) {
      r.bodyRead = true;
      reader.onEnd(0);
      return;
    }
    this.#reader = reader;
    this.#arm(r.loc.clientBodyTimeout!);
    this.stream.on('data', (chunk: Buffer) => this.#onData(chunk));
    this.stream.once('end', () => this.#onBodyEnd(0));
  }

  discardBody(r: HttpRequest): void {
    if (this.#bodyDone || this.#reader) return;
    this.readBody(r, { onData: () => {}, onEnd: () => {} });
  }

  #onData(chunk: Buffer): void {
    const r = this.req!;
    const reader = this.#reader;
    if (!reader) return;
    this.#bodyTotal += chunk.length;
    r.requestLength += chunk.length;
    const max = r.loc.clientMaxBodySize!;
    if (max > 0 && this.#bodyTotal > max) {
      r.http.cycle.log?.log('error', `*${this.id} client intended to send too large body: ${this.#bodyTotal} bytes`);
      this.#onBodyEnd(413);
      return;
    }
    if (reader.onData) reader.onData(chunk);
    else (r.body ??= []).push(chunk);
    this.#arm(r.loc.clientBodyTimeout!);
  }

  #onBodyEnd(status: number): void {
    this.#disarm();
    const reader = this.#reader;
    if (!reader || this.#bodyDone) return;
    this.#bodyDone = true;
    this.#reader = undefined;
    if (status === 0 && this.req) this.req.bodyRead = true;
    if (status !== 0) this.stream.resume();
    reader.onEnd(status);
  }

  #arm(ms: number): void {
    this.#disarm();
    if (ms > 0) this.#timer = setTimeout(() => this.#onTimeout(), ms);
  }

  #disarm(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #onTimeout(): void {
    this.#timer = undefined;
    const r = this.req;
    if (!r) return;
    if (this.#reader && !this.#bodyDone) {
      r.http.cycle.log?.log('info', `*${this.id} client timed out while reading client request body`);
      this.#onBodyEnd(408);
    } else if (r.headerSent && !this.#done) {
      r.http.cycle.log?.log('info', `*${this.id} client timed out while sending response to client`);
      r.http.terminate(r, 408);
    }
  }

  // ---- response ----

  sendHead(r: HttpRequest): void {
    const o = r.out;
    const status = wireStatus(o.status);
    const h: http2.OutgoingHttpHeaders = {
      ':status': status,
      server: r.loc.serverTokens ? `${NAME}/${VERSION}` : NAME,
      date: httpDateNow(),
    };
    if (o.contentType !== undefined) h['content-type'] = o.charset ? `${o.contentType}; charset=${o.charset}` : o.contentType;
    if (o.contentLength >= 0) h['content-length'] = String(o.contentLength);
    if (o.lastModified !== undefined) h['last-modified'] = new Date(o.lastModified).toUTCString();
    if (o.location !== undefined) h['location'] = absoluteLocation(r, o.location);
    if (o.etag !== undefined) h['etag'] = o.etag;
    const hs = o.headers;
    for (let i = 0; i < hs.length; i += 2) {
      const name = hs[i]!.toLowerCase();
      if (CONNECTION_HEADERS.has(name)) continue;
      const cur = h[name];
      if (cur === undefined) h[name] = hs[i + 1]!;
      else if (Array.isArray(cur)) cur.push(hs[i + 1]!);
      else h[name] = [String(cur), hs[i + 1]!];
    }
    this.#noBody = r.headerOnly || status === 204 || status === 304 || o.contentLength === 0;
    const trailers = o.trailers !== undefined && !this.#noBody;
    r.bytesSent += 9 + hs.length * 16;
    if (this.stream.destroyed || this.stream.headersSent) return;
    if (trailers) this.stream.once('wantTrailers', () => this.#sendTrailers());
    try {
      this.stream.respond(h, { endStream: this.#noBody && !trailers, waitForTrailers: trailers });
    } catch (err) {
      r.http.cycle.log?.log('error', `*${this.id} could not send HTTP/2 response header: ${(err as Error).message}`);
      this.stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
    }
    if (this.#noBody) this.#done = true;
    else if (limitRateOf(r) > 0) startPacing(r, this.#pacedOutput(r), r.bytesSent);
  }

  /** #pacedOutput is the stream as a rate-limited response's output (limit-rate.ts). */
  #pacedOutput(r: HttpRequest): PacedOutput {
    const s = this.stream;
    return {
      write: (b) => {
        if (s.destroyed) return false;
        s.write(b);
        this.#arm(r.loc.sendTimeout!);
        return s.writableLength < s.writableHighWaterMark;
      },
      onDrain: (cb) => s.once('drain', cb),
    };
  }

  sendBody(r: HttpRequest, chunk: Buffer | null, last: boolean): boolean {
    const s = this.stream;
    if (this.#done || s.destroyed) return true;
    const pacer = r.pacer;
    if (pacer !== undefined) return this.#sendPaced(r, pacer, chunk, last);
    if (chunk !== null && chunk.length > 0) {
      r.bodyBytesSent += chunk.length;
      r.bytesSent += chunk.length + 9;
      s.write(chunk);
    }
    if (last) {
      this.#done = true;
      s.end();
    } else if (r.headerSent) this.#arm(r.loc.sendTimeout!);
    return s.writableLength < s.writableHighWaterMark;
  }

  /** #sendPaced passes DATA through the request's pacer; END_STREAM follows the last paced byte. */
  #sendPaced(r: HttpRequest, pacer: Pacer, chunk: Buffer | null, last: boolean): boolean {
    let ok = !pacer.busy;
    if (chunk !== null && chunk.length > 0) {
      r.bodyBytesSent += chunk.length;
      r.bytesSent += chunk.length + 9;
      ok = pacer.write(chunk);
    }
    if (last) {
      this.#done = true;
      if (pacer.busy) pacer.onIdle(() => this.stream.end());
      else this.stream.end();
    } else if (r.headerSent) this.#arm(r.loc.sendTimeout!);
    return ok && this.stream.writableLength < this.stream.writableHighWaterMark;
  }

  onDrain(r: HttpRequest, cb: () => void): void {
    const pacer = r.pacer;
    if (pacer !== undefined && pacer.busy) pacer.onIdle(cb);
    else this.stream.once('drain', cb);
  }

  #sendTrailers(): void {
    const t = this.req?.out.trailers ?? [];
    const h: http2.OutgoingHttpHeaders = {};
    for (let i = 0; i < t.length; i += 2) h[t[i]!.toLowerCase()] = t[i + 1]!;
    try {
      this.stream.sendTrailers(h);
    } catch {
      this.stream.close();
    }
  }

  // ---- lifecycle ----

  abort(r: HttpRequest): void {
    this.#disarm();
    if (r.pacer !== undefined) r.pacer.close();
    if (!this.stream.destroyed) this.stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
  }

  requestDone(r: HttpRequest): void {
    this.#disarm();
    if (r.pacer !== undefined) r.pacer.close();
    this.owner.requests++;
    // The response is complete; a body the client is still sending is dropped (nginx sends RST_STREAM NO_ERROR).
    if (!this.#bodyDone && !this.#reader) this.discardBody(r);
  }

  #onClose(): void {
    this.#disarm();
    const r = this.req;
    if (r?.pacer !== undefined) r.pacer.close();
    if (r && !r.finalized) {
      if (this.#reader && !this.#bodyDone) this.#onBodyEnd(499);
      const cb = this.onClientClose;
      this.onClientClose = undefined;
      if (cb) cb();
      else if (!r.finalized) r.http.terminate(r, 499);
    }
    this.owner.streamDone(this);
  }
}
