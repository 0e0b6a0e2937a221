/**
 * Kubernetes objects as the controller reads them: plain JSON (as the API server and YAML files give them),
 * typed only as far as the model needs. Both sources (API server and folder) produce these shapes.
 */

/** ObjectMeta is the subset of metadata the controller reads. */
export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  creationTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

/** KubeObject is any object with kind and metadata; specific kinds narrow spec/data/status. */
export interface KubeObject {
  apiVersion?: string;
  kind: string;
  metadata: ObjectMeta;
  spec?: any;
  status?: any;
  data?: Record<string, string>;
  stringData?: Record<string, string>;
  type?: string;
  [key: string]: unknown;
}

/** IngressBackend is networking.k8s.io/v1 IngressBackend. */
export interface IngressBackend {
  service?: { name: string; port?: { number?: number; name?: string } };
  resource?: { apiGroup?: string; kind: string; name: string };
}

/** IngressPath is one HTTPIngressPath. */
export interface IngressPath {
  path?: string;
  pathType?: string;
  backend: IngressBackend;
}

/** IngressSpec is networking.k8s.io/v1 IngressSpec. */
export interface IngressSpec {
  ingressClassName?: string;
  defaultBackend?: IngressBackend;
  tls?: { hosts?: string[]; secretName?: string }[];
  rules?: { host?: string; http?: { paths?: IngressPath[] } }[];
}

/** Ingress narrows KubeObject to an Ingress. */
export interface Ingress extends KubeObject {
  spec: IngressSpec;
}

/** KINDS lists the kinds the store keeps, with the API path pieces used by the Kubernetes source. */
export const KINDS = {
  Ingress: { group: 'networking.k8s.io', version: 'v1', resource: 'ingresses', namespaced: true },
  IngressClass: { group: 'networking.k8s.io', version: 'v1', resource: 'ingressclasses', namespaced: false },
  Service: { group: '', version: 'v1', resource: 'services', namespaced: true },
  EndpointSlice: { group: 'discovery.k8s.io', version: 'v1', resource: 'endpointslices', namespaced: true },
  Secret: { group: '', version: 'v1', resource: 'secrets', namespaced: true },
  ConfigMap: { group: '', version: 'v1', resource: 'configmaps', namespaced: true },
  MailProxy: { group: 'portico.dev', version: 'v1alpha1', resource: 'mailproxies', namespaced: true },
  HTTPRoutePolicy: { group: 'portico.dev', version: 'v1alpha1', resource: 'httproutepolicies', namespaced: true },
} as const;

/** Kind is one of the kinds the store keeps. */
export type Kind = keyof typeof KINDS;

/** isKind tells whether a kind string is one the store keeps. */
export function isKind(kind: string): kind is Kind {
  return Object.hasOwn(KINDS, kind);
}

/** kindPath is the collection URL path of a kind, in one namespace or across all. */
export function kindPath(kind: Kind, namespace?: string): string {
  const k = KINDS[kind];
  const base = k.group ? `/apis/${k.group}/${k.version}` : `/api/${k.version}`;
  return k.namespaced && namespace ? `${base}/namespaces/${namespace}/${k.resource}` : `${base}/${k.resource}`;
}

/** objectKey is `namespace/name` (or `name` for cluster-scoped objects), the store's key. */
export function objectKey(obj: { metadata: ObjectMeta }): string {
  return obj.metadata.namespace ? `${obj.metadata.namespace}/${obj.metadata.name}` : obj.metadata.name;
}

/** byAge orders objects oldest first, then by namespace/name: the rule that decides merge conflicts. */
export function byAge(a: KubeObject, b: KubeObject): number {
  const ta = Date.parse(a.metadata.creationTimestamp ?? '') || 0;
  const tb = Date.parse(b.metadata.creationTimestamp ?? '') || 0;
  if (ta !== tb) return ta - tb;
  const ka = objectKey(a);
  const kb = objectKey(b);
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}
