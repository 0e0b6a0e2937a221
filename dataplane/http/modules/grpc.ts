/**
 * ngx_http_grpc_module: `grpc_pass grpc://…` / `grpcs://…` proxies a request to a gRPC server over HTTP/2,
 * streaming the request body up and the response (DATA, then trailers) down as they arrive, so unary and
 * streaming calls both work. Peers come from the shared upstream layer (`upstream {}` blocks or an implicit
 * one-address group), balanced and failure-counted as proxy_pass's are; each worker keeps one multiplexed
 * HTTP/2 session per peer and TLS settings. Deadlines are nginx's: grpc_connect_timeout, grpc_send_timeout
 * (upstream write blocked) and grpc_read_timeout (between upstream frames). A failure before the response
 * tries the next peer (grpc_next_upstream) while the request body sent so far is still held; otherwise it is
 * 502/504, and a gRPC client with no error_page for it gets a trailers-only answer with grpc-status (14 or 4).
 */
import fs from 'node:fs';
import http2 from 'node:http2';
import net from 'node:net';
import tls from 'node:tls';
import type { ConfCtx } from '../../core/conf.ts';
import type { Cycle } from '../../core/cycle.ts';
import { ARGS, CTX } from '../../core/module.ts';
import { bitmaskSlot, flagSlot, msecSlot, numSlot, strSlot } from '../../core/slots.ts';
import type { ConfDirective } from '../../core/tree.ts';
import { accelRedirect, UPSTREAM_HIDDEN } from '../accel.ts';
import type { CoreLocConf } from '../core-conf.ts';
import { httpCoreModule } from '../core-module.ts';
import { httpModule, type HttpBlockConf } from '../http-module.ts';
import { parseAccelLimitRate } from '../limit-rate.ts';
import type { HttpRequest } from '../request.ts';
import { AGAIN, DONE, OK, defineHttpModule } from '../types.ts';
import { compileTemplate, evaluate, type Template } from '../variables.ts';
import type { PeerChoice, UpstreamGroup } from '../../upstream/group.ts';
import { FAIL, type Peer } from '../../upstream/peer.ts';
import { addState, type UpstreamState } from '../../upstream/state.ts';
import { choiceKey, referenceUpstream, upstreamMainConf, type UpstreamMainConf } from '../../upstream/upstream-module.ts';
import { logRequest } from '../request-log.ts';
import { findUpstream } from '../upstream-target.ts';

/** GrpcTarget is where one call goes: whether it speaks TLS, and the upstream group of its peers. */
export interface GrpcTarget {
  readonly secure: boolean;
  readonly group: UpstreamGroup;
}

export interface GrpcLocConf {
  /** A fixed `grpc_pass`; `url` instead when it has variables (evaluated per call). */
  target?: GrpcTarget;
  url?: Template;
  upstreams?: UpstreamMainConf;
  setHeaders?: [string, Template][];
  connectTimeout?: number;
  sendTimeout?: number;
  readTimeout?: number;
  sslVerify?: boolean;
  sslServerName?: boolean;
  sslName?: string;
  sslTrustedCertificate?: string;
  nextUpstream?: number;
  nextUpstreamTries?: number;
}

/** Sessions to gRPC servers, one per peer and TLS settings, shared by the requests of one worker's cycle. */
export interface GrpcMainConf {
  sessions: Map<string, http2.ClientHttp2Session>;
}

const LOC = CTX.HTTP_MAIN | CTX.HTTP_SRV | CTX.HTTP_LOC;
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'host', 'content-length', 'expect']);
const GRPC_STATUS: Record<number, [string, string]> = {
  502: ['14', 'upstream unavailable'],
  503: ['14', 'service unavailable'],
  504: ['4', 'upstream timed out'],
};

/** Response headers nginx's grpc module hides by default (ngx_http_grpc_hide_headers). */
const HIDDEN = new Set(UPSTREAM_HIDDEN);

/** grpc_next_upstream conditions (a subset of nginx's: the HTTP-status ones need a buffered response). */
const NEXT = { off: 1, error: 2, timeout: 4, non_idempotent: 0 } as const;

