/**
 * The master: validates configurations, supervises worker threads and speaks nginx's signals. It is a class so
 * that the CLI (bin/portico-dataplane) and the controller (main thread = controller + master) drive the same
 * code. Workers are threads (see docs/ARCHITECTURE.md): zones are SharedArrayBuffers every worker sees.
 *
 *   const master = await Master.start({ prefix, confFile, tree });   // throws ConfError / bind errors
 *   await master.apply(newTree);   // { ok: true } or { ok: false, error } with the old config still serving
 *   await master.applyPeers({ up: [serverLine, …] });   // endpoint-only change, no rebuild
 *   await master.quit();           // graceful; master.stop() is fast
 */
import { Worker } from 'node:worker_threads';
import { setHeapFlags } from '../event/read-gc.ts';
import type { Cycle, HostTable } from '../core/cycle.ts';
import { ErrorLog } from '../core/log.ts';
import type { ConfDirective, ConfTree } from '../core/tree.ts';
import { lookupHosts, serverHosts } from '../upstream/static-names.ts';
import { replaceCyclePeers, substitutePeers } from '../upstream/upstream-module.ts';
import { coreConf, logTargets, readTree, validate, type ConfSource } from './config.ts';
import { workerSnapshot, type WorkerMetrics } from '../metrics/snapshot.ts';
import type { FromWorker, ToWorker } from './messages.ts';
import { SIGNALS, openLog, probeListen, removePidFile, reopenLog, writePidFile, type SignalName } from './os.ts';
import { Serving, type ServingInit } from './serving.ts';

const STOP_GRACE_MS = 2000;

/** MasterOptions: where the configuration comes from, and how much of the process the master may own. */
export interface MasterOptions extends ConfSource {
  /** Install handlers for HUP, USR1, QUIT, TERM and INT on this process (the CLI does; an embedder may not). */
  signals?: boolean;
  /** Write the `pid` file once every worker has bound its listeners, remove it on exit (default true). */
  pidFile?: boolean;
  /** Called once the master has exited after a signal (QUIT/TERM/INT); the CLI exits the process here. */
  onExit?: () => void;
}

/** ApplyResult is the outcome of a reload: on failure the previous configuration keeps serving. */
export interface ApplyResult {
  ok: boolean;
  error?: string;
  /** Set when applyPeers could not update a worker in place and applied the tree with a full reload instead. */
  fallback?: string;
}

/** WorkerHandle is the master's view of one worker thread. */
interface WorkerHandle {
  thread: Worker;
  slot: number;
  id: number;
  ready: boolean;
  retiring: boolean;
  error?: string;
  started: Promise<void>;
  /** Pending requests by id; resolved with the answer, or undefined if the worker exited first. */
  replies: Map<number, (m: FromWorker | undefined) => void>;
}

/** Master supervises the workers serving one configuration at a time. */
export class Master {
  readonly #src: MasterOptions;
  #cycle: Cycle;
  /** The tree being served: #cycle's, or its copy with upstream peers replaced by applyPeers since. */
  #tree: ConfTree;
  /** The host names of #tree and their addresses (peer pushes add theirs); what every worker builds with. */
  #hosts: HostTable | undefined;
  #log: ErrorLog;
  #workers: WorkerHandle[] = [];
  #self: Serving | undefined;
  #queue: Promise<unknown> = Promise.resolve();
  #state: 'running' | 'quitting' | 'stopping' | 'exited' = 'running';
  #pidPath: string | undefined;
  #nextId = 1;
  #exited: Promise<void>;
  #resolveExited!: () => void;
  #handlers: [SignalName, () => void][] = [];
  /** Signal handlers do not keep Node alive; with no worker thread (master_process off) this does. */
  #keepAlive: NodeJS.Timeout | undefined;

  private constructor(src: MasterOptions, cycle: Cycle, log: ErrorLog) {
    this.#src = src;
    this.#cycle = cycle;
    this.#tree = cycle.tree;
    this.#hosts = cycle.hosts;
    this.#log = log;
    // Before any worker isolate exists: V8 reads the old-space flag when each isolate is created.
    setHeapFlags();
    this.#exited = new Promise((r) => (this.#resolveExited = r));
  }

  /**
   * Master.start reads and validates the configuration, binds every listen address in every worker, then
   * writes the pid file. It rejects (ConfError, or an Error worded as nginx's `bind() to … failed`) without
   * leaving a worker or a pid file behind.
   */
  static async start(opts: MasterOptions): Promise<Master> {
    const cycle = await validate(opts, readTree(opts));
    const master = new Master(opts, cycle, openLog(logTargets(cycle, opts.errorLog)));
    try {
      await master.#boot();
    } catch (err) {
      await master.#shutdown('stop');
      throw err;
    }
    return master;
  }

