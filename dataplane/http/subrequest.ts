/**
 * Subrequests (ngx_http_subrequest): a child request on the parent's connection that shares its server,
 * headers and client address but has its own URI, location, module state and response. It runs the phases
 * from server-rewrite, like an internal redirect, skips the access phase, is not logged, and writes its
 * response into memory (bounded) or nowhere, so nothing reaches the client. When it finishes, `done` receives
 * the child, whose `out` holds its status and headers. Used by auth_request; general enough for others.
 */
import type { ParsedHead } from './parser.ts';
import { HttpRequest, type ResponseSink } from './request.ts';

/** SubrequestOptions: the method (GET), whether only the head is wanted, and how much body to keep. */
export interface SubrequestOptions {
  method?: string;
  /** Like a HEAD request: handlers may skip the body (auth_request sets this). */
  headerOnly?: boolean;
  /** Keep up to this many body bytes in `sr.subrequestBody` (0: discard the body). */
  captureBody?: number;
}

/** SubrequestDone is called once when the child request has been finalized. */
export type SubrequestDone = (sr: HttpRequest) => void;

/** nginx's NGX_HTTP_MAX_SUBREQUESTS: a request tree stops growing here (subrequests of subrequests …). */
export const MAX_SUBREQUESTS = 50;

/** MemorySink collects a subrequest's body up to a bound and never blocks. */
class MemorySink implements ResponseSink {
  readonly limit: number;
  chunks: Buffer[] = [];
  size = 0;
  truncated = false;

  constructor(limit: number) {
    this.limit = limit;
  }

  sendHead(): void {}

  sendBody(r: HttpRequest, chunk: Buffer | null, _last: boolean): boolean {
    if (chunk !== null && chunk.length > 0) {
      r.bodyBytesSent += chunk.length;
      const room = this.limit - this.size;
      if (room > 0) {
        const part = chunk.length <= room ? chunk : chunk.subarray(0, room);
        this.chunks.push(Buffer.from(part));
        this.size += part.length;
      }
      if (chunk.length > room) this.truncated = true;
    }
    return true;
  }

  onDrain(_r: HttpRequest, cb: () => void): void {
    setImmediate(cb);
  }
}

/** startSubrequest creates the child of `parent` for `uri?args` and runs it; returns it, or undefined past the limit. */
export function startSubrequest(parent: HttpRequest, uri: string, args: string, opts: SubrequestOptions, done: SubrequestDone): HttpRequest | undefined {
  const main = parent.main;
  if (main.subrequests >= MAX_SUBREQUESTS) return undefined;
  main.subrequests++;
  const head: ParsedHead = {
    method: opts.method ?? 'GET',
    unparsedUri: main.unparsedUri,
    uri,
    args,
    targetHost: undefined,
    httpMajor: main.httpMajor,
    httpMinor: main.httpMinor,
    headers: main.headers,
    host: main.host,
    contentLength: -1,
    chunked: false,
    connection: undefined,
    expect: undefined,
    length: 0,
  };
  const sink = new MemorySink(opts.captureBody ?? 0);
  const sr = new HttpRequest(parent.conn, parent.http, sink, head, parent.srv);
  sr.main = main;
  sr.parent = parent;
  sr.internal = true;
  sr.keepalive = false;
  sr.expectContinue = false;
  sr.headerOnly = opts.headerOnly === true || sr.method === 'HEAD';
  sr.remoteAddress = parent.remoteAddress;
  sr.remotePort = parent.remotePort;
  sr.serverCaptures = parent.serverCaptures;
  sr.onSubrequestDone = () => {
    if (sink.chunks.length > 0) sr.subrequestBody = sink.chunks.length === 1 ? sink.chunks[0] : Buffer.concat(sink.chunks);
    sr.subrequestTruncated = sink.truncated;
    done(sr);
  };
  sr.phaseIndex = sr.http.serverRewriteIndex;
  sr.http.runPhases(sr);
  return sr;
}
