/**
 * The response spool for `proxy_buffering on`: the upstream is read as fast as it sends; what the client
 * cannot take yet waits in memory up to proxy_buffers (number × size), then in a temp file up to
 * proxy_max_temp_file_size, and only then is the upstream paused. Once the upstream response is complete
 * the upstream connection is released (back to the keep-alive pool) while the spool drains to the client.
 * The temp file is unlinked as soon as it is opened, so nothing is left behind.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { HttpRequest } from '../../request.ts';
import { OK } from '../../types.ts';
import type { ProxyLocConf } from './conf.ts';

/** SpoolOwner is what the spool needs of the upstream side: flow control and completion. */
export interface SpoolOwner {
  pauseUpstream(): void;
  resume(): void;
  complete(): void;
  log(level: 'error', msg: string): void;
}

let tempSeq = 0;

export class ResponseSpool {
  readonly r: HttpRequest;
  readonly owner: SpoolOwner;
  readonly memMax: number;
  fileMax: number;
  readonly readSize: number;
  mem: Buffer[] = [];
  memBytes = 0;
  fd = -1;
  fileW = 0;
  fileR = 0;
  ended = false;
  waiting = false;
  closed = false;
  readonly #drained = () => this.onDrain();

  constructor(r: HttpRequest, conf: ProxyLocConf, owner: SpoolOwner) {
    this.r = r;
    this.owner = owner;
    this.memMax = conf.buffers!.num * conf.buffers!.size;
    this.fileMax = conf.maxTempFileSize!;
    this.readSize = Math.max(conf.buffers!.size, 16 * 1024);
  }

  push(b: Buffer): void {
    if (this.closed) return;
    if (!this.waiting && this.mem.length === 0 && this.fileR === this.fileW) {
      // Nothing queued and the client is ready: pass it straight on.
      if (this.r.send(b, false) !== OK) this.wait();
      return;
    }
    // Memory always holds older data than the file: once spilling started, newer data follows it there.
    if (this.fileR < this.fileW && this.write(b)) {
      if (this.fileW - this.fileR >= this.fileMax) this.owner.pauseUpstream();
      return;
    }
    if (this.memBytes + b.length <= this.memMax || this.fileMax === 0 || !this.write(b)) {
      this.mem.push(b);
      this.memBytes += b.length;
      if (this.memBytes >= this.memMax) this.owner.pauseUpstream();
    }
  }

  write(b: Buffer): boolean {
    try {
      if (this.fd < 0) {
        const dir = path.join(this.r.http.cycle.prefix, 'proxy_temp');
        fs.mkdirSync(dir, { recursive: true });
        const file = path.join(dir, `${process.pid}.${++tempSeq}`);
        this.fd = fs.openSync(file, 'w+', 0o600);
        fs.unlinkSync(file);
      }
      fs.writeSync(this.fd, b, 0, b.length, this.fileW);
      this.fileW += b.length;
      return true;
    } catch (err) {
      this.owner.log('error', `cannot write to temp file: ${(err as Error).message}`);
      this.fileMax = 0;
      return false;
    }
  }

  wait(): void {
    if (this.waiting) return;
    this.waiting = true;
    this.r.sink.onDrain(this.r, this.#drained);
  }

  onDrain(): void {
    this.waiting = false;
    this.flush();
  }

  /** flush passes queued data while the client accepts it: memory first (older), then the temp file. */
  flush(): void {
    while (!this.waiting && !this.closed) {
      let chunk: Buffer | undefined;
      if (this.mem.length > 0) {
        chunk = this.mem.shift()!;
        this.memBytes -= chunk.length;
      } else if (this.fileR < this.fileW) {
        const n = Math.min(this.readSize, this.fileW - this.fileR);
        chunk = Buffer.allocUnsafe(n);
        fs.readSync(this.fd, chunk, 0, n, this.fileR);
        this.fileR += n;
        if (this.fileR === this.fileW) this.fileR = this.fileW = 0;
      }
      if (!chunk) break;
      if (this.memBytes < this.memMax && this.fileW - this.fileR < this.fileMax) this.owner.resume();
      if (this.r.send(chunk, false) !== OK) this.wait();
    }
    if (!this.waiting && this.mem.length === 0 && this.fileR === this.fileW && !this.closed) {
      if (this.ended) {
        this.close();
        this.owner.complete();
      } else this.owner.resume();
    }
  }

  end(): void {
    this.ended = true;
    this.flush();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.fd >= 0) fs.closeSync(this.fd);
    this.fd = -1;
    this.mem = [];
  }
}
