/**
 * ngx_http_grpc_module: `grpc_pass grpc://…` / `grpcs://…` proxies a request to a gRPC server over HTTP/2,
 * streaming the request body up and the response (DATA, then trailers) down as they arrive, so unary and
 * streaming calls both work. Deadlines are nginx's: grpc_connect_timeout, grpc_send_timeout (upstream
 * write blocked) and grpc_read_timeout (between upstream frames). Failures before a response become 502/504;
 * a gRPC client that has no error_page for them gets a trailers-only answer with grpc-status (14 or 4).
 *
 * Peers come from a GrpcTarget. Until the shared upstream layer (dataplane/upstream) is on main this is one
 * address per grpc_pass with one multiplexed HTTP/2 session per worker; the seam is `GrpcTarget.choose`, whose
 * GrpcChoice mirrors the balancer's per-request state (startChoice, then get/free per try).
 */
import fs from 'node:fs';
import http2 from 'node:http2';
import type { ConfCtx } from '../../core/conf.ts';
import type { Cycle } from '../../core/cycle.ts';
import { ARGS, CTX } from '../../core/module.ts';
import { flagSlot, msecSlot, strSlot } from '../../core/slots.ts';
import type { ConfDirective } from '../../core/tree.ts';
import type { CoreLocConf } from '../core-conf.ts';
import { httpCoreModule } from '../core-module.ts';
import { httpModule, type HttpBlockConf } from '../http-module.ts';
import type { HttpRequest } from '../request.ts';
import { AGAIN, DONE, OK, defineHttpModule } from '../types.ts';
import { compileTemplate, evaluate, type Template } from '../variables.ts';

/** GrpcPeer is one gRPC server address. */
export interface GrpcPeer {
  name: string;
  host: string;
  port: number;
}

/** GrpcChoice is one request's peer selection: a peer per try, and how each try ended. */
export interface GrpcChoice {
  next(now: number): GrpcPeer | undefined;
  done(peer: GrpcPeer, failed: boolean, now: number, latency: number): void;
}

/** GrpcTarget is what `grpc_pass` names: whether it speaks TLS, and per request a GrpcChoice. */
export interface GrpcTarget {
  readonly secure: boolean;
  choose(r: HttpRequest): GrpcChoice;
}

