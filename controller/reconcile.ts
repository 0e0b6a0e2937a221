/**
 * The reconcile loop: store changes are coalesced (debounce), the store is rendered, and the tree is pushed to
 * the dataplane unless its hash is unchanged; an endpoint-only change takes the sink's peers fast path. A tree the
 * dataplane rejects is reported (log, Event, metric) and the last good one keeps serving.
 */
import type { ConfTree } from '../dataplane/core/tree.ts';
import type { Logger } from './log.ts';
import type { ControllerMetrics } from './metrics.ts';
import { hostsToLookUp } from './model/host-lookups.ts';
import type { Model } from './model/types.ts';
import { type PipelineOptions, renderStore } from './pipeline.ts';
import { hashTree, splitPeers } from './render/peers.ts';
import type { DataplaneSink, EventSink } from './sink.ts';
import type { Store } from './store.ts';

/** ReconcileResult says what one pass did. */
export type ReconcileResult = { action: 'unchanged' | 'applied' | 'peers'; hash: string } | { action: 'rejected'; hash: string; error: string } | { action: 'waiting' };

/** ReconcilerOptions are the loop's collaborators and timing. */
export interface ReconcilerOptions {
  debounceMs: number;
  log: Logger;
  events?: EventSink;
  metrics?: ControllerMetrics;
  /** onResult hears every pass's result (status updates and tests hook here). */
  onResult?: (r: ReconcileResult, model?: Model) => void;
}

/** Reconciler renders the store into the dataplane. */
export class Reconciler {
  #store: Store;
  #opts: PipelineOptions;
  #sink: DataplaneSink;
  #o: ReconcilerOptions;
  #timer?: NodeJS.Timeout;
  #running?: Promise<void>;
  #again = false;
  #enabled = false;
  #lastHash?: string;
  #lastStructure?: string;
  #lastPeers?: string;
  #lastGood?: ConfTree;
  #lastModel?: Model;
  #seenEvents = new Set<string>();
  #lastOk = false;
  #failures = 0;
  /** Store changes since the last render took its snapshot (portico_workqueue_depth). */
  #pending = 0;

  constructor(store: Store, opts: PipelineOptions, sink: DataplaneSink, o: ReconcilerOptions) {
    this.#store = store;
    this.#opts = opts;
    this.#sink = sink;
    this.#o = o;
    store.onChange(() => {
      this.#pending++;
      this.#o.metrics?.workqueueDepth.set(this.#pending);
      this.schedule();
    });
  }

  /** ready is true once a tree was applied successfully (the /readyz answer). */
  get ready(): boolean {
    return this.#lastGood !== undefined;
  }

  /** current is the last tree the dataplane accepted. */
  get current(): ConfTree | undefined {
    return this.#lastGood;
  }

  /** lastOk tells whether the last pass left the dataplane serving the last render. */
  get lastOk(): boolean {
    return this.#lastOk;
  }

  /** model is the model of the last render. */
  get model(): Model | undefined {
    return this.#lastModel;
  }

  /** enable starts rendering; sources call it once every informer has synced, so no partial store is rendered. */
  enable(): void {
    this.#enabled = true;
    this.schedule();
  }

  /** schedule coalesces a burst of changes into one pass after the debounce delay. */
  schedule(): void {
    if (!this.#enabled) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.run(), this.#o.debounceMs);
  }

  /** run performs a pass now (or right after the current one) and resolves when done. */
  run(): Promise<void> {
    clearTimeout(this.#timer);
    if (this.#running) {
      this.#again = true;
      return this.#running;
    }
    this.#running = this.#pass().finally(() => {
      this.#running = undefined;
      if (this.#again) {
        this.#again = false;
        void this.run();
      }
    });
    return this.#running;
  }

  /** forgetEvents makes the next pass record every current model event again (a new leader calls it). */
  forgetEvents(): void {
    this.#seenEvents.clear();
    this.schedule();
  }

