/**
 * TLS session caches for session-ID resumption (`ssl_session_cache`). `shared:NAME:SIZE` keeps sessions in a
 * shared zone, so a client resumes on whichever worker thread the kernel hands its next connection to;
 * `builtin` keeps them per worker. Both plug into a TLSSocket through the 'newSession' / 'resumeSession'
 * events Node raises on the socket's `server` object.
 *
 * Zone layout: fixed 4 KiB slots, direct-mapped by a hash of the session id (a newer session evicts an older
 * one in its slot, as a bounded LRU would). Each slot is guarded by a sequence word: writers make it odd while
 * copying, readers retry or give up when it changed, so no reader ever sees half a session.
 */
import { EventEmitter } from 'node:events';

const SLOT = 4096;
const SEQ = 0;
const LEN = 1;
const EXPIRES = 2;
const IDLEN = 3;
const HEAD_WORDS = 4;
const ID_MAX = 32;
const DATA_OFF = HEAD_WORDS * 4 + ID_MAX;
const DATA_MAX = SLOT - DATA_OFF;

/** SessionStore is where sessions live: a shared zone or a per-worker map. */
export interface SessionStore {
  get(id: Buffer): Buffer | undefined;
  set(id: Buffer, data: Buffer): void;
}

function hash(id: Buffer): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id[i]!, 0x01000193);
  return h >>> 0;
}

const nowSec = (): number => Math.floor(Date.now() / 1000);

/** SharedSessionStore keeps sessions in a SharedArrayBuffer zone seen by every worker. */
export class SharedSessionStore implements SessionStore {
  readonly #words: Int32Array;
  readonly #bytes: Uint8Array;
  readonly #slots: number;
  readonly #timeoutSec: number;

  constructor(zone: SharedArrayBuffer, timeoutMs: number) {
    this.#words = new Int32Array(zone);
    this.#bytes = new Uint8Array(zone);
    this.#slots = Math.floor(zone.byteLength / SLOT);
    this.#timeoutSec = Math.max(1, Math.floor(timeoutMs / 1000));
  }

  /** slotsFor says how many sessions a zone of `size` bytes holds (0: too small to be useful). */
  static slotsFor(size: number): number {
    return Math.floor(size / SLOT);
  }

  get(id: Buffer): Buffer | undefined {
    if (this.#slots === 0 || id.length > ID_MAX) return undefined;
    const base = (hash(id) % this.#slots) * SLOT;
    const w = base / 4;
    const seq = Atomics.load(this.#words, w + SEQ);
    if (seq & 1) return undefined;
    const len = this.#words[w + LEN]!;
    const idLen = this.#words[w + IDLEN]!;
    if (len <= 0 || len > DATA_MAX || idLen !== id.length || this.#words[w + EXPIRES]! < nowSec()) return undefined;
    if (!id.equals(this.#bytes.subarray(base + HEAD_WORDS * 4, base + HEAD_WORDS * 4 + idLen))) return undefined;
    const data = Buffer.from(this.#bytes.slice(base + DATA_OFF, base + DATA_OFF + len));
    return Atomics.load(this.#words, w + SEQ) === seq ? data : undefined;
  }

  set(id: Buffer, data: Buffer): void {
    if (this.#slots === 0 || id.length > ID_MAX || data.length > DATA_MAX) return;
    const base = (hash(id) % this.#slots) * SLOT;
    const w = base / 4;
    const seq = Atomics.load(this.#words, w + SEQ);
    // Another worker is writing this slot: skip, a cache may always miss.
    if (seq & 1 || Atomics.compareExchange(this.#words, w + SEQ, seq, seq + 1) !== seq) return;
    this.#words[w + LEN] = data.length;
    this.#words[w + EXPIRES] = nowSec() + this.#timeoutSec;
    this.#words[w + IDLEN] = id.length;
    this.#bytes.set(id, base + HEAD_WORDS * 4);
    this.#bytes.set(data, base + DATA_OFF);
    Atomics.store(this.#words, w + SEQ, seq + 2);
  }
}

/** LocalSessionStore is `builtin`: a bounded per-worker map, oldest evicted first. */
export class LocalSessionStore implements SessionStore {
  readonly #map = new Map<string, { data: Buffer; expires: number }>();
  readonly #max: number;
  readonly #timeoutMs: number;

  constructor(max: number, timeoutMs: number) {
    this.#max = max;
    this.#timeoutMs = timeoutMs;
  }

  get(id: Buffer): Buffer | undefined {
    const e = this.#map.get(id.toString('hex'));
    return e && e.expires > Date.now() ? e.data : undefined;
  }

  set(id: Buffer, data: Buffer): void {
    if (this.#map.size >= this.#max) this.#map.delete(this.#map.keys().next().value!);
    this.#map.set(id.toString('hex'), { data, expires: Date.now() + this.#timeoutMs });
  }
}

/**
 * sessionEvents returns the object a server TLSSocket takes as its `server` option: Node enables OpenSSL's
 * external session cache callbacks when it has 'newSession'/'resumeSession' listeners.
 */
export function sessionEvents(stores: SessionStore[]): EventEmitter {
  const e = new EventEmitter();
  e.on('newSession', (id: Buffer, data: Buffer, done: () => void) => {
    for (const s of stores) s.set(id, data);
    done();
  });
  e.on('resumeSession', (id: Buffer, done: (err: Error | null, data: Buffer | null) => void) => {
    for (const s of stores) {
      const data = s.get(id);
      if (data) return done(null, data);
    }
    done(null, null);
  });
  e.on('tlsClientError', () => {});
  return e;
}
