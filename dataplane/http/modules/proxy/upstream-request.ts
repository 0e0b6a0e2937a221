/**
 * One proxied request (ngx_http_upstream_t for the proxy module): pick a peer, reuse or open a connection,
 * send the request, parse the response head, then stream the body to the client with backpressure (or
 * through the response spool when buffering), and decide on failures whether to try the next peer
 * (proxy_next_upstream) or answer 502/504. Socket events arrive through the connection's owner methods, so a
 * request allocates no closures per event.
 * One file on purpose (the upstream core's exception in STYLE.md): the try/retry state machine reads as a whole.
 */
import { Deadline } from '../../../event/deadline.ts';
import { holdWrites } from '../../../event/write-batch.ts';
import net from 'node:net';
import tls from 'node:tls';
import type { UpstreamGroup } from '../../../upstream/group.ts';
import { newConnection, release, takeIdle, type UpstreamConnection } from '../../../upstream/keepalive.ts';
import { FAIL, type Peer } from '../../../upstream/peer.ts';
import { addState, type UpstreamState } from '../../../upstream/state.ts';
import { choiceKey, stickyCookie } from '../../../upstream/upstream-module.ts';
import { peerId } from '../../../upstream/group.ts';
import { cookieValue } from '../../variables-core.ts';
import { accelRedirect } from '../../accel.ts';
import { ChunkedDecoder } from '../../chunked.ts';
import type { HttpRequest } from '../../request.ts';
import { OK } from '../../types.ts';
import { evaluate } from '../../variables.ts';
import { failureOf, FT, FT_STATUS, type ProxyLocConf } from './conf.ts';
import { createHead } from './create-request.ts';
import { copyHead, MAX_HEAD, parseUpstreamHead, type UpstreamHead } from './response.ts';
import type { RequestBody } from './request-body.ts';
import { ResponseSpool } from './spool.ts';
import { Tunnel } from './tunnel.ts';
import type { PeerChoice } from '../../../upstream/group.ts';

const IDEMPOTENT = new Set(['GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS', 'TRACE']);

const ERRNO: Record<string, string> = {
  ECONNREFUSED: '111: Connection refused',
  ECONNRESET: '104: Connection reset by peer',
  ETIMEDOUT: '110: Connection timed out',
  EHOSTUNREACH: '113: No route to host',
  ENETUNREACH: '101: Network is unreachable',
  EPIPE: '32: Broken pipe',
  ECONNABORTED: '103: Software caused connection abort',
  ENOTFOUND: '-2: Name or service not known',
  EAI_AGAIN: '-3: Temporary failure in name resolution',
};

function errnoText(e: Error | undefined): string {
  const code = (e as NodeJS.ErrnoException | undefined)?.code ?? '';
  return ERRNO[code] ?? `${code || 'EIO'}: ${e?.message ?? 'I/O error'}`;
}

const SENDING = 1;
const READING_HEAD = 2;
const READING_BODY = 3;
const DONE_ = 4;

/** Target is where a request goes: a group, the URI to send, and $proxy_host/$proxy_port. */
export interface Target {
  group: UpstreamGroup;
  uri: string;
  host: string;
  port: string;
  https: boolean;
}

export class UpstreamRequest {
  readonly r: HttpRequest;
  readonly conf: ProxyLocConf;
  readonly target: Target;
  readonly pc: PeerChoice;
  readonly started = Date.now();
  /** The buffered request body (proxy_request_buffering on), or undefined. */
  body: RequestBody | undefined;
  /** Streaming body state (proxy_request_buffering off). */
  streaming = false;
  streamQueue: Buffer[] | undefined = [];
  streamEnded = false;
  streamStarted = false;
  chunkedBody = false;

