/**
 * Upstream peers (ngx_http_upstream_rr_peer_t) and their shared state. What every worker must agree on — the
 * failure count, when a peer was checked, its active connections, its latency EWMA and its failures by reason
 * (for metrics) — lives in a SharedArrayBuffer zone, one fixed-size slot per peer address, so all worker
 * threads see one view. Slots are claimed by address hash with compare-and-swap, so workers that build the
 * same peer list independently land on the same slots, and a peer that survives a peer-list replacement keeps
 * its state.
 */
import net from 'node:net';
import type { ConfCtx } from '../core/conf.ts';
import type { ConfDirective } from '../core/tree.ts';
import { parseNumber, parseTime } from '../core/values.ts';

/** Peer is one `server` of an upstream group; weights for the smooth round robin are per worker. */
export interface Peer {
  /** "127.0.0.1:8080", "[::1]:80", "unix:/path" — what $upstream_addr prints and the state key. */
  name: string;
  host: string;
  port: number;
  socketPath: string | undefined;
  weight: number;
  maxFails: number;
  failTimeout: number;
  maxConns: number;
  backup: boolean;
  down: boolean;
  /** `resolve`: the host is a name the upstream re-resolves at run time (its peers are the answers). */
  resolve?: boolean;
  /** Slot index in the shared state table (-1: no shared slot, state is local). */
  slot: number;
  currentWeight: number;
  effectiveWeight: number;
  /** Idle keep-alive connections to this peer, newest last (per worker). */
  idle: unknown[];
}

/** PeerSpec is a parsed `server` line before it is bound to state. */
export type PeerSpec = Omit<Peer, 'slot' | 'currentWeight' | 'effectiveWeight' | 'idle'>;

/** parseAddress reads `host[:port]`, `[v6]:port` or `unix:/path`; undefined when malformed. */
export function parseAddress(addr: string, defaultPort = 80): { host: string; port: number; socketPath?: string; name: string } | undefined {
  if (addr.startsWith('unix:')) {
    const p = addr.slice(5);
    return p ? { host: '', port: 0, socketPath: p, name: addr } : undefined;
  }
  let host: string;
  let portText: string | undefined;
  if (addr.startsWith('[')) {
    const end = addr.indexOf(']');
    if (end < 0) return undefined;
    host = addr.slice(1, end);
    const rest = addr.slice(end + 1);
    if (rest !== '' && !rest.startsWith(':')) return undefined;
    portText = rest ? rest.slice(1) : undefined;
  } else {
    const c = addr.lastIndexOf(':');
    if (c >= 0 && addr.indexOf(':') !== c) return undefined;
    host = c >= 0 ? addr.slice(0, c) : addr;
    portText = c >= 0 ? addr.slice(c + 1) : undefined;
  }
  if (host === '' || /[\s/]/.test(host)) return undefined;
  const port = portText === undefined ? defaultPort : parseNumber(portText);
  if (port === undefined || port < 1 || port > 65535) return undefined;
  const name = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
  return { host, port, name };
}