  /** currentTree is the configuration tree being served. */
  get currentTree(): ConfTree {
    return this.#tree;
  }

  /** workers lists the live worker threads (not those retiring), in slot order. */
  get workers(): readonly Worker[] {
    return this.#live().map((h) => h.thread);
  }

  /** log is the master's error log (the embedder may write to it). */
  get log(): ErrorLog {
    return this.#log;
  }

  /** exited resolves when the master has finished shutting down. */
  get exited(): Promise<void> {
    return this.#exited;
  }

  async #boot(): Promise<void> {
    const core = coreConf(this.#cycle);
    for (const l of this.#cycle.listening) await probeListen(l);
    if (!core.masterProcess) {
      this.#self = new Serving(this.#servingInit(-1));
      await this.#self.start();
    } else {
      this.#notice('start worker processes');
      const handles = Array.from({ length: core.workerProcesses }, (_, slot) => this.#spawn(slot));
      await Promise.all(handles.map((h) => h.started));
    }
    if (this.#src.pidFile !== false) {
      writePidFile(core.pid);
      this.#pidPath = core.pid;
    }
    if (this.#src.signals) this.#installSignals();
  }

  #servingInit(worker: number): ServingInit {
    const s = this.#src;
    return {
      tree: this.#tree,
      prefix: s.prefix,
      confFile: s.confFile,
      zones: this.#cycle.zones.list(),
      hosts: this.#hosts,
      errorLog: s.errorLog,
      worker,
      fixedZones: true,
    };
  }

  #spawn(slot: number): WorkerHandle {
    const thread = new Worker(new URL('./worker.ts', import.meta.url), { workerData: this.#servingInit(slot) });
    let settle!: (error?: string) => void;
    const h: WorkerHandle = {
      thread,
      slot,
      id: thread.threadId,
      ready: false,
      retiring: false,
      replies: new Map(),
      started: new Promise<void>((resolve, reject) => {
        settle = (error) => (error === undefined ? resolve() : reject(new Error(error)));
      }),
    };
    h.started.catch(() => {});
    this.#workers.push(h);
    this.#notice(`start worker process ${h.id}`);
    thread.on('message', (m: FromWorker) => {
      if (m.type === 'ready') {
        h.ready = true;
        settle();
      } else if (m.type === 'failed') {
        h.error = m.error;
        settle(m.error);
      } else {
        h.replies.get(m.id)?.(m);
        h.replies.delete(m.id);
      }
    });
    thread.on('error', (err) => (h.error ??= err.message));
    thread.on('exit', (code) => {
      settle(h.error ?? `worker process ${h.id} exited with code ${code}`);
      for (const reply of h.replies.values()) reply(undefined);
      this.#workers = this.#workers.filter((w) => w !== h);
      this.#exitedWorker(h, code);
    });
    return h;
  }

  #exitedWorker(h: WorkerHandle, code: number): void {
    if (h.retiring || this.#state !== 'running') {
      this.#notice(`worker process ${h.id} exited with code ${code}`);
      return;
    }
    const why = h.error && h.ready ? `on uncaught exception: ${h.error}` : `with code ${code}`;
    this.#log.log('alert', `worker process ${h.id} exited ${why}`);
    // A worker that never got ready would fail again the same way; nginx does not respawn those either.
    if (!h.ready) return;
    this.#serialize(async () => {
      // A reload queued before this may have filled the slot already (its resize counts live workers).
      if (this.#state !== 'running' || this.#live().some((w) => w.slot === h.slot)) return;
      const n = this.#spawn(h.slot);
      await n.started.catch((err: Error) => this.#log.log('emerg', err.message));
    });
  }

  #live(): WorkerHandle[] {
    return this.#workers.filter((h) => !h.retiring).sort((a, b) => a.slot - b.slot);
  }

  #notice(message: string): void {
    this.#log.log('notice', message);
  }

