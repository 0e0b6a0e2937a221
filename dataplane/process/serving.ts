/**
 * Serving is what one worker does: build a cycle, bind its listeners (SO_REUSEPORT, shared with the other
 * workers), run modules' initWorker, and later swap in a reloaded cycle, reopen logs, drain and exit. It runs
 * inside a worker thread (worker.ts) or in the master's own thread when `master_process off`.
 */
import { buildCycle, type Cycle, type HostTable } from '../core/cycle.ts';
import { ErrorLog } from '../core/log.ts';
import { Runtime } from '../core/runtime.ts';
import type { ConfTree } from '../core/tree.ts';
import { ZonePool, type ZoneDescriptor } from '../core/zones.ts';
import { ConnectionLimiter, ListenerSet } from '../event/listeners.ts';
import { createRegistry } from '../modules.ts';
import { replaceCyclePeers, type UpstreamPeers } from '../upstream/upstream-module.ts';
import { acceptSockets, coreConf, logTargets, workerConnections } from './config.ts';
import { openLog, reopenLog } from './os.ts';

/** ServingInit is what a worker receives from the master. */
export interface ServingInit {
  tree: ConfTree;
  prefix: string;
  confFile: string;
  zones: ZoneDescriptor[];
  /** The master's answers for the tree's host names (static-names.ts). */
  hosts: HostTable | undefined;
  /** `-e` override for the error log (see config.ts logTargets). */
  errorLog?: string;
  worker: number;
  /** Workers must not allocate zones (the master did); the master serving itself may. */
  fixedZones: boolean;
}

const EXHAUSTED_LOG_INTERVAL = 1000;

/** Serving owns one worker's cycle, listeners and runtime. */
export class Serving {
  readonly #init: ServingInit;
  readonly listeners: ListenerSet;
  readonly runtime: Runtime;
  cycle: Cycle | undefined;
  #log: ErrorLog | undefined;
  #exhaustedAt = 0;

  constructor(init: ServingInit) {
    this.#init = init;
    this.runtime = new Runtime(init.worker, new ErrorLog());
    this.listeners = new ListenerSet(new ConnectionLimiter(512, () => this.#exhausted()));
  }

  #exhausted(): void {
    const now = Date.now();
    if (now - this.#exhaustedAt < EXHAUSTED_LOG_INTERVAL) return;
    this.#exhaustedAt = now;
    this.runtime.log.log('alert', `${this.listeners.limiter.limit} worker_connections are not enough`);
  }

  /** start serves the initial configuration; rejects with nginx's wording (e.g. a bind() failure). */
  start(): Promise<void> {
    return this.reload(this.#init.tree, this.#init.zones, this.#init.hosts);
  }

  /**
   * reload builds the new cycle beside the current one, binds new addresses, re-points kept ones and swaps.
   * On any failure the current cycle keeps serving, untouched. The old cycle's modules get exitWorker after
   * the swap; requests already running on it finish with the objects they hold.
   */
  async reload(tree: ConfTree, zones: ZoneDescriptor[], hosts: HostTable | undefined): Promise<void> {
    const i = this.#init;
    const cycle = buildCycle({ tree, registry: createRegistry(), prefix: i.prefix, confFile: i.confFile, zones: new ZonePool(zones, i.fixedZones), hosts });
    const log = openLog(logTargets(cycle, i.errorLog));
    const prevLog = this.runtime.log;
    cycle.runtime = this.runtime;
    this.runtime.log = log;
    const started: typeof cycle.registry.modules[number][] = [];
    try {
      for (const m of cycle.registry.modules) {
        m.initWorker?.(cycle);
        started.push(m);
      }
      this.listeners.limiter.limit = workerConnections(cycle);
      await this.listeners.apply(cycle.listening, acceptSockets(cycle));
    } catch (err) {
      for (const m of started) m.exitWorker?.(cycle);
      this.runtime.log = prevLog;
      log.close();
      throw err;
    }
    const old = this.cycle;
    const oldLog = this.#log;
    this.cycle = cycle;
    this.#log = log;
    if (old) this.#exit(old);
    oldLog?.close();
    if (!oldLog) prevLog.close();
  }

  /**
   * applyPeers replaces upstream peers in the serving cycle without rebuilding it: servers, locations and
   * connections stay, unchanged peers keep their state and idle connections. Throws (nothing changed) on a bad line.
   */
  applyPeers(peers: UpstreamPeers, hosts?: HostTable): void {
    if (!this.cycle) throw new Error('no configuration is being served');
    replaceCyclePeers(this.cycle, peers, false, hosts);
  }

  #exit(cycle: Cycle): void {
    for (const m of cycle.registry.modules) {
      try {
        m.exitWorker?.(cycle);
      } catch (err) {
        this.runtime.log.log('alert', `exit of ${m.name} failed: ${(err as Error).message}`);
      }
    }
  }

  /** reopen reopens the error log and whatever modules registered (USR1). */
  reopen(): void {
    this.runtime.log.log('notice', 'reopening logs');
    try {
      reopenLog(this.runtime.log);
    } catch (err) {
      this.runtime.log.log('emerg', (err as Error).message);
    }
    this.runtime.runReopenHooks();
  }

  /**
   * quit stops accepting, tells protocols to drain, and resolves when every connection closed or
   * `worker_shutdown_timeout` expired (then the rest are closed).
   */
  quit(): Promise<void> {
    const log = this.runtime.log;
    log.log('notice', 'gracefully shutting down');
    this.runtime.startDrain();
    // Stops accepting, marks every address draining (no more keep-alive) and closes idle connections.
    this.listeners.drain();
    const sockets = this.listeners.sockets;
    const timeout = this.cycle ? coreConf(this.cycle).workerShutdownTimeout : 0;
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const check = (): void => {
        if (sockets.size > 0) return;
        if (timer) clearTimeout(timer);
        resolve();
      };
      if (timeout > 0) {
        timer = setTimeout(() => {
          log.log('notice', 'shutdown timeout');
          for (const s of sockets) s.destroy();
        }, timeout);
        timer.unref();
      }
      for (const s of sockets) s.once('close', () => setImmediate(check));
      check();
    });
  }

  /** stop closes listeners and every connection now (TERM), and runs exitWorker. */
  stop(): void {
    this.listeners.close();
    for (const s of this.listeners.sockets) s.destroy();
    this.close();
  }

  /** close runs exitWorker on the serving cycle and closes the log; the last step of quit and stop. */
  close(): void {
    this.runtime.log.log('notice', 'exiting');
    if (this.cycle) this.#exit(this.cycle);
    this.cycle = undefined;
    this.runtime.log.log('notice', 'exit');
    this.#log?.close();
  }
}