  /** stop cancels a scheduled pass. */
  stop(): void {
    this.#enabled = false;
    clearTimeout(this.#timer);
  }

  async #pass(): Promise<void> {
    if (!this.#enabled) return this.#o.onResult?.({ action: 'waiting' });
    // ExternalName hosts are looked up first: the dataplane refuses a whole tree naming a host it cannot find.
    await this.#store.hostLookups.prepare(hostsToLookUp(this.#store));
    const t0 = performance.now();
    // The render reads the store synchronously, so every change so far is taken by this pass.
    this.#pending = 0;
    this.#o.metrics?.workqueueDepth.set(0);
    const { model, tree } = renderStore(this.#store, this.#opts);
    this.#o.metrics?.renderSeconds.observe((performance.now() - t0) / 1000);
    this.#lastModel = model;
    this.#reportEvents(model);
    const hash = hashTree(tree);
    if (hash === this.#lastHash) return this.#o.onResult?.({ action: 'unchanged', hash }, model);
    const { structure, peers } = splitPeers(tree);
    const structureHash = hashTree(structure);
    const peersHash = hashTree(peers);
    const peersOnly = this.#sink.applyPeers !== undefined && structureHash === this.#lastStructure && peersHash !== this.#lastPeers;
    const t1 = performance.now();
    let result;
    try {
      result = peersOnly ? await this.#sink.applyPeers!(peers) : await this.#sink.apply(tree);
    } catch (e) {
      result = { ok: false, error: (e as Error).message };
    }
    this.#o.metrics?.applySeconds.observe({ kind: peersOnly ? 'peers' : 'full' }, (performance.now() - t1) / 1000);
    this.#lastOk = result.ok;
    if (result.ok) {
      this.#lastHash = hash;
      this.#lastStructure = structureHash;
      this.#lastPeers = peersHash;
      this.#lastGood = tree;
      this.#failures = 0;
      const m = this.#o.metrics;
      if (m) {
        m.configHash.set(parseInt(hash.slice(0, 12), 16));
        m.lastReloadOk.set(1);
        m.lastReloadOkTime.set(Date.now() / 1000);
        m.success.inc();
      }
      if (result.fallback) this.#o.log.warn({ fallback: result.fallback }, 'the peers fast path failed in the dataplane; applied with a full reload');
      this.#o.log.info({ hash: hash.slice(0, 12), kind: peersOnly ? 'peers' : 'full', servers: model.servers.length, upstreams: model.upstreams.length }, 'configuration applied');
      return this.#o.onResult?.({ action: peersOnly ? 'peers' : 'applied', hash }, model);
    }
    // Not recorded as last: the same tree is retried on the next change, and the last good one keeps serving.
    this.#o.metrics?.lastReloadOk.set(0);
    this.#o.metrics?.errors.inc();
    const error = result.error ?? 'unknown error';
    this.#o.log.error({ hash: hash.slice(0, 12), error }, 'dataplane rejected the configuration; the last good one keeps serving');
    this.#o.events?.record({ object: { kind: 'Pod', namespace: process.env['POD_NAMESPACE'] ?? 'default', name: process.env['POD_NAME'] ?? 'portico' }, type: 'Warning', reason: 'RELOAD', message: `configuration rejected: ${error}` });
    this.#o.onResult?.({ action: 'rejected', hash, error }, model);
    this.#retryLater();
  }

  /**
   * retryLater runs the rejected tree again with exponential backoff (1 s doubling to 30 s): some rejections are
   * transient (a port still held by another process, a worker too busy to answer in time), and the first tree
   * must not wait for the next unrelated change to be served. A new change reschedules sooner.
   */
  #retryLater(): void {
    const delay = Math.min(30_000, 1000 * 2 ** this.#failures++);
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.run(), delay);
    this.#timer.unref();
  }

  #reportEvents(model: Model): void {
    const seen = new Set<string>();
    for (const e of model.events) {
      const key = `${e.object.kind}/${e.object.namespace}/${e.object.name}/${e.reason}/${e.message}`;
      seen.add(key);
      if (this.#seenEvents.has(key)) continue;
      this.#o.log.warn({ object: e.object, reason: e.reason }, e.message);
      this.#o.events?.record(e);
    }
    this.#seenEvents = seen;
  }
}
