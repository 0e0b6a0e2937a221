/**
 * Service backends: an Ingress backend resolves to an upstream of endpoint addresses (EndpointSlice pod IPs and
 * target ports), to the ClusterIP with service-upstream, or to nothing (503) with the reason.
 */
import crypto from 'node:crypto';
import type { Annotations } from '../annotations/table.ts';
import type { Store } from '../store.ts';
import type { IngressBackend, KubeObject } from './objects.ts';
import type { Backend, UpstreamModel } from './types.ts';

const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

/** Upstreams collects upstreams by name while a model is built (the first definition of a name wins). */
export type Upstreams = Map<string, UpstreamModel>;

function hostPort(ip: string, port: number): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}

/** upstreamName is `namespace_service_port`, the name rendered in `upstream` and `proxy_pass`. */
export function upstreamName(namespace: string, service: string, port: string | number): string {
  return `${namespace}_${service}_${port}`;
}

const SLICE_INDEX = new WeakMap<readonly KubeObject[], Map<string, KubeObject[]>>();

/** slicesOf returns a Service's EndpointSlices through an index built once per store version. */
export function slicesOf(store: Store, svc: KubeObject): KubeObject[] {
  const all = store.list('EndpointSlice');
  let index = SLICE_INDEX.get(all);
  if (!index) {
    index = new Map();
    for (const s of all) {
      const key = `${s.metadata.namespace}/${s.metadata.labels?.[SERVICE_NAME_LABEL] ?? ''}`;
      const l = index.get(key);
      if (l) l.push(s);
      else index.set(key, [s]);
    }
    SLICE_INDEX.set(all, index);
  }
  return index.get(`${svc.metadata.namespace}/${svc.metadata.name}`) ?? [];
}

/** endpointPeers lists ready endpoint addresses for a Service port; serving-but-terminating ones only if no ready one exists. */
export function endpointPeers(store: Store, svc: KubeObject, portName: string | undefined): string[] {
  const ready = new Set<string>();
  const serving = new Set<string>();
  for (const slice of slicesOf(store, svc)) {
    const ports = (slice['ports'] as { name?: string; port?: number }[] | undefined) ?? [];
    const port = ports.find((p) => (p.name ?? '') === (portName ?? ''));
    if (!port?.port) continue;
    for (const ep of (slice['endpoints'] as { addresses?: string[]; conditions?: Record<string, boolean | undefined> }[] | undefined) ?? []) {
      const c = ep.conditions ?? {};
      for (const addr of ep.addresses ?? []) {
        // ready unset means ready (EndpointSlice API); serving covers terminating endpoints still answering.
        if (c['ready'] !== false && c['terminating'] !== true) ready.add(hostPort(addr, port.port));
        else if (c['serving'] === true) serving.add(hostPort(addr, port.port));
      }
    }
  }
  return [...(ready.size ? ready : serving)].sort();
}

/** resolveBackend finds the Service port and its peers, registering the upstream; misses return a reason. */
export function resolveBackend(store: Store, namespace: string, backend: IngressBackend, ann: Annotations, upstreams: Upstreams): Backend {
  if (!backend.service) {
    const r = backend.resource;
    return { upstream: null, service: '', reason: `resource backends (${r?.kind ?? 'unknown'}/${r?.name ?? ''}) are not supported` };
  }
  const { name, port } = backend.service;
  const svc = store.get('Service', namespace, name);
  if (!svc) return { upstream: null, service: name, reason: `service ${namespace}/${name} not found` };
  const ports = (svc.spec?.ports as { name?: string; port: number; targetPort?: number | string }[] | undefined) ?? [];
  const sp = port?.name !== undefined ? ports.find((p) => p.name === port.name) : ports.find((p) => p.port === port?.number);
  const portLabel = port?.name ?? port?.number ?? '';
  if (!sp) return { upstream: null, service: name, reason: `service ${namespace}/${name} has no port ${portLabel}` };
  const sticky = ann.affinity === 'cookie' ? { name: ann.sessionCookieName ?? 'INGRESSCOOKIE', path: ann.sessionCookiePath ?? '/', maxAge: ann.sessionCookieMaxAge, samesite: ann.sessionCookieSamesite } : undefined;
  const variant = { service: ann.serviceUpstream === true, balancer: ann.loadBalance ?? 'round_robin', hashBy: ann.upstreamHashBy, consistent: ann.hashConsistent, sticky };
  // Ingresses that configure the same Service port differently get distinct upstreams (suffix = hash of the variant).
  const plain = !variant.service && variant.balancer === 'round_robin' && !variant.hashBy && !sticky;
  const base = upstreamName(namespace, name, sp.port);
  const up = plain ? base : `${base}_${crypto.createHash('sha256').update(JSON.stringify(variant)).digest('hex').slice(0, 8)}`;
  if (upstreams.has(up)) return { upstream: up, service: name };
  let peers: string[];
  if (svc.spec?.type === 'ExternalName') {
    const host = String(svc.spec.externalName);
    if (!store.hostLookups.found(host)) return { upstream: null, service: name, reason: `service ${namespace}/${name}: ExternalName host "${host}" not found` };
    peers = [`${host}:${sp.port}`];
  }
  else if (ann.serviceUpstream) peers = svc.spec?.clusterIP && svc.spec.clusterIP !== 'None' ? [hostPort(svc.spec.clusterIP, sp.port)] : [];
  else peers = endpointPeers(store, svc, sp.name);
  if (peers.length === 0) return { upstream: null, service: name, reason: `service ${namespace}/${name} has no ready endpoints` };
  upstreams.set(up, { name: up, peers, balancer: variant.balancer, hashBy: variant.hashBy, hashConsistent: ann.hashConsistent, sticky });
  return { upstream: up, service: name };
}
