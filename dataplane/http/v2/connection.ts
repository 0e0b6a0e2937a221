/**
 * An HTTP/2 connection (ngx_http_v2_connection_t): nghttp2 through node:http2's server session API on an
 * accepted socket (TLS after ALPN h2, or cleartext with the prior-knowledge preface). Each stream becomes an
 * HttpRequest run by the address's current runtime, so a reload reaches the next stream. Idle sessions close
 * after keepalive_timeout; a draining worker sends GOAWAY and lets open streams finish.
 */
import http2 from 'node:http2';
import type net from 'node:net';
import type tls from 'node:tls';
import type { ListenSlot } from '../../core/cycle.ts';
import { IDLE_CLOSER } from '../../event/listeners.ts';
import { Http1Connection, nextConnectionId, stripV4Mapped } from '../connection.ts';
import { addrConfOf, type HttpAddrConf } from '../listen-ctx.ts';
import { splitTarget, validateHost, type ParsedHead } from '../parser.ts';
import { HttpRequest, type ProxyProtocolInfo } from '../request.ts';
import { peekConnection, type Peeked } from '../peek.ts';
import { Http2Stream, type StreamOwner } from './stream.ts';
import { httpV2Module, v2Conf } from './module.ts';

type Closable = net.Socket & { [IDLE_CLOSER]?: () => boolean };

const END_STREAM = http2.constants.NGHTTP2_FLAG_END_STREAM;
const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');

/** startHttp2 runs an HTTP/2 session on `socket` (a negotiated TLSSocket, or `raw` itself for h2c). */
export function startHttp2(socket: net.Socket, raw: net.Socket, slot: ListenSlot, peeked?: Peeked): void {
  // A server TLSSocket made outside tls.Server never clears `secureConnecting`, and node:http2 would wait
  // for a 'secureConnect' that servers never emit; the handshake is done, so say so.
  if ('encrypted' in socket) (socket as net.Socket & { secureConnecting?: boolean }).secureConnecting = false;
  new Http2Connection(socket, raw, slot, peeked);
}

/**
 * h2cConnectionHandler serves a cleartext address with HTTP/2 enabled: the client preface means HTTP/2 with
 * prior knowledge, anything else is HTTP/1 (nginx 1.25's behaviour for `http2 on` without ssl).
 */
export function h2cConnectionHandler(socket: net.Socket, slot: ListenSlot): void {
  socket.on('error', () => {});
  const addr = addrConfOf(slot, stripV4Mapped(socket.localAddress ?? ''));
  peekConnection(socket, addr, (buf) => buf.length >= 3 || buf[0] !== PREFACE[0], (first, peeked) => {
    const n = Math.min(first.length, PREFACE.length);
    const enabled = addr.http2 || v2Conf(addr.defaultSrv, addr.runtime.cycle.registry.index(httpV2Module)).enable;
    // node:http2 replays bytes already in the socket's buffer (the unshifted preface) into the session.
    if (enabled && n >= 3 && first.subarray(0, n).equals(PREFACE.subarray(0, n))) startHttp2(socket, socket, slot, peeked);
    else {
      new Http1Connection(socket, slot, undefined, peeked);
      socket.resume();
    }
  });
}

class Http2Connection implements StreamOwner {
  readonly id = nextConnectionId();
  readonly startTime = Date.now();
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly localAddress: string;
  readonly localPort: number;
  readonly tls: tls.TLSSocket | undefined;
  readonly proxyProtocol: ProxyProtocolInfo | undefined;
  readonly slot: ListenSlot;
  readonly session: http2.ServerHttp2Session;
  readonly #streams = new Set<Http2Stream>();
  requests = 0;
  #opened = 0;
  #closing = false;
  #idleMs: number;