  #serialize<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn, fn);
    this.#queue = run.catch(() => {});
    return run;
  }

  /**
   * apply validates `tree` in this thread and swaps it into every worker, each atomically (new cycle built
   * beside the old, listeners re-pointed, then swapped). An identical tree is a no-op. On any error the old
   * configuration keeps serving everywhere and the error is logged as `[emerg]`.
   */
  apply(tree: ConfTree): Promise<ApplyResult> {
    return this.#serialize(async () => {
      if (JSON.stringify(tree) === JSON.stringify(this.#tree)) return { ok: true };
      return this.#reload(tree);
    });
  }

  /** reload re-reads the configuration file (and `-g`) and applies it even if unchanged, as nginx's HUP does. */
  reload(): Promise<ApplyResult> {
    return this.#serialize(async () => {
      this.#notice('reconfiguring');
      let tree: ConfTree;
      try {
        tree = readTree({ ...this.#src, tree: undefined });
      } catch (err) {
        return this.#failed((err as Error).message);
      }
      return this.#reload(tree);
    });
  }

  #failed(error: string): ApplyResult {
    this.#log.log('emerg', error);
    return { ok: false, error };
  }

  async #reload(tree: ConfTree): Promise<ApplyResult> {
    if (this.#state !== 'running') return { ok: false, error: 'the master is shutting down' };
    const old = this.#cycle;
    let cycle: Cycle;
    try {
      cycle = await validate(this.#src, tree, old.zones.list());
      const bound = new Set(old.listening.map((l) => l.key));
      for (const l of cycle.listening) if (!bound.has(l.key)) await probeListen(l);
    } catch (err) {
      return this.#failed((err as Error).message);
    }
    const zones = cycle.zones.list();
    const error = this.#self ? await this.#reloadSelf(tree, zones, cycle.hosts) : await this.#reloadWorkers(tree, zones, cycle.hosts, old);
    if (error !== undefined) return this.#failed(error);
    this.#cycle = cycle;
    this.#tree = tree;
    this.#hosts = cycle.hosts;
    this.#afterReload(old);
    if (!this.#self) await this.#resize(coreConf(cycle).workerProcesses);
    return { ok: true };
  }

  async #reloadSelf(tree: ConfTree, zones: ServingInit['zones'], hosts: HostTable | undefined): Promise<string | undefined> {
    try {
      await this.#self!.reload(tree, zones, hosts);
      return undefined;
    } catch (err) {
      return (err as Error).message;
    }
  }

  async #reloadWorkers(tree: ConfTree, zones: ServingInit['zones'], hosts: HostTable | undefined, old: Cycle): Promise<string | undefined> {
    const oldTree = this.#tree;
    const oldHosts = this.#hosts;
    const live = this.#live();
    const results = await Promise.all(live.map((h) => this.#ask(h, tree, zones, hosts)));
    const error = results.find((e) => e !== undefined);
    if (error === undefined) return undefined;
    // Put the workers that did switch back on the old configuration, so all serve one config.
    const oldZones = old.zones.list();
    await Promise.all(live.filter((_, i) => results[i] === undefined).map((h) => this.#ask(h, oldTree, oldZones, oldHosts)));
    return error;
  }

  /**
   * applyPeers replaces the `server` lines of the named upstreams (each value is the full list) in every worker
   * without rebuilding the configuration: servers, locations, connections and the state of unchanged peers
   * stay. The lines are checked against the master's cycle first; a bad one is refused in nginx's words and
   * nothing changes. If a worker still fails, every worker gets the substituted tree by a full reload (result
   * `fallback`). Afterwards currentTree (and so the next apply's comparison, `-T`) shows the new lines.
   */
  applyPeers(peers: Record<string, ConfDirective[]>): Promise<ApplyResult> {
    return this.#serialize(async () => {
      if (this.#state !== 'running') return { ok: false, error: 'the master is shutting down' };
      let tree: ConfTree;
      let changed: Record<string, ConfDirective[]>;
      let hosts: HostTable;
      try {
        ({ tree, changed } = substitutePeers(this.#tree, peers));
        if (Object.keys(changed).length === 0) return { ok: true };
        // Pushed names are looked up again, as a reload would (static-names.ts).
        hosts = { ...this.#hosts, ...await lookupHosts(serverHosts(changed)) };
        replaceCyclePeers(this.#cycle, changed, true, hosts);
        if (this.#self) this.#self.applyPeers(changed, hosts);
      } catch (err) {
        return this.#failed((err as Error).message);
      }
      const live = this.#live();
      const errors = await Promise.all(live.map(async (h) => {
        const m = await this.#request(h, (id) => ({ type: 'peers', id, peers: changed, hosts }));
        return !m ? `worker process ${h.id} exited` : m.type === 'reply' ? m.error : undefined;
      }));
      const i = errors.findIndex((e) => e !== undefined);
      if (i < 0) {
        this.#tree = tree;
        this.#hosts = hosts;
        return { ok: true };
      }
      const fallback = `worker process ${live[i]!.id} could not update upstream peers (${errors[i]}), reloading`;
      this.#log.log('alert', fallback);
      const r = await this.#reload(tree);
      return { ...r, fallback };
    });
  }

  async #ask(h: WorkerHandle, tree: ConfTree, zones: ServingInit['zones'], hosts: HostTable | undefined): Promise<string | undefined> {
    const m = await this.#request(h, (id) => ({ type: 'reload', id, tree, zones, hosts }));
    if (!m) return `worker process ${h.id} exited`;
    return m.type === 'reply' ? m.error : undefined;
  }

  #request(h: WorkerHandle, make: (id: number) => ToWorker): Promise<FromWorker | undefined> {
    const id = this.#nextId++;
    return new Promise((resolve) => {
      h.replies.set(id, resolve);
      this.#post(h, make(id));
    });
  }

  /** metrics gathers a snapshot from every live worker (request metrics, CPU, heap, event-loop lag). */
  async metrics(): Promise<WorkerMetrics[]> {
    if (this.#self) return [workerSnapshot(this.#self.runtime, this.#self.listeners.limiter, this.#self.cycle)];
    const answers = await Promise.all(this.#live().filter((h) => h.ready).map((h) => this.#request(h, (id) => ({ type: 'metrics', id }))));
    return answers.flatMap((m) => (m?.type === 'metrics' ? [m.data] : []));
  }

  #post(h: WorkerHandle, m: ToWorker): void {
    h.thread.postMessage(m);
  }

  #afterReload(old: Cycle): void {
    const targets = logTargets(this.#cycle, this.#src.errorLog);
    if (JSON.stringify(targets) !== JSON.stringify(logTargets(old, this.#src.errorLog))) {
      try {
        const log = openLog(targets);
        this.#log.close();
        this.#log = log;
      } catch (err) {
        this.#log.log('emerg', (err as Error).message);
      }
    }
    const pid = coreConf(this.#cycle).pid;
    if (this.#pidPath !== undefined && pid !== this.#pidPath) {
      try {
        writePidFile(pid);
        removePidFile(this.#pidPath);
        this.#pidPath = pid;
      } catch (err) {
        this.#log.log('emerg', (err as Error).message);
      }
    }
  }

  async #resize(n: number): Promise<void> {
    const live = this.#live();
    for (const h of live.slice(n)) this.#retire(h);
    const used = new Set(live.map((h) => h.slot));
    const added: WorkerHandle[] = [];
    for (let slot = 0; added.length + Math.min(live.length, n) < n; slot++) if (!used.has(slot)) added.push(this.#spawn(slot));
    for (const h of added) await h.started.catch((err: Error) => this.#log.log('emerg', err.message));
  }

  #retire(h: WorkerHandle): void {
    h.retiring = true;
    this.#post(h, { type: 'quit' });
  }

  /** reopen reopens the master's error log and tells every worker to reopen its logs (USR1). */
  reopen(): void {
    this.#notice('reopening logs');
    try {
      reopenLog(this.#log);
    } catch (err) {
      this.#log.log('emerg', (err as Error).message);
    }
    if (this.#self) this.#self.reopen();
    for (const h of this.#workers) this.#post(h, { type: 'reopen' });
  }

  /** quit stops accepting, lets every connection finish (bounded by worker_shutdown_timeout), then exits. */
  quit(): Promise<void> {
    return this.#shutdown('quit');
  }

  /** stop closes every listener and connection now and exits. */
  stop(): Promise<void> {
    return this.#shutdown('stop');
  }

  async #shutdown(how: 'quit' | 'stop'): Promise<void> {
    if (this.#state === 'running') {
      this.#state = how === 'quit' ? 'quitting' : 'stopping';
      if (how === 'quit') this.#notice('gracefully shutting down');
      const exits = this.#workers.map((h) => new Promise((r) => h.thread.once('exit', r)));
      for (const h of this.#workers) {
        h.retiring = true;
        this.#post(h, { type: how });
        // A worker stuck in a busy loop cannot read `stop`; end the thread after a grace period.
        if (how === 'stop') setTimeout(() => void h.thread.terminate(), STOP_GRACE_MS).unref();
      }
      if (this.#self && how === 'quit') {
        await this.#self.quit();
        this.#self.close();
      } else this.#self?.stop();
      await Promise.all(exits);
      this.#finish();
    }
    return this.#exited;
  }

  #finish(): void {
    if (this.#pidPath !== undefined) removePidFile(this.#pidPath);
    for (const [sig, fn] of this.#handlers) process.off(sig, fn);
    this.#handlers = [];
    clearInterval(this.#keepAlive);
    this.#notice('exit');
    this.#log.close();
    this.#state = 'exited';
    this.#resolveExited();
  }

  #installSignals(): void {
    const on = (sig: SignalName, fn: () => void): void => {
      const handler = (): void => {
        const s = SIGNALS[sig];
        this.#notice(`signal ${s.no} (${sig}) received, ${s.action}`);
        fn();
      };
      process.on(sig, handler);
      this.#handlers.push([sig, handler]);
    };
    this.#keepAlive = setInterval(() => {}, 1 << 30);
    const exit = (): void => this.#src.onExit?.();
    on('SIGHUP', () => void this.reload());
    on('SIGUSR1', () => this.reopen());
    on('SIGQUIT', () => void this.quit().then(exit));
    on('SIGTERM', () => void this.stop().then(exit));
    on('SIGINT', () => void this.stop().then(exit));
  }
}
