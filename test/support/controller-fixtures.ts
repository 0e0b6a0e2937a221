// Builders for Kubernetes objects used across controller tests.
import type { KubeObject } from '../../controller/model/objects.ts';
import type { PipelineOptions } from '../../controller/pipeline.ts';
import type { ConfDirective } from '../../dataplane/core/tree.ts';
import type { ApplyResult, DataplaneSink } from '../../controller/sink.ts';
import { createLogger } from '../../controller/log.ts';
import { Writable } from 'node:stream';

/** testOptions are pipeline options with a placeholder default certificate. */
export const testOptions: PipelineOptions = {
  ingressClass: 'portico',
  controllerClass: 'portico.dev/ingress-controller',
  watchWithoutClass: true,
  defaultCertificate: { id: 'default', cert: '<default certificate>', key: '<default key>' },
  httpPort: 80,
  httpsPort: 443,
};

/** service builds a Service with one port. */
export function service(ns: string, name: string, port = 80, extra: Record<string, unknown> = {}): KubeObject {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: ns }, spec: { ports: [{ port }], ...extra } };
}

/** slice builds an EndpointSlice for a Service with ready addresses on one target port. */
export function slice(ns: string, svc: string, port: number, addresses: string[], name = `${svc}-1`): KubeObject {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name, namespace: ns, labels: { 'kubernetes.io/service-name': svc } },
    ports: [{ port }],
    endpoints: addresses.map((a) => ({ addresses: [a], conditions: { ready: true } })),
  };
}

/** ingress builds an Ingress with one host and paths [path, pathType, service, port]. */
export function ingress(ns: string, name: string, host: string, paths: [string, string, string, number][], meta: Record<string, unknown> = {}, spec: Record<string, unknown> = {}): KubeObject {
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'Ingress',
    metadata: { name, namespace: ns, ...meta },
    spec: {
      ...spec,
      rules: [{ ...(host ? { host } : {}), http: { paths: paths.map(([path, pathType, svc, port]) => ({ path, pathType, backend: { service: { name: svc, port: { number: port } } } })) } }],
    },
  };
}

/** FakeSink records every push; `reject` makes the next pushes fail with that message. */
export class FakeSink implements DataplaneSink {
  applied: unknown[] = [];
  peers: Record<string, ConfDirective[]>[] = [];
  reject?: string;
  async apply(tree: unknown): Promise<ApplyResult> {
    if (this.reject) return { ok: false, error: this.reject };
    this.applied.push(tree);
    return { ok: true };
  }
  async applyPeers(peers: Record<string, ConfDirective[]>): Promise<ApplyResult> {
    this.peers.push(peers);
    return { ok: true };
  }
}

/** captureLogger returns a logger and the JSON lines it wrote. */
export function captureLogger(): { log: ReturnType<typeof createLogger>; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const dest = new Writable({ write(chunk, _e, cb) { for (const l of String(chunk).split('\n')) if (l) lines.push(JSON.parse(l)); cb(); } });
  return { log: createLogger('debug', dest), lines };
}
