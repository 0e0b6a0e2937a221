/**
 * The running controller: a source (folder or Kubernetes), the reconcile loop into the dataplane, leader
 * election and status (Kubernetes only), and the health/metrics endpoints. stop() shuts down gracefully.
 */
import http from 'node:http';
import os from 'node:os';
import { printConf } from '../dataplane/core/print.ts';
import type { Flags } from './flags.ts';
import { LeaderElector } from './leader.ts';
import { type Logger, createLogger } from './log.ts';
import { ControllerMetrics } from './metrics.ts';
import { ModelMetrics } from './model-metrics.ts';
import { aggregateWorkers } from '../dataplane/metrics/aggregate.ts';
import type { Model } from './model/types.ts';
import type { PipelineOptions } from './pipeline.ts';
import { Reconciler } from './reconcile.ts';
import { redactTree } from './render/peers.ts';
import type { DataplaneSink } from './sink.ts';
import type { KubeEventSink } from './sources/events.ts';
import { FolderSource, type ManifestScan } from './sources/folder.ts';
import type { KubeSource } from './sources/kube.ts';
import type { KubeApi } from './sources/kubeapi.ts';
import { StatusUpdater } from './status.ts';
import { Store } from './store.ts';
import { selfSignedCertificate } from './tls/selfsigned.ts';

/** StartupError is a problem found before serving (bad manifests); the CLI prints it and exits 1. */
export class StartupError extends Error {}

/** pipelineOptions maps flags to the pure pipeline's options. */
export function pipelineOptions(f: Flags): PipelineOptions {
  return {
    ingressClass: f.ingressClass,
    controllerClass: f.controllerClass,
    watchWithoutClass: f.watchIngressWithoutClass || Boolean(f.manifests),
    watchNamespaces: f.watchNamespace,
    defaultCertificate: selfSignedCertificate(),
    defaultCertificateSecret: f.defaultSslCertificate,
    defaultBackendService: f.defaultBackendService,
    configMap: f.configmap,
    httpPort: f.httpPort,
    httpsPort: f.httpsPort,
    listenAddress: f.listenAddress,
    workerProcesses: f.workerProcesses,
  };
}

/** formatScan renders manifest problems for people. */
export function formatScan(scan: ManifestScan): string {
  return scan.errors.map((e) => `error: ${e}`).join('\n');
}

/** Controller is a started controller. */
export class Controller {
  readonly log: Logger;
  readonly store = new Store();
  readonly metrics = new ControllerMetrics();
  readonly modelMetrics = new ModelMetrics(this.metrics.registry);
  readonly reconciler: Reconciler;
  #flags: Flags;
  #sink: DataplaneSink & { quit?: () => Promise<void> };
  #servers: http.Server[] = [];
  #folder?: FolderSource;
  #kube?: KubeSource;
  #elector?: LeaderElector;
  #status?: StatusUpdater;
  #events?: KubeEventSink;

