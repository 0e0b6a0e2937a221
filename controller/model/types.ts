/**
 * The model: what the controller has decided to serve, independent of nginx syntax. buildModel produces it from
 * the store; the renderer turns it into a ConfTree. Everything here is sorted so renders are deterministic.
 */
import type { Annotations } from '../annotations/table.ts';
import type { MailServerModel } from './mail.ts';
import type { RoutePolicyModel } from './routepolicy.ts';

/** ObjectRef names the object an event is about. */
export interface ObjectRef {
  kind: string;
  namespace?: string;
  name: string;
  uid?: string;
}

/** ModelEvent is something the user should see as a Kubernetes Event (and in the log). */
export interface ModelEvent {
  object: ObjectRef;
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}

/** ResourceCondition is the Accepted verdict on one of our custom resources (status conditions come from it). */
export interface ResourceCondition {
  object: ObjectRef;
  generation?: number;
  accepted: boolean;
  reason: string;
  message: string;
}

/** Certificate is a PEM certificate chain and key, kept in memory only. */
export interface Certificate {
  /** id is `namespace/secret` or `default`. */
  id: string;
  cert: string;
  key: string;
}

/** UpstreamModel is one backend pool: a Service port's endpoints (or its ClusterIP with service-upstream). */
export interface UpstreamModel {
  name: string;
  peers: string[];
  balancer: 'round_robin' | 'ewma' | 'least_conn' | 'ip_hash' | 'random';
  hashBy?: string;
  /** hashConsistent: `hash KEY consistent` (default) or plain `hash KEY`. */
  hashConsistent?: boolean;
  /** weights, when set, give each peer's `weight=` (weighted backends of an HTTPRoutePolicy rule). */
  weights?: number[];
  sticky?: { name: string; path: string; maxAge?: number; samesite?: string };
}

/** Backend is where a location sends requests: an upstream, or nothing (503) with the reason. */
export type Backend = { upstream: string; service: string } | { upstream: null; service: string; reason: string };

/** CanaryModel is the canary Ingress's backend attached to a main location. */
export interface CanaryModel {
  backend: Backend;
  ingress: ObjectRef;
  weight: number;
  header?: string;
  headerValue?: string;
  cookie?: string;
}

/** LocationMatch is nginx's location modifier: exact (`=`), prefix (none) or case-insensitive regex (`~*`). */
export type LocationMatch = '=' | '' | '~*';

/** LocationModel is one nginx location, from one Ingress path. */
export interface LocationModel {
  match: LocationMatch;
  path: string;
  /** rulePath is the Ingress path it came from (a metrics label; never the request URI). */
  rulePath: string;
  ingress: ObjectRef;
  backend: Backend;
  /** fallback serves when backend has no endpoints (the default-backend annotation). */
  fallback?: Backend;
  annotations: Annotations;
  canary?: CanaryModel;
  /** htpasswd is the basic-auth user file content (from the auth-secret). */
  htpasswd?: string;
  /** routes is the HTTPRoutePolicy attached to this location's Ingress. */
  routes?: RoutePolicyModel;
  /** priority: 0 explicit path, 1 the exact twin of a Prefix path, 2 from a defaultBackend. */
  priority: number;
}

/** ServerModel is one virtual server: a host name (or `_`, the default server) with its locations. */
export interface ServerModel {
  host: string;
  aliases: string[];
  isDefault: boolean;
  certificate?: Certificate;
  sslRedirect: boolean;
  appRoot?: string;
  locations: LocationModel[];
}

/** Model is the whole decided configuration. */
export interface Model {
  servers: ServerModel[];
  upstreams: UpstreamModel[];
  events: ModelEvent[];
  /** ingresses are the accepted Ingresses this controller serves (their status gets our address). */
  ingresses: ObjectRef[];
  /** settings are main/http-level directives from the global ConfigMap. */
  settings: { context: 'main' | 'http'; name: string; args: string[] }[];
  /** mail lists the MailProxy listeners; mailConditions their Accepted verdicts (for status). */
  mail: MailServerModel[];
  /** conditions are the Accepted verdicts of MailProxies and HTTPRoutePolicies. */
  conditions: ResourceCondition[];
  /** defaultBackend is --default-backend-service's backend (custom-http-errors go there), when configured. */
  defaultBackend?: Backend;
}