/** Request bytes held for a retry; a longer body is streamed without a copy and cannot be retried. */
const REPLAY_MAX = 64 * 1024;

function grpcPass(cf: ConfCtx, d: ConfDirective, conf: GrpcLocConf): string | void {
  if (conf.target || conf.url) return 'is duplicate';
  const url = d.args[0]!;
  const clcf = cf.level.loc![cf.index(httpCoreModule)] as CoreLocConf;
  const idx = cf.index(httpGrpcModule);
  clcf.handler = grpcHandler(idx, cf.level.main[idx] as GrpcMainConf);
  if (url.includes('$')) {
    // The scheme may come from a variable too: checked per call, as nginx's ngx_http_grpc_eval does.
    conf.url = compileTemplate(cf, url);
    return;
  }
  const m = /^(?:([a-z][a-z0-9+.-]*):\/\/)?(.+)$/i.exec(url)!;
  if (m[1] !== undefined && m[1] !== 'grpc' && m[1] !== 'grpcs') cf.error(`invalid URL prefix in "${url}"`);
  const secure = m[1] === 'grpcs';
  const hostPart = m[2]!;
  if (hostPart.includes('/') && !hostPart.startsWith('unix:')) cf.error(`invalid host in upstream "${url}"`);
  conf.target = { secure, group: referenceUpstream(cf, hostPart, secure ? 443 : 80) };
}

function setHeader(cf: ConfCtx, d: ConfDirective, conf: GrpcLocConf): string | void {
  (conf.setHeaders ??= []).push([d.args[0]!.toLowerCase(), compileTemplate(cf, d.args[1]!)]);
}

function pemSlot(cf: ConfCtx, d: ConfDirective, conf: GrpcLocConf): string | void {
  if (conf.sslTrustedCertificate !== undefined) return 'is duplicate';
  conf.sslTrustedCertificate = cf.fullPath(d.args[0]!, true);
  try {
    fs.accessSync(conf.sslTrustedCertificate, fs.constants.R_OK);
  } catch {
    cf.error(`cannot load certificate "${conf.sslTrustedCertificate}"`);
  }
}

// ---- run time ----

function sessionFor(r: HttpRequest, main: GrpcMainConf, lc: GrpcLocConf, secure: boolean, peer: Peer): http2.ClientHttp2Session {
  const key = `${secure ? 'grpcs' : 'grpc'}://${peer.name}|${lc.sslVerify}|${lc.sslServerName}|${lc.sslName ?? ''}|${lc.sslTrustedCertificate ?? ''}`;
  const cur = main.sessions.get(key);
  if (cur && !cur.closed && !cur.destroyed) return cur;
  const host = peer.host.includes(':') ? `[${peer.host}]` : peer.host;
  const opts: http2.SecureClientSessionOptions = {};
  if (secure) {
    opts.rejectUnauthorized = lc.sslVerify;
    opts.servername = lc.sslServerName ? (lc.sslName ?? r.host ?? peer.host) : undefined;
    if (lc.sslTrustedCertificate) opts.ca = fs.readFileSync(lc.sslTrustedCertificate, 'latin1');
  }
  const path = peer.socketPath;
  if (path !== undefined) {
    opts.createConnection = secure
      ? () => tls.connect({ path, servername: opts.servername, rejectUnauthorized: opts.rejectUnauthorized, ca: opts.ca, ALPNProtocols: ['h2'] })
      : () => net.connect(path);
  }
  const s = http2.connect(`${secure ? 'https' : 'http'}://${path !== undefined ? 'localhost' : host}:${peer.port || 80}`, opts);
  s.on('error', () => {});
  const forget = () => {
    if (main.sessions.get(key) === s) main.sessions.delete(key);
  };
  s.on('close', forget);
  s.on('goaway', forget);
  // Idle sessions do not keep a worker alive.
  s.unref();
  main.sessions.set(key, s);
  return s;
}

const TIMED_OUT = 'upstream timed out (110: Connection timed out)';

