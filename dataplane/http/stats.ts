/**
 * HTTP connection and request counters (nginx's ngx_stat_* behind stub_status) in a shared zone, so every
 * worker thread adds to one view. Kept only when a configuration uses stub_status.
 */

/** Counter slots in the zone. */
export const STAT = { ACCEPTED: 0, HANDLED: 1, ACTIVE: 2, REQUESTS: 3, READING: 4, WRITING: 5 } as const;

/** STATS_ZONE is the zone's name, size and tag: the same in every cycle, so counts survive reloads. */
export const STATS_ZONE = { name: 'ngx_http_stub_status', size: 8 * 8, tag: 'stub_status' } as const;

/** HttpStats is a view of the counters over a SharedArrayBuffer. */
export class HttpStats {
  readonly #a: BigInt64Array;

  constructor(buffer: SharedArrayBuffer) {
    this.#a = new BigInt64Array(buffer, 0, 6);
  }

  add(slot: number, n: bigint): void {
    Atomics.add(this.#a, slot, n);
  }

  get(slot: number): bigint {
    return Atomics.load(this.#a, slot);
  }
}
