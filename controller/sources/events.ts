/**
 * Kubernetes Events for model events (rejected Ingresses, conflicts, missing backends, bad certificates).
 */
import type { Logger } from '../log.ts';
import type { ModelEvent } from '../model/types.ts';
import type { EventSink } from '../sink.ts';
import type { KubeApi } from './kubeapi.ts';

/** KubeEventSink posts core/v1 Events; failures are logged, never thrown. */
export class KubeEventSink implements EventSink {
  #api: KubeApi;
  #log: Logger;
  #component: string;
  /** enabled: only the leader records, so N replicas do not post N copies of every Event. */
  enabled: () => boolean = () => true;

  constructor(api: KubeApi, log: Logger, component = 'portico-controller') {
    this.#api = api;
    this.#log = log;
    this.#component = component;
  }

  /** record sends one Event (asynchronously), when enabled. */
  record(e: ModelEvent): void {
    if (!this.enabled()) return;
    const ns = e.object.namespace ?? 'default';
    const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    const body = {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { generateName: `${e.object.name}.`, namespace: ns },
      involvedObject: { kind: e.object.kind, namespace: e.object.namespace, name: e.object.name, uid: e.object.uid, apiVersion: e.object.kind === 'Ingress' ? 'networking.k8s.io/v1' : 'v1' },
      reason: e.reason,
      message: e.message,
      type: e.type,
      source: { component: this.#component },
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
    };
    this.#api.request('POST', `/api/v1/namespaces/${ns}/events`, body).then(
      (r) => {
        if (r.status !== 201 && r.status !== 200) this.#log.warn({ status: r.status, reason: e.reason }, 'Event not recorded');
      },
      (err) => this.#log.warn({ error: (err as Error).message }, 'Event not recorded'),
    );
  }
}