/** GrpcCall is one proxied call: its tries (peer, session stream, timers) and the client side it feeds. */
class GrpcCall {
  readonly r: HttpRequest;
  readonly lc: GrpcLocConf;
  readonly main: GrpcMainConf;
  readonly secure: boolean;
  readonly group: UpstreamGroup;
  readonly pc: PeerChoice;
  peer: Peer | undefined;
  state: UpstreamState | undefined;
  stream: http2.ClientHttp2Stream | undefined;
  timer: NodeJS.Timeout | undefined;
  timerWhat = '';
  tries = 0;
  responded = false;
  finished = false;
  /** The request body sent so far, kept while a retry could still resend it (undefined: too long to keep). */
  held: Buffer[] | undefined = [];
  heldBytes = 0;
  bodyEnded: boolean;

  constructor(r: HttpRequest, lc: GrpcLocConf, main: GrpcMainConf, target: GrpcTarget) {
    this.r = r;
    this.lc = lc;
    this.main = main;
    this.secure = target.secure;
    this.group = target.group;
    this.pc = this.group.startChoice(choiceKey(r, this.group));
    if (lc.nextUpstreamTries! > 0 && this.pc.tries > lc.nextUpstreamTries!) this.pc.tries = lc.nextUpstreamTries!;
    this.bodyEnded = !r.hasBody;
  }

  start(): void {
    const r = this.r;
    (r.conn as { onClientClose?: () => void }).onClientClose = () => this.onClientClose();
    this.connect();
    if (!r.hasBody || this.finished) return;
    r.conn.readBody(r, {
      onData: (chunk) => this.onBody(chunk),
      onEnd: (status) => {
        if (status !== 0) {
          this.finish(FAIL.NONE);
          this.stream?.close(http2.constants.NGHTTP2_CANCEL);
          r.finalize(status);
          return;
        }
        this.bodyEnded = true;
        if (this.stream && !this.stream.destroyed) this.stream.end();
      },
    });
  }

  /** connect starts a try on the next peer the balancer gives. */
  connect(): void {
    const r = this.r;
    const peer = this.group.get(this.pc, Date.now());
    if (!peer) {
      this.peer = undefined;
      if (this.pc.busy) this.log('error', 'no live upstreams while connecting to upstream');
      this.finish(FAIL.NONE);
      this.respondError(502);
      return;
    }
    this.tries++;
    this.peer = peer;
    this.state = addState(r, peer.name, this.tries === 1);
    const session = sessionFor(r, this.main, this.lc, this.secure, peer);
    if (session.connecting) this.arm(this.lc.connectTimeout!, 'while connecting to upstream');
    else this.arm(this.lc.readTimeout!, 'while reading response header from upstream');
    let stream: http2.ClientHttp2Stream;
    try {
      stream = session.request(this.requestHeaders(peer), { endStream: this.bodyEnded && this.heldBytes === 0 });
    } catch (err) {
      this.failTry(NEXT.error, 502, `upstream prematurely closed connection (${(err as Error).message}) while connecting to upstream`);
      return;
    }
    this.stream = stream;
    for (const chunk of this.held ?? []) stream.write(chunk);
    if (this.bodyEnded && this.heldBytes > 0) stream.end();
    stream.on('response', (h, flags) => stream === this.stream && this.onResponse(h, flags));
    stream.on('data', (chunk: Buffer) => stream === this.stream && this.onData(chunk));
    stream.on('trailers', (h) => stream === this.stream && this.onTrailers(h));
    stream.on('end', () => stream === this.stream && this.onEnd());
    stream.on('error', (err: Error) => stream === this.stream && this.failTry(NEXT.error, 502, `${err.message} while ${this.responded ? 'reading upstream' : 'reading response header from upstream'}`));
    stream.on('close', () => {
      if (stream === this.stream && !this.finished) this.failTry(NEXT.error, 502, `upstream prematurely closed stream (${stream.rstCode ?? 0}) while reading upstream`);
    });
  }