/** parseServer reads one `server addr [weight= max_fails= fail_timeout= max_conns= backup down]` line. */
export function parseServer(cf: ConfCtx | undefined, d: ConfDirective): PeerSpec {
  const fail = (msg: string): never => {
    if (cf) cf.error(msg, d);
    throw new Error(msg);
  };
  const a = parseAddress(d.args[0] ?? '');
  if (!a) fail(`invalid host in upstream "${d.args[0]}"`);
  const spec: PeerSpec = {
    name: a!.name, host: a!.host, port: a!.port, socketPath: a!.socketPath,
    weight: 1, maxFails: 1, failTimeout: 10_000, maxConns: 0, backup: false, down: false,
  };
  for (const arg of d.args.slice(1)) {
    const eq = arg.indexOf('=');
    const key = eq < 0 ? arg : arg.slice(0, eq);
    const val = eq < 0 ? '' : arg.slice(eq + 1);
    let n: number | undefined;
    switch (key) {
      case 'weight':
        n = parseNumber(val);
        if (!n) fail(`invalid parameter "${arg}"`);
        spec.weight = n!;
        break;
      case 'max_fails':
        n = parseNumber(val);
        if (n === undefined) fail(`invalid parameter "${arg}"`);
        spec.maxFails = n!;
        break;
      case 'fail_timeout':
        n = parseTime(val, 's');
        if (n === undefined) fail(`invalid parameter "${arg}"`);
        spec.failTimeout = n!;
        break;
      case 'max_conns':
        n = parseNumber(val);
        if (n === undefined) fail(`invalid parameter "${arg}"`);
        spec.maxConns = n!;
        break;
      case 'backup':
        if (eq >= 0) fail(`invalid parameter "${arg}"`);
        spec.backup = true;
        break;
      case 'down':
        if (eq >= 0) fail(`invalid parameter "${arg}"`);
        spec.down = true;
        break;
      case 'resolve':
        if (eq >= 0) fail(`invalid parameter "${arg}"`);
        // An address needs no resolving (nginx ignores the flag then), nor does a unix socket.
        spec.resolve = !spec.socketPath && !net.isIP(spec.host);
        break;
      case 'slow_start':
      case 'service':
      case 'route':
        break;
      default:
        fail(`invalid parameter "${arg}"`);
    }
  }
  return spec;
}

// ---- shared state ----

/** FAIL_REASONS name why a try failed (portico_upstream_peer_failures_total); reason code = index + 1. */
export const FAIL_REASONS = ['error', 'timeout', 'invalid_header', 'http_5xx', 'http_429'] as const;
/** FAIL holds the reason codes UpstreamGroup.free takes (0: the try succeeded). */
export const FAIL = { NONE: 0, ERROR: 1, TIMEOUT: 2, INVALID_HEADER: 3, HTTP_5XX: 4, HTTP_429: 5 } as const;

const SLOT_BYTES = 64;
/** Int32 fields of a slot. */
const H1 = 0;
const H2 = 1;
const FAILS = 2;
const CONNS = 3;
const EWMA = 4;
/** BigInt64 fields of a slot (ms timestamps), after the five Int32 fields and padding. */
const CHECKED = 3;
const ACCESSED = 4;
const EWMA_STAMP = 5;
/**
 * Int32 failure counters by reason (FAIL_REASONS order): the padding word before CHECKED and the four words
 * after EWMA_STAMP. Read unsigned, so they wrap at 2^32 (Prometheus sees a counter reset).
 */
const FAILURES = [5, 12, 13, 14, 15];
const I32_PER_SLOT = SLOT_BYTES / 4;
const I64_PER_SLOT = SLOT_BYTES / 8;

/** PeerStateTable is the shared per-peer state of one upstream zone. */
export class PeerStateTable {
  readonly i32: Int32Array;
  readonly i64: BigInt64Array;
  readonly slots: number;
  /** Local fallback for peers that found no free slot (a full zone): state stays per worker. */
  readonly #local: Int32Array;
  readonly #local64: BigInt64Array;

  constructor(buffer: SharedArrayBuffer | ArrayBuffer) {
    this.slots = Math.floor(buffer.byteLength / SLOT_BYTES);
    this.i32 = new Int32Array(buffer, 0, this.slots * I32_PER_SLOT);
    this.i64 = new BigInt64Array(buffer, 0, this.slots * I64_PER_SLOT);
    const local = new ArrayBuffer(SLOT_BYTES);
    this.#local = new Int32Array(local);
    this.#local64 = new BigInt64Array(local);
  }

  /** zoneSize is the byte size a zone needs for `n` peers (with room to grow through replacements). */
  static zoneSize(n: number): number {
    return Math.max(64, n * 4) * SLOT_BYTES;
  }