  private constructor(flags: Flags, sink: DataplaneSink & { quit?: () => Promise<void> }, log: Logger, events?: KubeEventSink, api?: KubeApi) {
    this.#flags = flags;
    this.#sink = sink;
    this.log = log;
    this.#events = events;
    if (api) this.#status = new StatusUpdater(api, this.store, { publishService: flags.publishService, publishStatusAddress: flags.publishStatusAddress, log });
    this.reconciler = new Reconciler(this.store, pipelineOptions(flags), sink, {
      debounceMs: flags.debounceMs,
      log,
      events,
      metrics: this.metrics,
      onResult: (r, model) => {
        if (model && r.action !== 'waiting' && r.action !== 'rejected') this.modelMetrics.update(model);
        if (model && r.action !== 'waiting' && this.#elector?.leading) void this.#syncStatus(model, r.action !== 'rejected');
      },
    });
  }

  /** start builds and starts a controller from flags. */
  static async start(flags: Flags, sink: DataplaneSink & { quit?: () => Promise<void> }, log = createLogger(flags.logLevel)): Promise<Controller> {
    let api: KubeApi | undefined;
    const identity = process.env['POD_NAME'] || `${os.hostname()}-${process.pid}`;
    let events: KubeEventSink | undefined;
    if (!flags.manifests) {
      // The Kubernetes client takes a second to load: folder mode and `conf` never pay for it.
      const { KubeApi, loadKubeConfig } = await import('./sources/kubeapi.ts');
      const { KubeEventSink } = await import('./sources/events.ts');
      try {
        api = new KubeApi(loadKubeConfig(flags.kubeconfig), `portico-controller/${identity}`);
      } catch (e) {
        throw new StartupError(`cannot load kubeconfig${flags.kubeconfig ? ` "${flags.kubeconfig}"` : ''}: ${(e as Error).message}`);
      }
      events = new KubeEventSink(api, log);
    }
    const c = new Controller(flags, sink, log, events, api);
    try {
      await c.#startParts(api);
    } catch (e) {
      await c.stop();
      throw e;
    }
    return c;
  }

  async #startParts(api: KubeApi | undefined): Promise<void> {
    const c = this;
    const flags = this.#flags;
    const log = this.log;
    await c.#listen();
    if (flags.manifests) {
      let initial = true; // the first scan's errors stop the start instead (StartupError)
      c.#folder = new FolderSource(flags.manifests, c.store, (scan) => {
        for (const w of scan.warnings) log.warn(w);
        if (scan.errors.length && !initial) log.error({ errors: scan.errors }, 'manifests have errors; keeping the last good set');
      });
      const scan = c.#folder.load();
      initial = false;
      if (scan.errors.length) throw new StartupError(formatScan(scan));
      c.#folder.watch();
      c.reconciler.enable();
    } else {
      const { KubeSource } = await import('./sources/kube.ts');
      c.#kube = new KubeSource(api!, c.store, { namespaces: flags.watchNamespace, configMapNamespace: flags.configmap?.split('/')[0], log, metrics: c.metrics });
      const identity = process.env['POD_NAME'] || `${os.hostname()}-${process.pid}`;
      c.#elector = new LeaderElector(api!, {
        namespace: flags.electionNamespace,
        name: flags.electionId,
        identity,
        leaseDurationSeconds: flags.leaseDuration,
        renewIntervalSeconds: flags.renewInterval,
        log,
        onChange: (leading) => {
          c.metrics.leader.set({ name: flags.electionId }, leading ? 1 : 0);
          if (leading) c.reconciler.forgetEvents();
          const m = c.reconciler.model;
          if (leading && m) void c.#syncStatus(m, c.reconciler.lastOk);
        },
      });
      await c.#kube.start();
      c.reconciler.enable();
      if (c.#events) c.#events.enabled = () => c.#elector?.leading === true;
      c.#elector.start();
    }
  }

  async #syncStatus(model: Model, applied: boolean): Promise<void> {
    try {
      const n = await this.#status?.sync(model.ingresses);
      if (n) this.log.info({ written: n }, 'Ingress status updated');
      const m = await this.#status?.syncConditions(model.conditions, applied);
      if (m) this.log.info({ written: m }, 'custom resource status updated');
    } catch (e) {
      this.log.warn({ error: (e as Error).message }, 'Ingress status update failed');
    }
  }

  async #listen(): Promise<void> {
    const f = this.#flags;
    const handler = (req: http.IncomingMessage, res: http.ServerResponse) => void this.#serve(req, res);
    const ports = f.metricsPort === f.healthzPort ? [f.healthzPort] : [f.healthzPort, f.metricsPort];
    for (const port of ports) {
      const s = http.createServer(handler);
      await new Promise<void>((resolve, reject) => {
        s.once('error', (e: NodeJS.ErrnoException) => reject(new StartupError(`bind() to ${f.listenAddress ?? '0.0.0.0'}:${port} failed (${e.code})`)));
        s.listen(port, f.listenAddress ?? '0.0.0.0', () => resolve());
      });
      this.#servers.push(s);
    }
  }

  async #serve(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    const send = (code: number, body: string, type = 'text/plain; charset=utf-8') => {
      res.writeHead(code, { 'content-type': type });
      res.end(body);
    };
    if (path === '/healthz') return send(200, 'ok\n');
    if (path === '/readyz') return this.reconciler.ready ? send(200, 'ok\n') : send(503, 'waiting for the first configuration\n');
    if (path === '/conf') {
      // The configuration names internal addresses and auth URLs: only local clients (`kubectl exec … portico conf`).
      const from = req.socket.remoteAddress ?? '';
      if (!(from === '::1' || from.startsWith('127.') || from.startsWith('::ffff:127.'))) return send(403, 'forbidden: /conf answers local clients only\n');
      return this.reconciler.current ? send(200, printConf(redactTree(this.reconciler.current))) : send(503, 'no configuration applied yet\n');
    }
    if (path === '/leader') return send(200, `${this.#elector?.leading ? 'leader' : 'follower'}\n`);
    if (path === '/metrics') return send(200, await this.#metricsText(), this.metrics.registry.contentType);
    send(404, 'not found\n');
  }

  /**
   * #metricsText renders the controller's own metrics and the dataplane's (summed across worker threads), with
   * ingress-nginx's constant labels (controller_namespace, controller_class, controller_pod) on both.
   */
  async #metricsText(): Promise<string> {
    const labels = {
      controller_namespace: process.env['POD_NAMESPACE'] ?? '',
      controller_class: this.#flags.controllerClass,
      controller_pod: process.env['POD_NAME'] ?? os.hostname(),
    };
    this.metrics.registry.setDefaultLabels(labels);
    const dataplane = aggregateWorkers((await this.#sink.workerMetrics?.()) ?? []);
    dataplane.setDefaultLabels(labels);
    return (await this.metrics.registry.metrics()) + (await dataplane.metrics());
  }

  /** stop shuts down: sources, lease (released), dataplane (graceful), endpoints. */
  async stop(): Promise<void> {
    this.reconciler.stop();
    this.#folder?.close();
    await this.#kube?.stop();
    await this.#elector?.stop();
    await this.#sink.quit?.();
    for (const s of this.#servers) {
      s.closeAllConnections();
      await new Promise<void>((r) => s.close(() => r()));
    }
  }
}
