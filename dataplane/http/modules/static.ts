/**
 * ngx_http_static_module: answers GET/HEAD for a URI that maps to a regular file (root/alias), with
 * Content-Type from `types`/`default_type`, Last-Modified, ETag and Content-Length; the not_modified and range
 * filters then turn the answer into 304/206/416 when asked. A directory without the trailing slash is a 301
 * to the slash form. Small files are read in one go; larger ones are streamed with backpressure.
 */
import fs from 'node:fs';
import type { ConfCtx } from '../../core/conf.ts';
import type { HttpRequest } from '../request.ts';
import { DECLINED, DONE, OK, PHASE, defineHttpModule, type PhaseHandler } from '../types.ts';
import { mapUriToPath } from '../variables-core.ts';

/** Files up to this size are read synchronously in one piece (one syscall pair, no stream state). */
const SMALL_FILE = 64 * 1024;
const READ_CHUNK = 64 * 1024;

/** nginx's built-in types when no `types` block is configured. */
const DEFAULT_TYPES = new Map([
  ['html', 'text/html'],
  ['gif', 'image/gif'],
  ['jpg', 'image/jpeg'],
]);

/** contentTypeOf picks the MIME type by the URI's extension (ngx_http_set_content_type). */
export function contentTypeOf(r: HttpRequest, uri: string): string | undefined {
  const slash = uri.lastIndexOf('/');
  const dot = uri.lastIndexOf('.');
  const types = r.loc.types ?? DEFAULT_TYPES;
  if (dot > slash) {
    const ext = uri.slice(dot + 1);
    const t = types.get(ext) ?? types.get(ext.toLowerCase());
    if (t !== undefined) return t;
  }
  return r.loc.defaultType;
}

/** etagOf is nginx's strong ETag: hex mtime (seconds) and hex size. */
export function etagOf(st: fs.Stats): string {
  return `"${Math.floor(st.mtimeMs / 1000).toString(16)}-${st.size.toString(16)}"`;
}

/** openError maps a failed open/stat to nginx's status, logging as ngx_http_static_handler does. */
export function openError(r: HttpRequest, file: string, err: NodeJS.ErrnoException): number {
  const code = err.code;
  if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'ENAMETOOLONG') {
    if (r.loc.logNotFound) r.http.cycle.log?.log('error', `*${r.conn.id} open() "${file}" failed (${errnoText(err)}), client: ${r.conn.remoteAddress}, server: ${r.srv.serverNames[0]?.name ?? ''}, request: "${r.method} ${r.unparsedUri} ${r.protocol}"`);
    return 404;
  }
  if (code === 'EACCES' || code === 'EPERM') {
    r.http.cycle.log?.log('error', `*${r.conn.id} open() "${file}" failed (${errnoText(err)}), client: ${r.conn.remoteAddress}`);
    return 403;
  }
  r.http.cycle.log?.log('crit', `*${r.conn.id} open() "${file}" failed (${errnoText(err)})`);
  return 500;
}

function errnoText(err: NodeJS.ErrnoException): string {
  const n = -(err.errno ?? 0);
  const text: Record<string, string> = { ENOENT: 'No such file or directory', ENOTDIR: 'Not a directory', EACCES: 'Permission denied', EPERM: 'Operation not permitted', ENAMETOOLONG: 'File name too long' };
  return `${n}: ${text[err.code ?? ''] ?? err.message}`;
}