  onBody(chunk: Buffer): void {
    if (this.held) {
      this.heldBytes += chunk.length;
      if (this.heldBytes <= REPLAY_MAX && !this.responded) this.held.push(chunk);
      else this.held = undefined;
    }
    const stream = this.stream;
    if (!stream || stream.destroyed) return;
    if (!stream.write(chunk)) {
      this.arm(this.lc.sendTimeout!, 'while sending request to upstream');
      stream.once('drain', () => stream === this.stream && this.arm(this.lc.readTimeout!, 'while reading upstream'));
    }
  }

  requestHeaders(peer: Peer): http2.OutgoingHttpHeaders {
    const r = this.r;
    const h: http2.OutgoingHttpHeaders = {
      ':method': r.method,
      ':scheme': this.secure ? 'https' : 'http',
      ':path': r.internal ? r.uri + (r.args ? `?${r.args}` : '') : r.unparsedUri,
      ':authority': this.group.implicit ? peer.name : this.group.name,
    };
    const hs = r.headers;
    for (let i = 0; i < hs.length; i += 2) {
      const name = hs[i]!.toLowerCase();
      if (HOP_BY_HOP.has(name)) continue;
      const cur = h[name];
      h[name] = cur === undefined ? hs[i + 1]! : Array.isArray(cur) ? [...cur, hs[i + 1]!] : [String(cur), hs[i + 1]!];
    }
    h['te'] = 'trailers';
    if (r.contentLength >= 0 && r.hasBody) h['content-length'] = String(r.contentLength);
    for (const [name, t] of this.lc.setHeaders ?? []) {
      const v = evaluate(r, t);
      const key = name === 'host' ? ':authority' : name;
      if (v === '') {
        if (key !== ':authority') delete h[key];
      } else h[key] = v;
    }
    return h;
  }

  arm(ms: number, what: string): void {
    this.clear();
    this.timerWhat = what;
    this.timer = setTimeout(() => this.failTry(NEXT.timeout, 504, `${TIMED_OUT} ${what}`), ms);
  }

