/**
 * A buffered, append-only log file for access logs. Requests never wait on the disk: lines collect in memory
 * and go out in one asynchronous write, at most COALESCE_MS after they were logged (no `buffer=`), or when
 * `buffer=size` is full or `flush=time` expired, as nginx's buffered logs do. An asynchronous write costs a
 * few microseconds of thread-pool work, so coalescing is what keeps logging cheap under load. One write is in flight at a time,
 * so lines keep their order; O_APPEND keeps lines from several workers whole.
 */
import fs from 'node:fs';
import { closeLogFile, openLogFile } from '../../core/log.ts';

/** How long an unbuffered log keeps lines before writing them (one write per interval under load). */
export const COALESCE_MS = 10;

/** The size of the byte buffers lines are copied into when there is no `buffer=` (which sets it otherwise). */
const CHUNK = 16 * 1024;

export class LogFile {
  readonly path: string;
  /** `buffer=` in bytes; 0 writes at the end of each event-loop turn. */
  bufferSize = 0;
  /** `flush=` in milliseconds; 0 means only a full buffer (or reopen, or exit) flushes. */
  flushMs = 0;
  #fd = -1;
  // Lines are copied into bytes at once, so no log string outlives its request (strings kept until a
  // 64 KiB buffer fills would be promoted by the GC and cost more than writing them).
  #cur: Buffer | undefined;
  #len = 0;
  /** Filled buffers waiting for the next write, and the bytes queued in all of them. */
  #full: Buffer[] = [];
  #bytes = 0;
  #writing = false;
  #scheduled = false;
  #timer: NodeJS.Timeout | undefined;
  /** Descriptors replaced by a reopen, closed once the write in flight on them finished. */
  #retired: number[] = [];
  #closed = false;
  readonly #flushCb = () => {
    this.#scheduled = false;
    this.#timer = undefined;
    this.flush();
  };

  constructor(path: string) {
    this.path = path;
  }

  /** open opens (creating) the file for appending; throws the system error. */
  open(): void {
    if (this.#fd < 0) this.#fd = openAppend(this.path);
    this.#closed = false;
  }

  /** append queues one line (with its newline); latin1 strings carry bytes as they came. */
  append(line: string): void {
    const n = line.length;
    if (this.#cur === undefined || this.#len + n > this.#cur.length) {
      if (this.#cur !== undefined && this.#len > 0) this.#full.push(this.#cur.subarray(0, this.#len));
      this.#cur = Buffer.allocUnsafe(Math.max(this.bufferSize || CHUNK, n));
      this.#len = 0;
    }
    this.#len += this.#cur.write(line, this.#len, 'latin1');
    this.#bytes += n;
    if (this.bufferSize === 0) {
      if (!this.#scheduled) {
        this.#scheduled = true;
        setTimeout(this.#flushCb, COALESCE_MS).unref();
      }
    } else if (this.#bytes >= this.bufferSize) this.flush();
    else if (this.flushMs > 0 && this.#timer === undefined) {
      this.#timer = setTimeout(this.#flushCb, this.flushMs);
      this.#timer.unref();
    }
  }

  /** flush starts writing what is queued (unless a write is in flight; it continues when that one ends). */
  flush(): void {
    if (this.#writing || this.#bytes === 0) return;
    if (this.#timer) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    if (this.#fd < 0) {
      // Closed by a finished cycle while a request of that cycle still logs: append and let go at once.
      this.flushSync();
      return;
    }
    const buf = this.#take();
    const fd = this.#fd;
    this.#writing = true;
    fs.write(fd, buf, 0, buf.length, null, () => {
      // A failed write (disk full) loses its lines; serving goes on, as in nginx.
      this.#writing = false;
      this.#closeRetired();
      if (this.#bytes > 0 && (this.bufferSize === 0 || this.#bytes >= this.bufferSize)) this.flush();
    });
  }

  /** flushSync writes everything queued now (exit, reopen paths; never per request). */
  flushSync(): void {
    if (this.#bytes === 0) return;
    const buf = this.#take();
    const fd = this.#fd >= 0 ? this.#fd : tryOpen(this.path);
    if (fd < 0) return;
    try {
      fs.writeSync(fd, buf);
    } catch {
      // Lines lost to a failing disk must not stop the worker.
    }
    if (fd !== this.#fd) closeLogFile(fd);
  }

  #take(): Buffer {
    const parts = this.#full;
    if (this.#cur !== undefined && this.#len > 0) parts.push(this.#cur.subarray(0, this.#len));
    // The written bytes belong to the write now: the next line starts a fresh buffer.
    this.#cur = undefined;
    this.#len = 0;
    this.#full = [];
    this.#bytes = 0;
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  }

  /** reopen flushes, then points new writes at a freshly opened file of the same name (USR1, rotation). */
  reopen(): void {
    if (this.#closed) return;
    const fd = openAppend(this.path);
    if (this.#fd >= 0) this.#retired.push(this.#fd);
    this.#fd = fd;
    if (!this.#writing) this.#closeRetired();
    this.flush();
  }

  /** close writes what is queued and closes the file; later appends still reach it, opening it briefly. */
  close(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#closed = true;
    const fd = this.#fd;
    this.#fd = -1;
    if (fd >= 0) {
      if (this.#writing) this.#retired.push(fd);
      this.#fd = fd;
      this.flushSync();
      this.#fd = -1;
      if (!this.#writing) closeLogFile(fd);
    }
  }

  #closeRetired(): void {
    for (const fd of this.#retired) if (fd > 2) fs.close(fd, () => {});
    this.#retired = [];
  }
}

function openAppend(path: string): number {
  return openLogFile(path);
}

function tryOpen(path: string): number {
  try {
    return openAppend(path);
  } catch {
    return -1;
  }
}
