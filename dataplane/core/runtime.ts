/**
 * Runtime is the per-worker state that cycles serve under: the worker's number, its current error log, and the
 * two process-wide events a protocol or logging module must react to: `drain` (graceful shutdown started:
 * close idle keep-alive connections, finish the rest) and `reopen` (USR1: reopen log files). One runtime lives
 * as long as its worker thread; cycles come and go under it. Core knows no protocol, so protocols subscribe.
 */
import type { ErrorLog } from './log.ts';

type Hook = () => void;

/** Runtime is handed to every cycle a worker serves (`cycle.runtime`) before modules' initWorker runs. */
export class Runtime {
  /** The worker's slot number (0 … worker_processes-1); -1 when the master serves itself (master_process off). */
  readonly worker: number;
  /** The error log of the cycle currently serving; swapped on reload. */
  log: ErrorLog;
  /** True once graceful shutdown began: protocols stop keeping connections alive. */
  draining = false;
  #drain = new Set<Hook>();
  #reopen = new Set<Hook>();
  #stores = new Map<string, unknown>();

  constructor(worker: number, log: ErrorLog) {
    this.worker = worker;
    this.log = log;
  }

  /**
   * store returns the module state kept under `key`, creating it on first use. It lives as long as the worker,
   * so counters survive reloads (e.g. request metrics); core knows no protocol, each module owns its key.
   */
  store<T>(key: string, create: () => T): T {
    let v = this.#stores.get(key) as T | undefined;
    if (v === undefined) {
      v = create();
      this.#stores.set(key, v);
    }
    return v;
  }

  /** onDrain registers a hook run once when draining starts; the returned function unregisters it. */
  onDrain(fn: Hook): () => void {
    this.#drain.add(fn);
    return () => this.#drain.delete(fn);
  }

  /** onReopen registers a hook run on every USR1 (e.g. an access log); the returned function unregisters it. */
  onReopen(fn: Hook): () => void {
    this.#reopen.add(fn);
    return () => this.#reopen.delete(fn);
  }

  /** startDrain sets `draining` and runs the drain hooks (once). */
  startDrain(): void {
    if (this.draining) return;
    this.draining = true;
    for (const fn of [...this.#drain]) runHook(this, fn);
  }

  /** reopen reopens the error log and runs every reopen hook. */
  reopen(): void {
    this.log.reopen();
    this.runReopenHooks();
  }

  /** runReopenHooks runs every reopen hook (the caller reopened the error log itself). */
  runReopenHooks(): void {
    for (const fn of [...this.#reopen]) runHook(this, fn);
  }
}

function runHook(rt: Runtime, fn: Hook): void {
  try {
    fn();
  } catch (err) {
    rt.log.log('alert', `hook failed: ${(err as Error).message}`);
  }
}