  conn: UpstreamConnection | undefined;
  peer: Peer | undefined;
  state: UpstreamState | undefined;
  phase = 0;
  requestSent = false;
  keepalive = false;
  triesUsed = 0;
  firstTry = true;
  lastError: Error | undefined;
  /** The current phase's timeout (connect, send, read); `timerMs` is its length, re-armed as data flows. */
  readonly deadline = new Deadline(() => this.onTimeout());
  timerMs = 0;
  timerWhat = '';
  headBuf: Buffer | undefined;
  head: UpstreamHead | undefined;
  remaining = -1;
  decoder: ChunkedDecoder | undefined;
  spool: ResponseSpool | undefined;
  paused = false;
  /** The response status is a proxy_next_upstream condition that counts as a failure of the peer. */
  statusFailure: number = FAIL.NONE;
  /** The current try runs on a kept-alive connection from the cache. */
  reused = false;
  readonly #emit = (d: Buffer) => this.deliver(d);
  readonly #resume = () => this.resume();
  readonly #connected = () => this.onConnect();
  readonly #sent = () => this.onRequestWritten();
  readonly #bodySent = () => {
    const s = this.conn?.socket;
    if (s && s.writableNeedDrain) s.once('drain', this.#sent);
    else this.onRequestWritten();
  };

  constructor(r: HttpRequest, conf: ProxyLocConf, target: Target) {
    this.r = r;
    this.conf = conf;
    this.target = target;
    const g = target.group;
    this.pc = g.startChoice(choiceKey(r, g));
    if (g.sticky) this.pc.stickyId = cookieValue(r, g.sticky.cookie.toLowerCase()) ?? '';
    if (conf.nextUpstreamTries && this.pc.tries > conf.nextUpstreamTries) this.pc.tries = conf.nextUpstreamTries;
    r.conn.onClientClose = () => this.onClientAbort();
  }

  // ---- logging ----

  where(): string {
    const r = this.r;
    const peer = this.peer ? `, upstream: "${this.target.https ? 'https' : 'http'}://${this.peer.name}${this.target.uri}"` : '';
    const host = r.header('host');
    return `, client: ${r.conn.remoteAddress}, server: ${r.srv.serverNames[0]?.name ?? ''}, request: "${r.method} ${r.unparsedUri} ${r.protocol}"${peer}${host ? `, host: "${host}"` : ''}`;
  }

  log(level: 'error' | 'warn' | 'info', msg: string): void {
    this.r.http.cycle.log?.log(level, `*${this.r.conn.id} ${msg}${this.where()}`);
  }

  // ---- timers ----

  arm(ms: number, what: string): void {
    this.timerWhat = what;
    this.timerMs = ms;
    this.deadline.arm(ms);
  }

  /** disarm drops the timer for real: a pending one would keep this request reachable until it fired. */
  disarm(): void {
    this.deadline.clear();
  }

  onTimeout(): void {
    if (this.phase === READING_BODY) {
      this.log('error', `upstream timed out (110: Connection timed out) while reading upstream`);
      this.abortResponse();
      return;
    }
    this.fail(FT.TIMEOUT, `upstream timed out (110: Connection timed out) while ${this.timerWhat}`);
  }

  // ---- connecting and sending ----

