/**
 * The listening sockets of one worker. Each worker thread binds every address itself with SO_REUSEPORT, so
 * the kernel spreads connections across workers. Sockets outlive cycles: a reload re-points each address at
 * the new cycle's handler, opens only new addresses and closes only removed ones, so no connection queued on
 * a kept address is lost.
 */
import net from 'node:net';
import type { Listening } from '../core/cycle.ts';
import { sysErrorText } from '../core/errors.ts';

/** ConnectionLimiter counts a worker's connections against `worker_connections`. */
export class ConnectionLimiter {
  active = 0;
  accepted = 0;
  limit: number;
  /** Called (rate-limited by the caller) when a connection is refused for lack of room. */
  onExhausted: () => void;

  constructor(limit: number, onExhausted: () => void = () => {}) {
    this.limit = limit;
    this.onExhausted = onExhausted;
  }
}

interface Slot {
  /** One server per accept socket of the address (see #listenAll). */
  servers: net.Server[];
  current: Listening;
  draining: boolean;
  /** Connections accepted on this address, so a reload that drops the address can drain them. */
  sockets: Set<net.Socket>;
}

/**
 * IDLE_CLOSER is the property under which a protocol hangs a function on an accepted socket that closes the
 * connection if it is idle (between requests) and reports whether it did; graceful shutdown calls it.
 */
export const IDLE_CLOSER = Symbol('portico.idleCloser');

type Closable = net.Socket & { [IDLE_CLOSER]?: () => boolean };

function closeServers(slot: Slot): void {
  for (const s of slot.servers) s.close();
}

/** ListenerSet owns one worker's servers and routes accepted sockets to the current cycle's handler. */
export class ListenerSet {
  #slots = new Map<string, Slot>();
  readonly limiter: ConnectionLimiter;
  /** Sockets accepted and not yet closed, so shutdown can find idle ones. */
  readonly sockets = new Set<net.Socket>();
  #reusePort: boolean;

  constructor(limiter: ConnectionLimiter, reusePort = true) {
    this.limiter = limiter;
    this.#reusePort = reusePort;
  }

  /**
   * apply makes the set match `listening`: opens new addresses, re-points kept ones, closes the rest.
   * `acceptSockets` is how many sockets each TCP address gets (see #listenAll); a kept address only grows to
   * it, because closing a listening socket resets the connections queued on it.
   */
  async apply(listening: readonly Listening[], acceptSockets = 1): Promise<void> {
    const wanted = new Map(listening.map((l) => [l.key, l]));
    const opened: string[] = [];
    const grown: [Slot, number][] = [];
    try {
      for (const [key, l] of wanted) {
        const kept = this.#slots.get(key);
        if (kept) {
          grown.push([kept, kept.servers.length]);
          await this.#listenAll(l, kept, acceptSockets);
          continue;
        }
        const slot: Slot = { servers: [], current: l, draining: false, sockets: new Set() };
        await this.#listenAll(l, slot, acceptSockets);
        this.#slots.set(key, slot);
        opened.push(key);
      }
    } catch (err) {
      // Leave the set as it was: close what this call opened.
      for (const key of opened) {
        const slot = this.#slots.get(key);
        if (slot) closeServers(slot);
        this.#slots.delete(key);
      }
      for (const [slot, n] of grown) for (const s of slot.servers.splice(n)) s.close();
      throw err;
    }
    for (const [key, slot] of this.#slots) {
      const l = wanted.get(key);
      if (l) slot.current = l;
      else {
        // A dropped address stops accepting; its connections finish what they do and are not kept alive.
        slot.draining = true;
        closeServers(slot);
        for (const socket of slot.sockets) (socket as Closable)[IDLE_CLOSER]?.();
        this.#slots.delete(key);
      }
    }
  }

  /**
   * #listenAll opens the address's accept sockets up to `count`. libuv accepts one connection per listening
   * socket per loop turn, and a busy turn first serves every ready connection (7 ms for 200 busy keep-alive
   * connections), so a burst of new connections on one socket waits one turn each: 200 of them took up to
   * 500 ms. The kernel spreads connections over SO_REUSEPORT sockets, and each gives one accept per turn.
   * Unix sockets, port 0 and sets without SO_REUSEPORT get one socket.
   */
  async #listenAll(l: Listening, slot: Slot, count: number): Promise<void> {
    const n = l.unixPath || !this.#reusePort || l.port === 0 ? 1 : Math.max(1, count);
    const had = slot.servers.length;
    try {
      while (slot.servers.length < n) slot.servers.push(await this.#listen(l, slot));
    } catch (err) {
      for (const s of slot.servers.splice(had)) s.close();
      throw err;
    }
  }

  #listen(l: Listening, slot: Slot): Promise<net.Server> {
    const server = net.createServer({ noDelay: true, keepAlive: false });
    server.on('connection', (socket) => this.#accept(slot, socket));
    return new Promise((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) => reject(new Error(sysErrorText('bind', `${l.key}`, err).replace(/^bind\(\) "(.*)"/, 'bind() to $1')));
      server.once('error', onError);
      const opts: net.ListenOptions = l.unixPath
        ? { path: l.unixPath, backlog: l.backlog }
        : { host: l.host, port: l.port, backlog: l.backlog, ipv6Only: l.ipv6only, reusePort: this.#reusePort };
      server.listen(opts, () => {
        server.off('error', onError);
        server.on('error', () => {});
        resolve(server);
      });
    });
  }

  #accept(slot: Slot, socket: net.Socket): void {
    const lim = this.limiter;
    if (lim.active >= lim.limit) {
      lim.onExhausted();
      socket.destroy();
      return;
    }
    lim.active++;
    lim.accepted++;
    this.sockets.add(socket);
    slot.sockets.add(socket);
    socket.once('close', () => {
      lim.active--;
      this.sockets.delete(socket);
      slot.sockets.delete(socket);
    });
    slot.current.handler(socket, slot);
  }

  /**
   * drain stops accepting, marks every slot draining (protocols stop keeping connections alive) and closes
   * connections that are idle now. Returns how many connections remain.
   */
  drain(): number {
    for (const s of this.#slots.values()) s.draining = true;
    for (const s of this.#slots.values()) closeServers(s);
    for (const socket of this.sockets) (socket as Closable)[IDLE_CLOSER]?.();
    return this.sockets.size;
  }

  /** close stops accepting on every address; established connections are left to their protocol. */
  close(): void {
    for (const s of this.#slots.values()) closeServers(s);
    this.#slots.clear();
  }

  get keys(): string[] {
    return [...this.#slots.keys()];
  }
}