  /** claim finds (or takes) the slot of address `name`; -1 when the table is full. */
  claim(name: string): number {
    const [h1, h2] = hashes(name);
    const n = this.slots;
    for (let k = 0; k < n; k++) {
      const s = (h1 + k) % n;
      const base = s * I32_PER_SLOT;
      const cur = Atomics.load(this.i32, base + H1);
      if (cur === 0) {
        const prev = Atomics.compareExchange(this.i32, base + H1, 0, h1 | 1);
        if (prev === 0) {
          Atomics.store(this.i32, base + H2, h2);
          return s;
        }
        if (prev === (h1 | 1)) {
          // Another worker claimed it for some address with our first hash; wait for its second hash.
          while (Atomics.load(this.i32, base + H2) === 0) Atomics.wait(this.i32, base + H2, 0, 1);
          if (Atomics.load(this.i32, base + H2) === h2) return s;
        }
        continue;
      }
      if (cur === (h1 | 1)) {
        while (Atomics.load(this.i32, base + H2) === 0) Atomics.wait(this.i32, base + H2, 0, 1);
        if (Atomics.load(this.i32, base + H2) === h2) return s;
      }
    }
    return -1;
  }

  #i(slot: number, field: number): [Int32Array, number] {
    return slot < 0 ? [this.#local, field] : [this.i32, slot * I32_PER_SLOT + field];
  }

  #t(slot: number, field: number): [BigInt64Array, number] {
    return slot < 0 ? [this.#local64, field] : [this.i64, slot * I64_PER_SLOT + field];
  }

  fails(slot: number): number {
    const [a, i] = this.#i(slot, FAILS);
    return Atomics.load(a, i);
  }

  setFails(slot: number, v: number): void {
    const [a, i] = this.#i(slot, FAILS);
    Atomics.store(a, i, v);
  }

  addFail(slot: number): number {
    const [a, i] = this.#i(slot, FAILS);
    return Atomics.add(a, i, 1) + 1;
  }

  /** addFailure counts a failed try by reason code (1 … FAIL_REASONS.length). */
  addFailure(slot: number, reason: number): void {
    const [a, i] = this.#i(slot, FAILURES[reason - 1]!);
    Atomics.add(a, i, 1);
  }

  failures(slot: number, reason: number): number {
    const [a, i] = this.#i(slot, FAILURES[reason - 1]!);
    return Atomics.load(a, i) >>> 0;
  }

  conns(slot: number): number {
    const [a, i] = this.#i(slot, CONNS);
    return Atomics.load(a, i);
  }

  addConns(slot: number, d: number): void {
    const [a, i] = this.#i(slot, CONNS);
    Atomics.add(a, i, d);
  }

  checked(slot: number): number {
    const [a, i] = this.#t(slot, CHECKED);
    return Number(Atomics.load(a, i));
  }

  setChecked(slot: number, ms: number): void {
    const [a, i] = this.#t(slot, CHECKED);
    Atomics.store(a, i, BigInt(ms));
  }

  accessed(slot: number): number {
    const [a, i] = this.#t(slot, ACCESSED);
    return Number(Atomics.load(a, i));
  }

  setAccessed(slot: number, ms: number): void {
    const [a, i] = this.#t(slot, ACCESSED);
    Atomics.store(a, i, BigInt(ms));
  }

  /** ewma returns the latency EWMA in microseconds and when it was last updated (ms). */
  ewma(slot: number): number {
    const [a, i] = this.#i(slot, EWMA);
    return Atomics.load(a, i);
  }

  ewmaStamp(slot: number): number {
    const [a, i] = this.#t(slot, EWMA_STAMP);
    return Number(Atomics.load(a, i));
  }

  setEwma(slot: number, us: number, stamp: number): void {
    const [a, i] = this.#i(slot, EWMA);
    Atomics.store(a, i, Math.min(0x7fffffff, Math.round(us)));
    const [b, j] = this.#t(slot, EWMA_STAMP);
    Atomics.store(b, j, BigInt(stamp));
  }
}

/** hashes returns two independent non-zero 31-bit FNV-1a style hashes of a peer address. */
function hashes(s: string): [number, number] {
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995) ^ (b >>> 15);
  }
  return [(a >>> 1) || 1, (b >>> 1) || 1];
}

/** makePeer binds a spec to its shared slot. */
export function makePeer(spec: PeerSpec, table: PeerStateTable): Peer {
  return { ...spec, slot: table.claim(spec.name), currentWeight: 0, effectiveWeight: spec.weight, idle: [] };
}