  clear(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  onResponse(h: http2.IncomingHttpHeaders & http2.IncomingHttpStatusHeader, flags: number): void {
    this.arm(this.lc.readTimeout!, 'while reading upstream');
    this.responded = true;
    this.held = undefined;
    const r = this.r;
    const o = r.out;
    o.status = Number(h[':status'] ?? 502);
    if (this.state) {
      this.state.status = o.status;
      this.state.headerTime = performance.now() - this.state.start;
    }
    o.headers = [];
    let redirect: string | undefined;
    for (const [name, value] of Object.entries(h)) {
      if (name[0] === ':' || value === undefined || HOP_BY_HOP.has(name)) continue;
      if (name === 'content-type') o.contentType = String(value);
      else if (HIDDEN.has(name)) {
        // As ngx_http_upstream does for every upstream module: act on X-Accel-*, and never pass them on.
        if (name === 'x-accel-redirect') redirect = String(value);
        else if (name === 'x-accel-limit-rate') r.limitRate = parseAccelLimitRate(String(value)) ?? r.limitRate;
      } else if (Array.isArray(value)) for (const v of value) o.headers.push(name, v);
      else o.headers.push(name, String(value));
    }
    if (redirect !== undefined) {
      this.finish(FAIL.NONE);
      this.dropStream();
      accelRedirect(r, redirect);
      return;
    }
    const cl = h['content-length'];
    const endStream = (flags & http2.constants.NGHTTP2_FLAG_END_STREAM) !== 0;
    // A trailers-only answer (gRPC errors) has no DATA: send it as one HEADERS frame that ends the stream.
    o.contentLength = endStream ? 0 : cl !== undefined ? Number(cl) : -1;
    if (!endStream) o.trailers = [];
    r.sendHeader();
  }

  onData(chunk: Buffer): void {
    const r = this.r;
    if (this.state) this.state.bytesReceived += chunk.length;
    this.arm(this.lc.readTimeout!, 'while reading upstream');
    const stream = this.stream;
    if (r.send(chunk, false) === AGAIN && stream) {
      stream.pause();
      r.sink.onDrain(r, () => stream.resume());
    }
  }

  onTrailers(h: http2.IncomingHttpHeaders): void {
    const t = (this.r.out.trailers ??= []);
    for (const [name, value] of Object.entries(h)) {
      if (value === undefined || name[0] === ':') continue;
      if (Array.isArray(value)) for (const v of value) t.push(name, v);
      else t.push(name, String(value));
    }
  }

  onEnd(): void {
    if (this.finished) return;
    if (!this.responded) {
      this.failTry(NEXT.error, 502, 'upstream prematurely closed stream while reading response header from upstream');
      return;
    }
    this.finish(FAIL.NONE);
    this.r.send(null, true);
    this.r.finalize(OK);
  }

  onClientClose(): void {
    if (this.finished) return;
    this.finish(FAIL.NONE);
    this.stream?.close(http2.constants.NGHTTP2_CANCEL);
    this.r.http.terminate(this.r, 499);
  }

  /** finish ends the current try with the balancer (failure accounting) and stops the timers. */
  finish(failure: number): void {
    if (this.finished) return;
    this.finished = true;
    this.clear();
    this.release(failure);
  }

  /** release ends the try with the balancer; `failure` is a FAIL reason (FAIL.NONE for success). */
  release(failure: number): void {
    const p = this.peer;
    if (!p || this.pc.current !== p) return;
    const st = this.state!;
    if (st.responseTime < 0) st.responseTime = performance.now() - st.start;
    const warn = this.group.free(this.pc, p, failure, Date.now(), st.headerTime < 0 ? st.responseTime : st.headerTime);
    if (warn) this.log('warn', `${warn} while ${this.timerWhat.replace(/^while /, '') || 'connecting to upstream'}`);
  }

  /** dropStream cancels the current upstream stream; its late events no longer reach this call. */
  dropStream(): void {
    const stream = this.stream;
    this.stream = undefined;
    if (stream && !stream.destroyed) stream.close(http2.constants.NGHTTP2_CANCEL);
  }

  /** failTry ends a failed try: the next peer when nginx would retry (nothing sent yet, body still held), else an error. */
  failTry(cond: number, status: number, why: string): void {
    if (this.finished) return;
    this.clear();
    this.log('error', why);
    if (this.state && this.state.status === 0) this.state.status = status;
    this.release(cond === NEXT.timeout ? FAIL.TIMEOUT : FAIL.ERROR);
    this.dropStream();
    const lc = this.lc;
    const retry = !this.responded && this.held !== undefined && this.pc.tries > 0 && (lc.nextUpstream! & cond) !== 0 && !(lc.nextUpstream! & NEXT.off);
    if (retry) {
      this.connect();
      return;
    }
    this.finished = true;
    if (this.r.headerSent) {
      this.r.http.terminate(this.r, status);
      return;
    }
    this.respondError(status);
  }

  respondError(status: number): void {
    const r = this.r;
    const grpc = GRPC_STATUS[status];
    const isGrpc = (r.header('content-type') ?? '').startsWith('application/grpc');
    if (grpc && isGrpc && !r.loc.errorPages?.some((p) => p.status === status)) {
      r.out = { status: 200, contentType: 'application/grpc', contentLength: 0, headers: ['grpc-status', grpc[0], 'grpc-message', grpc[1]] };
      r.sendHeader();
      r.send(null, true);
      r.finalize(OK);
      return;
    }
    r.finalize(status);
  }

  log(level: 'error' | 'warn', why: string): void {
    const r = this.r;
    const up = this.peer ? `, upstream: "${this.secure ? 'grpcs' : 'grpc'}://${this.peer.name}"` : '';
    r.http.cycle.log?.log(level, `*${r.conn.id} ${why}, client: ${r.conn.remoteAddress}, server: ${r.srv.serverNames[0]?.name ?? ''}, request: "${r.method} ${r.unparsedUri} ${r.protocol}"${up}`);
  }
}

function grpcHandler(idx: number, main: GrpcMainConf) {
  return (r: HttpRequest): number => {
    const lc = r.loc.confs[idx] as GrpcLocConf;
    const start = (target: GrpcTarget): number => {
      const call = new GrpcCall(r, lc, main, target);
      r.ctx[idx] = call;
      call.start();
      return DONE;
    };
    if (lc.target) return start(lc.target);
    const url = evaluate(r, lc.url!);
    const m = /^(?:(grpcs?):\/\/)?([^/?]+)$/i.exec(url);
    if (!m) {
      logRequest(r, 'error', `invalid URL prefix in "${url}"`);
      return 500;
    }
    const secure = m[1]?.toLowerCase() === 'grpcs';
    return findUpstream(r, lc.upstreams!, m[2]!, secure ? 443 : 80, (group) => start({ secure, group }));
  };
}

export const httpGrpcModule = defineHttpModule<GrpcMainConf, undefined, GrpcLocConf>({
  name: 'ngx_http_grpc_module',
  type: 'http',
  configureArg: '--with-http_grpc_module',
  directives: [
    { name: 'grpc_pass', contexts: CTX.HTTP_LOC | CTX.HTTP_LIF, args: ARGS.TAKE1, conf: 'loc', set: grpcPass },
    { name: 'grpc_set_header', contexts: LOC, args: ARGS.TAKE2, conf: 'loc', set: setHeader },
    { name: 'grpc_connect_timeout', contexts: LOC, args: ARGS.TAKE1, conf: 'loc', set: msecSlot('connectTimeout') },
    { name: 'grpc_send_timeout', contexts: LOC, args: ARGS.TAKE1, conf: 'loc', set: msecSlot('sendTimeout') },
    { name: 'grpc_read_timeout', contexts: LOC, args: ARGS.TAKE1, conf: 'loc', set: msecSlot('readTimeout') },
    { name: 'grpc_ssl_verify', contexts: LOC, args: ARGS.FLAG, conf: 'loc', set: flagSlot('sslVerify') },
    { name: 'grpc_ssl_server_name', contexts: LOC, args: ARGS.FLAG, conf: 'loc', set: flagSlot('sslServerName') },
    { name: 'grpc_ssl_name', contexts: LOC, args: ARGS.TAKE1, conf: 'loc', set: strSlot('sslName') },
    { name: 'grpc_ssl_trusted_certificate', contexts: LOC, args: ARGS.TAKE1, conf: 'loc', set: pemSlot },
    { name: 'grpc_next_upstream', contexts: LOC, args: ARGS.ONEMORE, conf: 'loc', set: bitmaskSlot('nextUpstream', NEXT) },
    { name: 'grpc_next_upstream_tries', contexts: LOC, args: ARGS.TAKE1, conf: 'loc', set: numSlot('nextUpstreamTries') },
  ],
  createMainConf: () => ({ sessions: new Map() }),
  createLocConf: () => ({}),
  mergeLocConf(cf, p, c) {
    c.upstreams = upstreamMainConf(cf);
    c.setHeaders ??= p.setHeaders;
    c.connectTimeout ??= p.connectTimeout ?? 60_000;
    c.sendTimeout ??= p.sendTimeout ?? 60_000;
    c.readTimeout ??= p.readTimeout ?? 60_000;
    c.sslVerify ??= p.sslVerify ?? false;
    c.sslServerName ??= p.sslServerName ?? false;
    c.sslName ??= p.sslName;
    c.sslTrustedCertificate ??= p.sslTrustedCertificate;
    c.nextUpstream ??= p.nextUpstream ?? NEXT.error | NEXT.timeout;
    c.nextUpstreamTries ??= p.nextUpstreamTries ?? 0;
  },
  exitWorker(cycle: Cycle) {
    const level = (cycle.confs[cycle.registry.index(httpModule)] as HttpBlockConf | undefined)?.level;
    const main = level?.main[cycle.registry.index(httpGrpcModule)] as GrpcMainConf | undefined;
    for (const s of main?.sessions.values() ?? []) s.close();
  },
});
