/**
 * A buffered request body (`proxy_request_buffering on`): kept in memory up to client_body_buffer_size, the
 * rest in an unlinked temp file (nginx's client_body_temp), and written to each upstream try with
 * backpressure, so a large upload never sits in memory and a retry can send it again.
 */
import fs from 'node:fs';
import type net from 'node:net';
import path from 'node:path';

const READ_CHUNK = 64 * 1024;
let tempSeq = 0;

export class RequestBody {
  readonly memMax: number;
  readonly dir: string;
  mem: Buffer[] = [];
  memBytes = 0;
  fd = -1;
  fileBytes = 0;

  constructor(memMax: number, dir: string) {
    this.memMax = memMax;
    this.dir = dir;
  }

  get length(): number {
    return this.memBytes + this.fileBytes;
  }

  /** add appends a chunk; throws when the temp file cannot be written (the caller answers 500). */
  add(b: Buffer): void {
    if (this.fd < 0 && this.memBytes + b.length <= this.memMax) {
      this.mem.push(b);
      this.memBytes += b.length;
      return;
    }
    if (this.fd < 0) {
      fs.mkdirSync(this.dir, { recursive: true });
      const file = path.join(this.dir, `${process.pid}.${++tempSeq}`);
      this.fd = fs.openSync(file, 'w+', 0o600);
      fs.unlinkSync(file);
    }
    fs.writeSync(this.fd, b, 0, b.length, this.fileBytes);
    this.fileBytes += b.length;
  }

  /** writeTo writes the whole body to `socket` (memory, then the file in chunks as the socket drains). */
  writeTo(socket: net.Socket, done: () => void): void {
    for (const b of this.mem) socket.write(b);
    if (this.fd < 0) {
      done();
      return;
    }
    let pos = 0;
    const pump = (): void => {
      while (pos < this.fileBytes && !socket.destroyed) {
        const n = Math.min(READ_CHUNK, this.fileBytes - pos);
        const chunk = Buffer.allocUnsafe(n);
        fs.readSync(this.fd, chunk, 0, n, pos);
        pos += n;
        if (!socket.write(chunk)) {
          socket.once('drain', pump);
          return;
        }
      }
      if (!socket.destroyed) done();
    };
    pump();
  }

  close(): void {
    if (this.fd >= 0) fs.closeSync(this.fd);
    this.fd = -1;
    this.mem = [];
  }
}