export interface GrpcLocConf {
  target?: GrpcTarget;
  setHeaders?: [string, Template][];
  connectTimeout?: number;
  sendTimeout?: number;
  readTimeout?: number;
  sslVerify?: boolean;
  sslServerName?: boolean;
  sslName?: string;
  sslTrustedCertificate?: string;
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

/** SingleTarget is the implicit one-address upstream of `grpc_pass grpc://host:port` (its own choice, too). */
class SingleTarget implements GrpcTarget, GrpcChoice {
  readonly secure: boolean;
  readonly peer: GrpcPeer;
  constructor(secure: boolean, peer: GrpcPeer) {
    this.secure = secure;
    this.peer = peer;
  }
  choose(): GrpcChoice {
    return this;
  }
  next(): GrpcPeer {
    return this.peer;
  }
  done(): void {}
}

function grpcPass(cf: ConfCtx, d: ConfDirective, conf: GrpcLocConf): string | void {
  if (conf.target) return 'is duplicate';
  const url = d.args[0]!;
  const m = /^(?:(grpcs?):\/\/)?(\[[0-9a-fA-F:.]+\]|[^:/[\]]+)(?::(\d+))?$/.exec(url);
  if (!m) cf.error(`invalid URL prefix in "${url}"`);
  const secure = m[1] === 'grpcs';
  const host = m[2]!.replace(/^\[|\]$/g, '');
  if (m[3] === undefined) cf.error(`no port in upstream "${m[2]}"`);
  const port = Number(m[3]);
  if (!(port >= 1 && port <= 65535)) cf.error(`invalid port in upstream "${url}"`);
  conf.target = new SingleTarget(secure, { name: `${m[2]}:${port}`, host, port });
  const clcf = cf.level.loc![cf.index(httpCoreModule)] as CoreLocConf;
  const idx = cf.index(httpGrpcModule);
  clcf.handler = grpcHandler(idx, cf.level.main[idx] as GrpcMainConf);
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

function sessionFor(r: HttpRequest, main: GrpcMainConf, lc: GrpcLocConf, peer: GrpcPeer): http2.ClientHttp2Session {
  const secure = lc.target!.secure;
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
  const s = http2.connect(`${secure ? 'https' : 'http'}://${host}:${peer.port}`, opts);
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

/** GrpcCall is one proxied call: its upstream stream, timers, and the client side it feeds. */
class GrpcCall {
  readonly r: HttpRequest;
  readonly lc: GrpcLocConf;
  readonly peer: GrpcPeer;
  readonly choice: GrpcChoice;
  readonly started = Date.now();
  stream: http2.ClientHttp2Stream | undefined;
  timer: NodeJS.Timeout | undefined;
  responded = false;
  finished = false;

  constructor(r: HttpRequest, lc: GrpcLocConf, choice: GrpcChoice, peer: GrpcPeer) {
    this.r = r;
    this.lc = lc;
    this.choice = choice;
    this.peer = peer;
  }

  start(main: GrpcMainConf): void {
    const r = this.r;
    const session = sessionFor(r, main, this.lc, this.peer);
    if (session.connecting) {
      this.arm(this.lc.connectTimeout!, 'upstream timed out (110: Connection timed out) while connecting to upstream');
    } else this.arm(this.lc.readTimeout!, 'upstream timed out (110: Connection timed out) while reading response header from upstream');
    let stream: http2.ClientHttp2Stream;
    try {
      stream = session.request(this.requestHeaders(), { endStream: !r.hasBody });
    } catch (err) {
      this.fail(502, `upstream prematurely closed connection (${(err as Error).message})`);
      return;
    }
    this.stream = stream;
    stream.on('response', (h, flags) => this.onResponse(h, flags));
    stream.on('data', (chunk: Buffer) => this.onData(chunk));
    stream.on('trailers', (h) => this.onTrailers(h));
    stream.on('end', () => this.onEnd());
    stream.on('error', (err: Error) => this.fail(502, `upstream stream error: ${err.message}`));
    stream.on('close', () => {
      if (!this.finished) this.fail(502, `upstream prematurely closed stream (${stream.rstCode ?? 0})`);
    });
    const conn = r.conn as { onClientClose?: () => void };
    conn.onClientClose = () => this.onClientClose();
    if (r.hasBody) {
      r.conn.readBody(r, {
        onData: (chunk) => {
          if (stream.destroyed) return;
          if (!stream.write(chunk)) {
            this.arm(this.lc.sendTimeout!, 'upstream timed out (110: Connection timed out) while sending request to upstream');
            stream.once('drain', () => this.arm(this.lc.readTimeout!, 'upstream timed out (110: Connection timed out) while reading upstream'));
          }
        },
        onEnd: (status) => {
          if (status !== 0) {
            this.finished = true;
            this.clear();
            stream.close(http2.constants.NGHTTP2_CANCEL);
            r.finalize(status);
          } else if (!stream.destroyed) stream.end();
        },
      });
    }
  }

  requestHeaders(): http2.OutgoingHttpHeaders {
    const r = this.r;
    const h: http2.OutgoingHttpHeaders = {
      ':method': r.method,
      ':scheme': this.lc.target!.secure ? 'https' : 'http',
      ':path': r.internal ? r.uri + (r.args ? `?${r.args}` : '') : r.unparsedUri,
      ':authority': this.peer.name,
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

  arm(ms: number, why: string): void {
    this.clear();
    this.timer = setTimeout(() => this.fail(504, why), ms);
  }

  clear(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  onResponse(h: http2.IncomingHttpHeaders & http2.IncomingHttpStatusHeader, flags: number): void {
    this.arm(this.lc.readTimeout!, 'upstream timed out (110: Connection timed out) while reading upstream');
    this.responded = true;
    const r = this.r;
    const o = r.out;
    o.status = Number(h[':status'] ?? 502);
    o.headers = [];
    for (const [name, value] of Object.entries(h)) {
      if (name[0] === ':' || value === undefined || HOP_BY_HOP.has(name)) continue;
      if (name === 'content-type') o.contentType = String(value);
      else if (name === 'date' || name === 'server') continue;
      else if (Array.isArray(value)) for (const v of value) o.headers.push(name, v);
      else o.headers.push(name, String(value));
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
    this.arm(this.lc.readTimeout!, 'upstream timed out (110: Connection timed out) while reading upstream');
    if (r.send(chunk, false) === AGAIN && this.stream) {
      this.stream.pause();
      r.sink.onDrain(r, () => this.stream?.resume());
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
    this.finished = true;
    this.clear();
    const now = Date.now();
    this.choice.done(this.peer, false, now, now - this.started);
    const r = this.r;
    if (!this.responded) {
      r.finalize(502);
      return;
    }
    r.send(null, true);
    r.finalize(OK);
  }

  onClientClose(): void {
    if (this.finished) return;
    this.finished = true;
    this.clear();
    this.stream?.close(http2.constants.NGHTTP2_CANCEL);
    this.r.http.terminate(this.r, 499);
  }

  fail(status: number, why: string): void {
    if (this.finished) return;
    this.finished = true;
    this.clear();
    const r = this.r;
    r.http.cycle.log?.log('error', `*${r.conn.id} ${why}, client: ${r.conn.remoteAddress}, server: ${r.srv.serverNames[0]?.name ?? ''}, request: "${r.method} ${r.unparsedUri} ${r.protocol}", upstream: "${this.lc.target!.secure ? 'grpcs' : 'grpc'}://${this.peer.name}"`);
    const now = Date.now();
    this.choice.done(this.peer, true, now, now - this.started);
    if (this.stream && !this.stream.destroyed) this.stream.close(http2.constants.NGHTTP2_CANCEL);
    if (r.headerSent) {
      r.http.terminate(r, status);
      return;
    }
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
}

function grpcHandler(idx: number, main: GrpcMainConf) {
  return (r: HttpRequest): number => {
    const lc = r.loc.confs[idx] as GrpcLocConf;
    const choice = lc.target!.choose(r);
    const peer = choice.next(Date.now());
    if (!peer) {
      r.http.cycle.log?.log('error', `*${r.conn.id} no live upstreams while connecting to upstream, client: ${r.conn.remoteAddress}`);
      return 502;
    }
    const call = new GrpcCall(r, lc, choice, peer);
    r.ctx[idx] = call;
    call.start(main);
    return DONE;
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
  ],
  createMainConf: () => ({ sessions: new Map() }),
  createLocConf: () => ({}),
  mergeLocConf(_cf, p, c) {
    c.setHeaders ??= p.setHeaders;
    c.connectTimeout ??= p.connectTimeout ?? 60_000;
    c.sendTimeout ??= p.sendTimeout ?? 60_000;
    c.readTimeout ??= p.readTimeout ?? 60_000;
    c.sslVerify ??= p.sslVerify ?? false;
    c.sslServerName ??= p.sslServerName ?? false;
    c.sslName ??= p.sslName;
    c.sslTrustedCertificate ??= p.sslTrustedCertificate;
  },
  exitWorker(cycle: Cycle) {
    const level = (cycle.confs[cycle.registry.index(httpModule)] as HttpBlockConf | undefined)?.level;
    const main = level?.main[cycle.registry.index(httpGrpcModule)] as GrpcMainConf | undefined;
    for (const s of main?.sessions.values() ?? []) s.close();
  },
});
