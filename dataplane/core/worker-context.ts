/**
 * WorkerContext is the per-thread state that outlives cycles: a reload builds a new cycle but hands it the
 * same context, so counters and stores kept here survive configuration changes. Core knows no protocol; a
 * module keeps its own state under its own key.
 */
export class WorkerContext {
  /** The worker's number (0 for a single-process dataplane). */
  readonly id: number;
  #stores = new Map<string, unknown>();

  constructor(id: number) {
    this.id = id;
  }

  /** store returns the value under `key`, creating it on first use. */
  store<T>(key: string, create: () => T): T {
    let v = this.#stores.get(key) as T | undefined;
    if (v === undefined) {
      v = create();
      this.#stores.set(key, v);
    }
    return v;
  }
}
