/**
 * The Kubernetes source: one informer (the client library's ListWatch) per watched kind and namespace, feeding
 * the store. The reconciler is enabled only after every informer has listed once. A watch that ends re-watches
 * (the library does; an expired resourceVersion relists); an error restarts the informer after a backoff, and
 * meanwhile the store keeps its last content, so an unreachable API server never empties the configuration.
 */
import { ListWatch, Watch } from '@kubernetes/client-node';
import type { Logger } from '../log.ts';
import type { ControllerMetrics } from '../metrics.ts';
import { KINDS, type Kind, type KubeObject } from '../model/objects.ts';
import type { Store } from '../store.ts';
import { type KubeApi, kindPath } from './kubeapi.ts';

/** KubeSourceOptions say what to watch. */
export interface KubeSourceOptions {
  /** namespaces to watch (empty: all); cluster-scoped kinds are always watched cluster-wide. */
  namespaces: string[];
  kinds?: Kind[];
  log: Logger;
  metrics?: ControllerMetrics;
  /** configMapNamespace is where the --configmap lives; ConfigMaps are watched only there (none without it). */
  configMapNamespace?: string;
  /** retryMs is the first restart delay after an informer error (doubles up to 30 s). */
  retryMs?: number;
}

interface InformerEntry {
  kind: Kind;
  ns?: string;
  lw: ListWatch<any>;
  synced: boolean;
  delay: number;
  timer?: NodeJS.Timeout;
}

/** KubeSource runs the informers. */
export class KubeSource {
  #api: KubeApi;
  #store: Store;
  #o: KubeSourceOptions;
  #informers: InformerEntry[] = [];
  #stopped = false;

  constructor(api: KubeApi, store: Store, o: KubeSourceOptions) {
    this.#api = api;
    this.#store = store;
    this.#o = o;
  }

  /** healthy is true when every informer has synced and none is in error. */
  get healthy(): boolean {
    return this.#informers.every((i) => i.synced && i.timer === undefined);
  }

  /** start creates the informers and resolves once all of them have listed successfully. */
  async start(): Promise<void> {
    const kinds = this.#o.kinds ?? (Object.keys(KINDS) as Kind[]);
    const watch = new Watch(this.#api.kc);
    for (const kind of kinds) {
      let scopes: (string | undefined)[] = KINDS[kind].namespaced && this.#o.namespaces.length ? this.#o.namespaces : [undefined];
      if (kind === 'ConfigMap') scopes = this.#o.configMapNamespace ? [this.#o.configMapNamespace] : [];
      if (KINDS[kind].group === 'portico.dev') {
        // Our CRDs may not be installed (folder-style installs, older charts): then that kind is simply absent.
        const probe = await this.#api.request('GET', `${kindPath(kind, scopes[0])}?limit=1`).catch(() => undefined);
        if (probe?.status === 404) {
          this.#o.log.warn({ kind }, 'CustomResourceDefinition not installed; not watching this kind');
          continue;
        }
      }
      for (const ns of scopes) {
        const path = kindPath(kind, ns);
        let listed = false;
        const list = async () => {
          // The library lists again only when the watch's resourceVersion expired (410 Gone): that is a relist.
          if (listed) this.#o.metrics?.informerRelists.inc({ kind });
          const r = await this.#api.request('GET', path);
          if (r.status !== 200) throw Object.assign(new Error(`list ${path}: HTTP ${r.status} ${r.body?.message ?? ''}`.trim()), { statusCode: r.status });
          for (const item of r.body.items ?? []) item.kind ??= kind;
          listed = true;
          return r.body;
        };
        const lw = new ListWatch<any>(path, this.#o.metrics ? new CountingWatch(this.#api, kind, this.#o.metrics) : watch, list, false);
        const entry: InformerEntry = { kind, ns, lw, synced: false, delay: this.#o.retryMs ?? 1000 };
        const put = (o: KubeObject) => {
          o.kind ??= kind;
          this.#store.upsert(kind, o);
        };
        lw.on('add', put);
        lw.on('update', put);
        lw.on('delete', (o) => this.#store.delete(kind, o));
        lw.on('error', (err) => this.#restart(entry, err));
        this.#informers.push(entry);
      }
    }
    await Promise.all(this.#informers.map((i) => this.#sync(i)));
  }

  async #sync(i: InformerEntry): Promise<void> {
    for (;;) {
      if (this.#stopped) return;
      await i.lw.start();
      if (i.lw.latestResourceVersion() !== '') {
        i.synced = true;
        return;
      }
      // The first list failed (its error handler has scheduled nothing yet while unsynced): wait and retry.
      await new Promise((r) => setTimeout(r, Math.min(i.delay, 30_000)));
    }
  }

  #restart(i: InformerEntry, err: unknown): void {
    if (this.#stopped) return;
    this.#o.log.warn({ kind: i.kind, namespace: i.ns, error: String((err as Error)?.message ?? err) }, 'watch failed; keeping the last known objects and retrying');
    if (!i.synced || i.timer) return;
    i.timer = setTimeout(async () => {
      i.timer = undefined;
      i.delay = Math.min(i.delay * 2, 30_000);
      await i.lw.start();
      if (i.lw.latestResourceVersion() !== '') i.delay = this.#o.retryMs ?? 1000;
    }, i.delay);
  }

  /** stop ends every watch. */
  async stop(): Promise<void> {
    this.#stopped = true;
    for (const i of this.#informers) {
      clearTimeout(i.timer);
      await i.lw.stop();
    }
  }
}

/**
 * CountingWatch counts watch events by type as they arrive, before the informer's cache turns them (and list
 * results, which are not watch events) into add/update/delete callbacks.
 */
class CountingWatch extends Watch {
  #kind: Kind;
  #metrics: ControllerMetrics;

  constructor(api: KubeApi, kind: Kind, metrics: ControllerMetrics) {
    super(api.kc);
    this.#kind = kind;
    this.#metrics = metrics;
  }

  override watch(...[path, query, callback, done]: Parameters<Watch['watch']>): ReturnType<Watch['watch']> {
    return super.watch(path, query, (type, obj, raw) => {
      if (type === 'ADDED' || type === 'MODIFIED' || type === 'DELETED') this.#metrics.informerEvents.inc({ kind: this.#kind, type });
      callback(type, obj, raw);
    }, done);
  }
}
