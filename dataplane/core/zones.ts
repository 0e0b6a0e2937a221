/**
 * Shared memory zones (nginx's ngx_shm_zone_t): SharedArrayBuffers allocated by the master thread and handed
 * to every worker, so rate limits, connection limits, upstream peer state and counters are one view across
 * workers. A zone with the same name, size and tag survives a reload with its contents, as in nginx.
 */

export interface ZoneDescriptor {
  name: string;
  size: number;
  tag: string;
  buffer: SharedArrayBuffer;
}

export class ZonePool {
  #zones = new Map<string, ZoneDescriptor>();
  #previous: Map<string, ZoneDescriptor>;
  /** Workers must not invent zones: they receive exactly what the master allocated. */
  readonly #fixed: boolean;

  constructor(previous: Iterable<ZoneDescriptor> = [], fixed = false) {
    this.#previous = new Map([...previous].map((z) => [z.name, z]));
    this.#fixed = fixed;
  }

  /** get returns the zone `name`, reusing the previous cycle's buffer when size and tag still match. */
  get(name: string, size: number, tag: string): SharedArrayBuffer {
    const cur = this.#zones.get(name);
    if (cur) {
      if (cur.tag !== tag) throw new Error(`the shared memory zone "${name}" is already declared for a different use`);
      return cur.buffer;
    }
    const prev = this.#previous.get(name);
    let buffer: SharedArrayBuffer;
    if (prev && prev.size === size && prev.tag === tag) buffer = prev.buffer;
    else if (this.#fixed) throw new Error(`shared memory zone "${name}" was not allocated by the master`);
    else buffer = new SharedArrayBuffer(size);
    this.#zones.set(name, { name, size, tag, buffer });
    return buffer;
  }

  list(): ZoneDescriptor[] {
    return [...this.#zones.values()];
  }
}