  constructor(socket: net.Socket, raw: net.Socket, slot: ListenSlot, peeked: Peeked | undefined) {
    this.slot = slot;
    this.proxyProtocol = peeked?.proxy ?? undefined;
    this.tls = 'encrypted' in socket ? (socket as tls.TLSSocket) : undefined;
    this.remoteAddress = stripV4Mapped(raw.remoteAddress ?? '');
    this.remotePort = raw.remotePort ?? 0;
    this.localAddress = stripV4Mapped(raw.localAddress ?? '');
    this.localPort = raw.localPort ?? 0;
    const addr = addrConfOf(slot, this.localAddress);
    const srv = addr.defaultSrv;
    const v2 = v2Conf(srv, addr.runtime.cycle.registry.index(httpV2Module));
    this.#idleMs = srv.loc.keepaliveTimeout!;
    this.session = http2.performServerHandshake(socket, {
      settings: {
        maxConcurrentStreams: v2.maxConcurrentStreams!,
        initialWindowSize: v2.bodyPrereadSize!,
        enablePush: false,
        // Our own check answers 494 for big heads; nghttp2's limit only stops abuse far beyond it.
        maxHeaderListSize: 2 * addr.limits.headMax + 4096,
      },
      maxSessionMemory: 64,
    });
    const session = this.session;
    session.on('error', () => {});
    session.on('stream', (stream, headers, flags, raw) => this.#onStream(stream, headers, flags, raw));
    session.on('close', () => {
      if (!raw.destroyed) raw.destroy();
    });
    if (this.#idleMs > 0) session.setTimeout(this.#idleMs, () => this.#onIdle());
    (raw as Closable)[IDLE_CLOSER] = () => this.closeIdle();
  }

  #onIdle(): void {
    if (this.#streams.size === 0) this.#goaway();
  }

  /** closeIdle starts a graceful close: GOAWAY now, the session ends when its last stream does. */
  closeIdle(): boolean {
    this.#goaway();
    return this.#streams.size === 0;
  }

  #goaway(): void {
    if (this.#closing) return;
    this.#closing = true;
    const s = this.session;
    if (s.destroyed || s.closed) return;
    s.goaway(http2.constants.NGHTTP2_NO_ERROR);
    s.close();
  }

  streamDone(st: Http2Stream): void {
    this.#streams.delete(st);
    if (this.slot.draining && this.#streams.size === 0) this.#goaway();
  }

  #onStream(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, flags: number, rawHeaders: string[]): void {
    const st = new Http2Stream(this, stream, (flags & END_STREAM) !== 0);
    this.#streams.add(st);
    const addr = addrConfOf(this.slot, this.localAddress);
    const rt = addr.runtime;
    const head = this.#head(headers, flags, rawHeaders, addr);
    if (typeof head === 'object' && 'reason' in head) {
      rt.cycle.log?.log('info', `*${this.id} ${head.reason} while reading client request headers, client: ${this.remoteAddress}`);
      const r = new HttpRequest(st, rt, st, EMPTY_HEAD, addr.defaultSrv);
      st.req = r;
      r.keepalive = true;
      rt.finalize(r, head.status);
      return;
    }
    const { srv, captures } = addr.names.find(head.host ?? '');
    const r = new HttpRequest(st, rt, st, head, srv);
    r.serverCaptures = captures;
    r.keepalive = true;
    st.req = r;
    // keepalive_requests bounds HTTP/2 connections too: GOAWAY once that many streams were opened.
    if (this.slot.draining || ++this.#opened >= srv.loc.keepaliveRequests!) this.#goaway();
    rt.start(r);
  }

  #head(h: http2.IncomingHttpHeaders, flags: number, raw: string[], addr: HttpAddrConf): ParsedHead | { status: number; reason: string } {
    const limits = addr.limits;
    const method = h[':method'] ?? '';
    const target = h[':path'] ?? '';
    const headers: string[] = [];
    let size = 0;
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i]!;
      const value = raw[i + 1]!;
      const len = name.length + value.length;
      if (len > limits.lineMax) return { status: 494, reason: 'client sent too large header field' };
      size += len + 32;
      if (name.charCodeAt(0) === 58) continue;
      if (!limits.underscoresInHeaders && name.includes('_')) continue;
      headers.push(name, value);
    }
    if (size > limits.headMax) return { status: 494, reason: 'client sent too large header' };
    if (method === 'CONNECT') return { status: 405, reason: 'client sent CONNECT method' };
    if (target[0] !== '/' && !(method === 'OPTIONS' && target === '*')) return { status: 400, reason: 'client sent invalid :path header' };
    const split = target === '*' ? { uri: '*', args: '' } : splitTarget(target, limits.mergeSlashes);
    if (split === undefined) return { status: 400, reason: 'client sent invalid :path header' };
    const authority = h[':authority'] ?? (h.host as string | undefined);
    let host: string | undefined;
    if (authority !== undefined) {
      host = validateHost(authority);
      if (host === undefined) return { status: 400, reason: 'client sent invalid host header' };
    }
    const cl = h['content-length'];
    let contentLength = -1;
    if (cl !== undefined) {
      if (!/^\d{1,15}$/.test(cl)) return { status: 400, reason: 'client sent invalid "Content-Length" header' };
      contentLength = Number(cl);
    }
    const ended = (flags & END_STREAM) !== 0;
    return {
      method, unparsedUri: target, uri: split.uri, args: split.args, targetHost: undefined, httpMajor: 2, httpMinor: 0,
      headers, host, contentLength: ended ? Math.min(contentLength, 0) : contentLength,
      // A body without Content-Length has no length known in advance, as a chunked HTTP/1.1 body.
      chunked: !ended && contentLength < 0, connection: undefined, expect: undefined, length: size,
    };
  }
}

const EMPTY_HEAD: ParsedHead = {
  method: 'GET', unparsedUri: '/', uri: '/', args: '', targetHost: undefined, httpMajor: 2, httpMinor: 0,
  headers: [], host: undefined, contentLength: -1, chunked: false, connection: undefined, expect: undefined, length: 0,
};
