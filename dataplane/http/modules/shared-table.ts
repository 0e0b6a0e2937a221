/**
 * A hash table in a SharedArrayBuffer zone, for counters that every worker thread must see as one (limit_req's
 * leaky buckets, limit_conn's connection counts): nginx keeps these in a shared-memory rbtree under a mutex;
 * here it is open addressing with linear probing under a spinlock built on Atomics. The layout depends only on
 * the zone size, so a fresh (zeroed) zone is a valid empty table and a zone kept across a reload keeps its
 * entries.
 *
 * Layout: a 64-byte header (int32 lock, int32 used count), then 80-byte slots:
 *   +0 int32 state (0 empty, 1 used, 2 deleted)  +4 int32 hash  +8 int32 key length  +12 int32 value
 *   +16 float64 last (ms)  +24 up to 56 key bytes (longer keys are stored as their MD5 digest).
 */
import { createHash } from 'node:crypto';

const HEADER = 64;
const SLOT = 80;
const KEY_OFF = 24;
const KEY_MAX = SLOT - KEY_OFF;
/** A lookup looks at no more than this many slots; past it the table counts as full for that key. */
const MAX_PROBE = 64;
const EMPTY = 0;
const USED = 1;
const DELETED = 2;
/** The high bit of the stored key length marks a digest of a key too long to store. */
const DIGEST_FLAG = 0x10000;

/** The smallest zone nginx accepts (8 pages). */
export const MIN_ZONE_SIZE = 32 * 1024;

/** TableKey is a key ready for lookups: its bytes (or digest), length word and hash. */
export interface TableKey {
  bytes: Uint8Array;
  len: number;
  hash: number;
}

/** tableKey prepares a key (a latin1 string, one char per byte) for lookups. */
export function tableKey(key: string): TableKey {
  let bytes: Uint8Array = Buffer.from(key, 'latin1');
  let len = bytes.length;
  if (len > KEY_MAX) {
    bytes = createHash('md5').update(bytes).digest();
    len = bytes.length | DIGEST_FLAG;
  }
  // FNV-1a over the stored bytes.
  let h = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i]!, 0x01000193);
  return { bytes, len, hash: h | 0 };
}

/** SharedTable is one worker's view of a zone's table. */
export class SharedTable {
  readonly i32: Int32Array;
  readonly f64: Float64Array;
  readonly u8: Uint8Array;
  readonly slots: number;

  constructor(buffer: SharedArrayBuffer) {
    this.i32 = new Int32Array(buffer);
    this.f64 = new Float64Array(buffer);
    this.u8 = new Uint8Array(buffer);
    this.slots = Math.floor((buffer.byteLength - HEADER) / SLOT);
  }

  /** lock takes the zone's spinlock; critical sections are a few dozen operations, so waits are rare and short. */
  lock(): void {
    const a = this.i32;
    while (Atomics.compareExchange(a, 0, 0, 1) !== 0) Atomics.wait(a, 0, 1, 1);
  }

  unlock(): void {
    Atomics.store(this.i32, 0, 0);
    Atomics.notify(this.i32, 0, 1);
  }

  /** used is the number of live entries. */
  get used(): number {
    return this.i32[1]!;
  }

  /**
   * find returns the slot of `key` (call under the lock). With `create`, a missing key gets a fresh slot
   * (value 0, last 0); `isStale` lets the probe reclaim dead entries it passes. Returns -1 when not found or full.
   */
  find(key: TableKey, create: boolean, isStale?: (slot: number) => boolean): number {
    const n = this.slots;
    const i32 = this.i32;
    let free = -1;
    let pos = (key.hash >>> 0) % n;
    const probes = Math.min(MAX_PROBE, n);
    for (let p = 0; p < probes; p++, pos = pos + 1 === n ? 0 : pos + 1) {
      const base = (HEADER + pos * SLOT) >> 2;
      const state = i32[base]!;
      if (state === EMPTY) {
        if (free < 0) free = pos;
        break;
      }
      if (state === DELETED) {
        if (free < 0) free = pos;
        continue;
      }
      if (i32[base + 1] === key.hash && i32[base + 2] === key.len && this.#sameKey(pos, key)) return pos;
      if (isStale && isStale(pos)) {
        this.remove(pos);
        if (free < 0) free = pos;
      }
    }
    if (!create || free < 0) return -1;
    const base = (HEADER + free * SLOT) >> 2;
    i32[base] = USED;
    i32[base + 1] = key.hash;
    i32[base + 2] = key.len;
    i32[base + 3] = 0;
    this.f64[(HEADER + free * SLOT + 16) >> 3] = 0;
    this.u8.set(key.bytes, HEADER + free * SLOT + KEY_OFF);
    i32[1]!++;
    return free;
  }

  #sameKey(pos: number, key: TableKey): boolean {
    const off = HEADER + pos * SLOT + KEY_OFF;
    const u8 = this.u8;
    const b = key.bytes;
    for (let i = 0; i < b.length; i++) if (u8[off + i] !== b[i]) return false;
    return true;
  }

  /** remove frees a slot (call under the lock). */
  remove(slot: number): void {
    this.i32[(HEADER + slot * SLOT) >> 2] = DELETED;
    this.i32[1]!--;
  }

  value(slot: number): number {
    return this.i32[((HEADER + slot * SLOT) >> 2) + 3]!;
  }

  setValue(slot: number, v: number): void {
    this.i32[((HEADER + slot * SLOT) >> 2) + 3] = v;
  }

  last(slot: number): number {
    return this.f64[(HEADER + slot * SLOT + 16) >> 3]!;
  }

  setLast(slot: number, ms: number): void {
    this.f64[(HEADER + slot * SLOT + 16) >> 3] = ms;
  }
}