  /** connect starts a try: a peer from the balancer, an idle connection or a new one. */
  connect(): void {
    const r = this.r;
    const g = this.target.group;
    const now = Date.now();
    const peer = g.get(this.pc, now);
    if (!peer) {
      this.peer = undefined;
      if (this.pc.busy) this.log('error', `no live upstreams while connecting to upstream`);
      this.finish();
      r.finalize(502);
      return;
    }
    this.triesUsed++;
    this.peer = peer;
    this.state = addState(r, peer.name, this.firstTry);
    this.firstTry = false;
    this.head = undefined;
    this.headBuf = undefined;
    this.requestSent = false;
    this.statusFailure = FAIL.NONE;
    this.lastError = undefined;
    const idle = takeIdle(g, peer, now);
    this.reused = idle !== undefined;
    if (idle) {
      this.attach(idle);
      this.state.connectTime = 0;
      this.send();
      return;
    }
    let socket: net.Socket;
    const conf = this.conf;
    if (this.target.https) {
      const servername = conf.sslServerName ? (conf.sslNameTemplate ? evaluate(r, conf.sslNameTemplate) : this.target.host.replace(/:\d+$/, '')) : undefined;
      socket = tls.connect({
        host: peer.host, port: peer.port, path: peer.socketPath, servername: servername && !net.isIP(servername) ? servername : '',
        secureContext: conf.sslContext, rejectUnauthorized: conf.sslVerify, ...conf.sslOptions,
        checkServerIdentity: conf.sslVerify ? (host, cert) => tls.checkServerIdentity(conf.sslNameTemplate ? evaluate(r, conf.sslNameTemplate) : this.target.host.replace(/:\d+$/, '') || host, cert) : () => undefined,
      });
      socket.once('secureConnect', this.#connected);
    } else {
      socket = peer.socketPath ? net.connect({ path: peer.socketPath }) : net.connect({ host: peer.host, port: peer.port, noDelay: true });
      socket.once('connect', this.#connected);
    }
    this.attach(newConnection(socket, peer, g));
    this.phase = 0;
    this.arm(conf.connectTimeout!, 'connecting to upstream');
  }

  attach(c: UpstreamConnection): void {
    this.conn = c;
    c.owner = this;
  }

  onConnect(): void {
    if (!this.conn || this.phase !== 0) return;
    this.state!.connectTime = performance.now() - this.state!.start;
    this.send();
  }

  send(): void {
    const c = this.conn!;
    const r = this.r;
    c.requests++;
    this.phase = SENDING;
    const bodyLength = this.streaming ? (this.chunkedBody ? -2 : r.contentLength) : this.body ? this.body.length : -1;
    const { head, keepalive } = createHead(r, this.conf, this.target.uri, bodyLength);
    this.keepalive = keepalive && c.group.keepalive > 0;
    const s = c.socket;
    const n = Buffer.byteLength(head, 'latin1');
    this.requestSent = true;
    this.state!.bytesSent += n;
    if (this.body && this.body.length > 0) {
      s.cork();
      s.write(head, 'latin1');
      this.state!.bytesSent += this.body.length;
      this.phase = READING_HEAD;
      this.arm(this.conf.sendTimeout!, 'sending request to upstream');
      this.body.writeTo(s, this.#bodySent);
      s.uncork();
      return;
    }
    holdWrites(s);
    s.write(head, 'latin1');
    if (this.streaming) {
      this.streamStarted = true;
      const q = this.streamQueue!;
      this.streamQueue = undefined;
      for (const b of q) this.writeStreamChunk(b);
      if (this.streamEnded) this.endStream();
    }
    this.phase = READING_HEAD;
    if (s.writableNeedDrain) {
      this.arm(this.conf.sendTimeout!, 'sending request to upstream');
      s.once('drain', this.#sent);
    } else this.onRequestWritten();
  }

  onRequestWritten(): void {
    if (this.phase === READING_HEAD) this.arm(this.conf.readTimeout!, 'reading response header from upstream');
  }

  /** streamChunk forwards a request body chunk (proxy_request_buffering off). */
  streamChunk(b: Buffer): void {
    if (this.streamQueue) this.streamQueue.push(b);
    else if (this.conn) this.writeStreamChunk(b);
  }

  writeStreamChunk(b: Buffer): void {
    const s = this.conn!.socket;
    if (this.chunkedBody) s.write(`${b.length.toString(16)}\r\n`, 'latin1');
    s.write(b);
    if (this.chunkedBody) s.write('\r\n', 'latin1');
    this.state!.bytesSent += b.length;
  }

  streamEnd(): void {
    this.streamEnded = true;
    if (!this.streamQueue && this.conn) this.endStream();
  }

  endStream(): void {
    if (this.chunkedBody) this.conn!.socket.write('0\r\n\r\n', 'latin1');
  }

  // ---- reading ----

  onData(chunk: Buffer): void {
    this.state!.bytesReceived += chunk.length;
    if (this.phase === READING_BODY) {
      if (this.deadline.armed) this.deadline.arm(this.timerMs);
      this.body_(chunk);
      return;
    }
    if (this.phase !== READING_HEAD && this.phase !== SENDING) return;
    if (this.deadline.armed) this.deadline.arm(this.timerMs);
    let buf = this.headBuf ? Buffer.concat([this.headBuf, chunk]) : chunk;
    for (;;) {
      const h = parseUpstreamHead(buf, Math.max(MAX_HEAD, this.conf.bufferSize!));
      if (h === undefined) {
        this.headBuf = buf;
        return;
      }
      if (h === 'invalid') return this.fail(FT.INVALID_HEADER, 'upstream sent invalid header while reading response header from upstream');
      if (h === 'too-big') return this.fail(FT.INVALID_HEADER, 'upstream sent too big header while reading response header from upstream');
      buf = buf.subarray(h.length);
      if (h.status >= 100 && h.status < 200 && h.status !== 101) continue;
      this.headBuf = undefined;
      this.processHeader(h, buf);
      return;
    }
  }

  processHeader(h: UpstreamHead, rest: Buffer): void {
    const r = this.r;
    const conf = this.conf;
    this.head = h;
    const st = this.state!;
    st.status = h.status;
    st.headerTime = performance.now() - st.start;
    const ft = FT_STATUS[h.status];
    if (ft !== undefined && conf.nextUpstream! & ft) {
      if (this.canRetry()) {
        this.fail(ft, '');
        return;
      }
      // Listed statuses count as unsuccessful attempts even when no peer is left to try (403/404 never do).
      this.statusFailure = failureOf(ft);
    }
    if (conf.interceptErrors && h.status >= 300 && r.loc.errorPages?.some((p) => p.status === h.status)) {
      this.keepalive = false;
      this.releasePeer(FAIL.NONE);
      this.finish();
      r.finalize(h.status);
      return;
    }
    if (h.status === 101 && !h.upgrade) {
      this.fail(FT.INVALID_HEADER, 'upstream sent invalid header while reading response header from upstream');
      return;
    }
    const accel = copyHead(r, conf, h);
    const sticky = this.target.group.sticky;
    if (sticky && this.peer) {
      const id = peerId(this.peer);
      if (id !== this.pc.stickyId) r.out.headers.push('Set-Cookie', stickyCookie(sticky, id));
    }
    if (accel.redirect !== undefined) {
      this.keepalive = false;
      this.releasePeer(FAIL.NONE);
      this.finish();
      accelRedirect(this.r, accel.redirect);
      return;
    }
    // X-Accel-Limit-Rate sets this response's rate (ngx_http_upstream_process_limit_rate).
    if (accel.limitRate !== undefined) r.limitRate = accel.limitRate;
    if (h.status === 101) {
      this.upgrade(rest);
      return;
    }
    if (h.connectionClose || (h.contentLength < 0 && !h.chunked)) this.keepalive = false;
    const noBody = r.method === 'HEAD' || h.status === 204 || h.status === 304;
    this.phase = READING_BODY;
    this.arm(conf.readTimeout!, 'reading upstream');
    if ((accel.buffering ?? conf.buffering) && !noBody) {
      this.spool = new ResponseSpool(r, conf, this);
    }
    r.sendHeader();
    if (noBody) {
      if (r.method !== 'HEAD' && (h.contentLength > 0 || h.chunked)) this.keepalive = false;
      this.bodyDone();
      return;
    }
    if (h.chunked) this.decoder = new ChunkedDecoder();
    else this.remaining = h.contentLength;
    if (this.remaining === 0) {
      this.bodyDone();
      return;
    }
    if (rest.length > 0) this.body_(rest);
  }

  body_(chunk: Buffer): void {
    if (this.decoder) {
      const used = this.decoder.decode(chunk, this.#emit);
      if (used < 0) {
        this.log('error', 'upstream sent invalid chunked response while reading upstream');
        this.abortResponse();
        return;
      }
      if (this.decoder.done) {
        if (used < chunk.length) this.keepalive = false;
        this.bodyDone();
      }
      return;
    }
    if (this.remaining >= 0) {
      if (chunk.length > this.remaining) {
        this.log('warn', 'upstream sent more data than specified in "Content-Length" header while reading upstream');
        chunk = chunk.subarray(0, this.remaining);
        this.keepalive = false;
      }
      this.remaining -= chunk.length;
      this.deliver(chunk);
      if (this.remaining === 0) this.bodyDone();
      return;
    }
    this.deliver(chunk);
  }

  deliver(d: Buffer): void {
    if (d.length === 0 || this.phase === DONE_) return;
    if (this.spool) {
      this.spool.push(d);
      return;
    }
    const rc = this.r.send(d, false);
    if (rc !== OK && !this.paused && this.conn) {
      this.paused = true;
      this.conn.socket.pause();
      this.r.sink.onDrain(this.r, this.#resume);
    }
  }

  /** pause and resume the upstream socket (backpressure from the client or the spool). */
  pauseUpstream(): void {
    if (!this.paused && this.conn) {
      this.paused = true;
      this.conn.socket.pause();
    }
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.conn?.socket.resume();
  }

  /** bodyDone: the upstream response is complete; the connection goes back to the pool as early as possible. */
  bodyDone(): void {
    this.disarm();
    this.phase = DONE_;
    this.releasePeer(this.statusFailure);
    const c = this.conn;
    this.conn = undefined;
    if (c) {
      if (this.paused) c.socket.resume();
      if (this.keepalive) release(c, Date.now());
      else {
        c.owner = undefined;
        c.socket.destroy();
      }
    }
    if (this.spool) this.spool.end();
    else this.complete();
  }

  /** complete finishes the client response once everything was passed on. */
  complete(): void {
    const r = this.r;
    r.conn.onClientClose = undefined;
    r.send(null, true);
    r.finalize(OK);
  }

  /** releasePeer ends the try with the balancer; `failure` is a FAIL reason (FAIL.NONE for success). */
  releasePeer(failure: number): void {
    const p = this.peer;
    if (!p || this.pc.current !== p) return;
    const st = this.state!;
    if (st.responseTime < 0) st.responseTime = performance.now() - st.start;
    const warn = this.target.group.free(this.pc, p, failure, Date.now(), st.headerTime < 0 ? st.responseTime : st.headerTime);
    if (warn) this.log('warn', `${warn} while ${this.timerWhat || 'connecting to upstream'}`);
  }

  onEnd(): void {
    if (this.phase === READING_BODY && this.remaining < 0 && !this.decoder) {
      this.keepalive = false;
      this.bodyDone();
      return;
    }
    this.onClose();
  }

  onError(e: Error): void {
    this.lastError = e;
  }

  onClose(): void {
    if (!this.conn) return;
    const e = this.lastError;
    if (this.phase === 0) {
      const code = (e as NodeJS.ErrnoException | undefined)?.code ?? '';
      if (this.target.https && /CERT|SIGNATURE|TLS|SSL|ISSUER/.test(code)) {
        return this.fail(FT.ERROR, `upstream SSL certificate verify error: (${code}: ${e!.message}) while SSL handshaking to upstream`);
      }
      if (this.target.https && !(this.conn.socket as { connecting?: boolean }).connecting && !ERRNO[code]) {
        return this.fail(FT.ERROR, `SSL_do_handshake() failed (${e?.message ?? 'connection closed'}) while SSL handshaking to upstream`);
      }
      return this.fail(FT.ERROR, `connect() failed (${errnoText(e)}) while connecting to upstream`);
    }
    if (this.phase === READING_BODY) {
      this.log('error', e ? `recv() failed (${errnoText(e)}) while reading upstream` : 'upstream prematurely closed connection while reading upstream');
      this.abortResponse();
      return;
    }
    if (this.phase === SENDING || this.phase === READING_HEAD) {
      if (e) return this.fail(FT.ERROR, `${this.phase === SENDING ? 'writev' : 'recv'}() failed (${errnoText(e)}) while ${this.phase === SENDING ? 'sending request to upstream' : 'reading response header from upstream'}`);
      this.fail(FT.ERROR, 'upstream prematurely closed connection while reading response header from upstream');
    }
  }

  // ---- failures ----

  canRetry(): boolean {
    const conf = this.conf;
    if (this.pc.tries <= 1) return false;
    if (conf.nextUpstreamTries && this.triesUsed >= conf.nextUpstreamTries) return false;
    if (conf.nextUpstreamTimeout && Date.now() - this.started >= conf.nextUpstreamTimeout) return false;
    if (this.requestSent && !IDEMPOTENT.has(this.r.method) && !(conf.nextUpstream! & FT.NON_IDEMPOTENT)) return false;
    if (this.streaming && this.streamStarted) return false;
    return true;
  }

  /** fail ends the current try with condition `ft` and either tries the next peer or answers 502/504. */
  fail(ft: number, msg: string): void {
    this.disarm();
    const peer = this.peer;
    if (ft === FT.ERROR && this.reused && peer && this.state!.bytesReceived === 0 && !this.r.headerSent && (!this.requestSent || IDEMPOTENT.has(this.r.method) || this.conf.nextUpstream! & FT.NON_IDEMPOTENT)) {
      // The upstream closed a cached connection as we reused it: not the peer's fault, and the request was not
      // answered. Give the try back (as nginx does) and go again on a fresh connection.
      this.log('info', `${msg} (cached connection), retrying`);
      this.releasePeer(FAIL.NONE);
      this.dropConnection();
      this.target.group.untry(this.pc, peer);
      this.phase = 0;
      this.connect();
      return;
    }
    if (msg) this.log('error', msg);
    const retry = (this.conf.nextUpstream! & ft) !== 0 && this.canRetry();
    const st = this.state;
    if (st && !st.status) st.status = ft === FT.TIMEOUT ? 504 : 502;
    this.releasePeer(failureOf(ft));
    this.dropConnection();
    if (this.r.headerSent) {
      this.abortResponse();
      return;
    }
    if (retry) {
      this.phase = 0;
      this.connect();
      return;
    }
    this.finish();
    this.r.finalize(ft === FT.TIMEOUT ? 504 : 502);
  }

  dropConnection(): void {
    const c = this.conn;
    this.conn = undefined;
    if (c) {
      c.owner = undefined;
      c.socket.destroy();
    }
  }

  /** abortResponse stops a response that already started: nginx closes the client connection. */
  abortResponse(): void {
    this.disarm();
    this.releasePeer(FAIL.NONE);
    this.dropConnection();
    this.finish();
    this.r.http.terminate(this.r, 502);
  }

  /** finish detaches from the client connection and stops all timers. */
  finish(): void {
    this.phase = DONE_;
    this.disarm();
    this.r.conn.onClientClose = undefined;
    this.spool?.close();
    this.body?.close();
  }

  onClientAbort(): void {
    this.log('info', 'client prematurely closed connection, so upstream connection is closed too while ' + (this.timerWhat || 'sending to client'));
    const st = this.state;
    if (st && !st.status) st.status = 499;
    this.releasePeer(FAIL.NONE);
    this.dropConnection();
    this.finish();
    this.r.http.terminate(this.r, 499);
  }

  // ---- X-Accel-Redirect and upgrades ----

  upgrade(rest: Buffer): void {
    const r = this.r;
    const c = this.conn!;
    this.disarm();
    this.phase = DONE_;
    if (!r.conn.takeSocket) {
      this.fail(FT.INVALID_HEADER, 'upstream sent invalid header while reading response header from upstream');
      return;
    }
    r.keepalive = false;
    r.sendHeader();
    r.send(null, false);
    const taken = r.conn.takeSocket(r);
    this.releasePeer(FAIL.NONE);
    this.conn = undefined;
    c.owner = undefined;
    r.conn.onClientClose = undefined;
    if (!taken) {
      c.socket.destroy();
      r.http.terminate(r, 499);
      return;
    }
    c.socket.removeAllListeners('data');
    c.socket.removeAllListeners('end');
    c.socket.removeAllListeners('close');
    new Tunnel(r, taken.socket, c.socket, this.conf.readTimeout!, this.conf.sendTimeout!, taken.buffered, rest);
  }
}