function staticHandler(r: HttpRequest): number {
  if (r.method !== 'GET' && r.method !== 'HEAD' && r.method !== 'POST') return 405;
  if (r.uri.endsWith('/')) return DECLINED;
  const file = mapUriToPath(r, r.uri);
  // open, then fstat: one path lookup per request (the fd then serves the read).
  let fd: number;
  let st: fs.Stats;
  try {
    fd = fs.openSync(file, 'r');
  } catch (err) {
    return openError(r, file, err as NodeJS.ErrnoException);
  }
  try {
    st = fs.fstatSync(fd);
  } catch (err) {
    fs.closeSync(fd);
    return openError(r, file, err as NodeJS.ErrnoException);
  }
  let rc: number | undefined;
  if (st.isDirectory()) {
    r.out.location = r.uri + '/' + (r.args ? `?${r.args}` : '');
    rc = 301;
  } else if (!st.isFile()) {
    r.http.cycle.log?.log('crit', `*${r.conn.id} "${file}" is not a regular file`);
    rc = 404;
  } else if (r.method === 'POST') {
    // POST to a static file is refused, but only once the file is known to exist (nginx answers 405 then).
    rc = 405;
  } else {
    r.conn.discardBody(r);
    if (r.discardError) rc = r.discardError;
  }
  if (rc !== undefined) {
    fs.closeSync(fd);
    return rc;
  }
  return sendFile(r, fd, st);
}

/** sendFile answers 200 with an open file's headers and bytes, and owns (closes) the fd. */
export function sendFile(r: HttpRequest, fd: number, st: fs.Stats): number {
  const o = r.out;
  o.status = 200;
  o.contentType = contentTypeOf(r, r.uri);
  o.contentLength = st.size;
  o.lastModified = Math.floor(st.mtimeMs / 1000) * 1000;
  o.etag = etagOf(st);
  r.allowRanges = true;
  r.sendHeader();
  // HEAD, or a filter turned the answer into a bodiless one (304): no bytes to read.
  if (r.headerOnly || st.size === 0) {
    fs.closeSync(fd);
    r.send(null, true);
    return OK;
  }
  if (st.size <= SMALL_FILE) {
    const data = Buffer.allocUnsafe(st.size);
    let n: number;
    try {
      n = fs.readSync(fd, data, 0, st.size, 0);
    } catch (err) {
      n = -1;
      r.http.cycle.log?.log('crit', `*${r.conn.id} read() failed (${(err as Error).message})`);
    } finally {
      fs.closeSync(fd);
    }
    if (n !== st.size) {
      // The file shrank or failed under us after the header went out: nothing sane can follow.
      r.http.terminate(r, 500);
      return DONE;
    }
    r.send(data, true);
    return OK;
  }
  new FileStream(r, fd, st.size).pump();
  return DONE;
}

/** FileStream reads a file in chunks, waiting for the transport to drain when r.send says it is full. */
class FileStream {
  readonly r: HttpRequest;
  readonly fd: number;
  readonly size: number;
  pos = 0;

  constructor(r: HttpRequest, fd: number, size: number) {
    this.r = r;
    this.fd = fd;
    this.size = size;
  }

  pump(): void {
    const buf = Buffer.allocUnsafe(Math.min(READ_CHUNK, this.size - this.pos));
    fs.read(this.fd, buf, 0, buf.length, this.pos, (err, n) => this.onRead(err, n, buf));
  }

  onRead(err: NodeJS.ErrnoException | null, n: number, buf: Buffer): void {
    const r = this.r;
    if (r.finalized) return this.close();
    if (err || n === 0) {
      r.http.cycle.log?.log('crit', `*${r.conn.id} read() failed (${err?.message ?? 'file was truncated'})`);
      this.close();
      r.http.terminate(r, 500);
      return;
    }
    this.pos += n;
    const last = this.pos >= this.size;
    const rc = r.send(n === buf.length ? buf : buf.subarray(0, n), last);
    // Done when the file is, or when a filter already finished the response (a range that ended early).
    if (last || r.responseDone) {
      this.close();
      r.finalize(OK);
      return;
    }
    if (rc === OK) this.pump();
    else r.sink.onDrain(r, () => (r.finalized ? this.close() : this.pump()));
  }

  close(): void {
    fs.close(this.fd, () => {});
  }
}

export const httpStaticModule = defineHttpModule({
  name: 'ngx_http_static_module',
  type: 'http',
  phases: [{ phase: PHASE.CONTENT, handler: (_cf: ConfCtx): PhaseHandler => staticHandler }],
});
