/**
 * HTTPRoutePolicy (portico.dev/v1alpha1) → the model. A policy targets one Ingress (the oldest policy wins a
 * target): spec.policy becomes annotation-like settings on all its locations; spec.rules become request matches
 * (path, method, headers, query) evaluated in order, each sending to weighted backends, rewriting or redirecting.
 * Not supported yet (the policy is not accepted and says so): `hosts` targets and per-rule `policy`.
 */
import type { Annotations } from '../annotations/table.ts';
import type { Store } from '../store.ts';
import { type Upstreams, resolveBackend } from './backends.ts';
import { type KubeObject, byAge } from './objects.ts';
import type { ObjectRef, ResourceCondition } from './types.ts';

/** RouteCondition is one test on a request variable (exact string or regex). */
export interface RouteCondition {
  variable: string;
  kind: 'exact' | 'regex';
  value: string;
}

/** RouteRuleModel is one rule: matches (OR of ANDs) and what to do. */
export interface RouteRuleModel {
  id: string;
  matches: RouteCondition[][];
  /** upstream: a weighted upstream name, null for 503 (no endpoints), undefined to keep the location's backend. */
  upstream?: string | null;
  redirect?: { code: number; url: string };
  rewritePath?: { type: 'ReplaceFullPath' | 'ReplacePrefixMatch'; value: string; prefixes: string[] };
  rewriteHost?: string;
}

/** RoutePolicyModel is an accepted policy with its rules. */
export interface RoutePolicyModel {
  ref: ObjectRef;
  /** variable names the map variable holding the id of the matching rule ("" when none). */
  variable: string;
  rules: RouteRuleModel[];
}

/** PolicyResult is what the Ingress model needs: per target Ingress, the overlay and the rules. */
export interface PolicyResult {
  byIngress: Map<string, { overlay: Annotations; model?: RoutePolicyModel; policy: KubeObject }>;
  conditions: ResourceCondition[];
}

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function varName(prefix: string, name: string): string {
  return `${prefix}${name.toLowerCase().replace(/[^a-z0-9_]/g, '_')}`;
}

function condition(variable: string, m: { type?: string; value: string }): RouteCondition {
  return m.type === 'RegularExpression' ? { variable, kind: 'regex', value: m.value } : { variable, kind: 'exact', value: m.value };
}

/** overlayOf maps spec.policy onto annotation fields. */
export function overlayOf(policy: any): Annotations {
  const a: Annotations = {};
  if (!policy) return a;
  const t = policy.timeouts ?? {};
  if (t.connect) a.proxyConnectTimeout = t.connect;
  if (t.send) a.proxySendTimeout = t.send;
  if (t.read) a.proxyReadTimeout = t.read;
  const r = policy.retry ?? {};
  if (r.conditions) a.proxyNextUpstream = r.conditions;
  if (r.attempts !== undefined) a.proxyNextUpstreamTries = r.attempts;
  if (r.timeout) a.proxyNextUpstreamTimeout = r.timeout;
  const lb = policy.loadBalancing;
  if (lb?.algorithm === 'hash') {
    a.upstreamHashBy = lb.hashKey;
    a.hashConsistent = lb.consistent === true;
  } else if (lb?.algorithm) a.loadBalance = lb.algorithm;
  const rl = policy.rateLimit;
  if (rl) {
    if (rl.requestsPerSecond) a.limitRps = rl.requestsPerSecond;
    if (rl.requestsPerMinute) a.limitRpm = rl.requestsPerMinute;
    if (rl.burst !== undefined) a.limitBurst = rl.burst;
    if (rl.connections) a.limitConnections = rl.connections;
    if (rl.key) a.limitKey = rl.key;
    if (rl.statusCode) a.limitStatus = rl.statusCode;
  }
  if (policy.bodySize) a.proxyBodySize = policy.bodySize;
  return a;
}

/** checkPolicy returns why a policy cannot be accepted, or undefined. */
function checkPolicy(spec: any): [string, string] | undefined {
  if (!spec?.targetRef) return ['Unsupported', 'spec.hosts targets are not supported yet; target an Ingress with spec.targetRef'];
  if (spec.targetRef.kind !== 'Ingress') return ['InvalidTarget', `spec.targetRef.kind ${spec.targetRef.kind} is not Ingress`];
  for (const [i, r] of ((spec.rules ?? []) as any[]).entries()) {
    if (r.policy) return ['Unsupported', `rules[${i}].policy is not supported yet; use spec.policy`];
    if (r.redirect && (r.backends || r.rewrite)) return ['Invalid', `rules[${i}]: redirect cannot be combined with backends or rewrite`];
    for (const m of (r.matches ?? []) as any[]) {
      const regexes = [m.path?.type === 'RegularExpression' ? m.path.value : undefined, ...((m.headers ?? []) as any[]).concat(m.queryParams ?? []).filter((h) => h.type === 'RegularExpression').map((h) => h.value)];
      for (const re of regexes.filter((x): x is string => x !== undefined)) {
        try {
          new RegExp(re);
        } catch {
          return ['Invalid', `rules[${i}]: "${re}" is not a valid regular expression`];
        }
      }
      if (m.path && m.path.type !== 'RegularExpression' && !String(m.path.value).startsWith('/')) return ['Invalid', `rules[${i}]: path "${m.path.value}" must start with /`];
      for (const q of (m.queryParams ?? []) as any[]) if (!/^[A-Za-z0-9_-]+$/.test(q.name)) return ['Unsupported', `rules[${i}]: query parameter name "${q.name}" must be letters, digits, "_" or "-"`];
    }
    if (r.rewrite?.path?.type === 'ReplacePrefixMatch' && !((r.matches ?? []) as any[]).length) return ['Invalid', `rules[${i}]: ReplacePrefixMatch needs Prefix path matches`];
  }
  return undefined;
}

/** buildPolicies accepts or rejects every HTTPRoutePolicy against the served Ingresses. */
export function buildPolicies(store: Store, served: Set<string>): PolicyResult {
  const byIngress: PolicyResult['byIngress'] = new Map();
  const conditions: ResourceCondition[] = [];
  for (const p of [...store.list('HTTPRoutePolicy')].sort(byAge)) {
    const ns = p.metadata.namespace ?? 'default';
    const ref: ObjectRef = { kind: 'HTTPRoutePolicy', namespace: ns, name: p.metadata.name, uid: p.metadata.uid };
    const generation = (p.metadata as { generation?: number }).generation;
    const verdict = (accepted: boolean, reason: string, message: string) => conditions.push({ object: ref, generation, accepted, reason, message });
    const problem = checkPolicy(p.spec);
    if (problem) {
      verdict(false, problem[0], problem[1]);
      continue;
    }
    const key = `${ns}/${p.spec.targetRef.name}`;
    if (!served.has(key)) {
      verdict(false, 'TargetNotFound', `Ingress ${key} does not exist or is not served by this controller`);
      continue;
    }
    const other = byIngress.get(key);
    if (other) {
      verdict(false, 'Conflict', `Ingress ${key} already has the older HTTPRoutePolicy ${other.policy.metadata.name}`);
      continue;
    }
    byIngress.set(key, { overlay: overlayOf(p.spec.policy), policy: p });
    verdict(true, 'Accepted', `applies to Ingress ${key}${p.spec.rules?.length ? ` with ${p.spec.rules.length} rule(s)` : ''}`);
  }
  return { byIngress, conditions };
}

/** buildRules resolves a policy's rules (backends need the Ingress's final annotations, hence a second step). */
export function buildRules(store: Store, policy: KubeObject, ann: Annotations, upstreams: Upstreams): RoutePolicyModel | undefined {
  const rules = (policy.spec.rules ?? []) as any[];
  if (rules.length === 0) return undefined;
  const ns = policy.metadata.namespace ?? 'default';
  const ref: ObjectRef = { kind: 'HTTPRoutePolicy', namespace: ns, name: policy.metadata.name };
  const out: RouteRuleModel[] = rules.map((r, i) => {
    const id = `r${i}`;
    const matches: RouteCondition[][] = ((r.matches ?? [{}]) as any[]).map((m) => {
      const c: RouteCondition[] = [];
      if (m.path) {
        if (m.path.type === 'Exact') c.push({ variable: '$uri', kind: 'exact', value: m.path.value });
        else if (m.path.type === 'Prefix') c.push({ variable: '$uri', kind: 'regex', value: `^${escapeRegex(m.path.value.replace(/\/+$/, ''))}(/|$)` });
        else c.push(condition('$uri', m.path));
      }
      if (m.method) c.push({ variable: '$request_method', kind: 'exact', value: m.method });
      for (const h of (m.headers ?? []) as any[]) c.push(condition(varName('$http_', h.name.replaceAll('-', '_')), h));
      for (const q of (m.queryParams ?? []) as any[]) c.push(condition(`$arg_${q.name}`, q));
      return c;
    });
    const rule: RouteRuleModel = { id, matches };
    if (r.redirect) {
      const x = r.redirect;
      rule.redirect = { code: x.statusCode ?? 302, url: `${x.scheme ?? '$scheme'}://${x.host ?? '$host'}${x.port ? `:${x.port}` : ''}${x.path ?? '$request_uri'}` };
    }
    if (r.rewrite?.path) rule.rewritePath = { type: r.rewrite.path.type, value: r.rewrite.path.value, prefixes: ((r.matches ?? []) as any[]).filter((m) => m.path?.type === 'Prefix').map((m) => m.path.value.replace(/\/+$/, '')) };
    if (r.rewrite?.host) rule.rewriteHost = r.rewrite.host;
    if (r.backends) rule.upstream = weightedUpstream(store, ns, `${ns}_${policy.metadata.name}_${id}`, r.backends, ann, upstreams);
    return rule;
  });
  return { ref, variable: varName('portico_route_', `${ns}_${policy.metadata.name}`), rules: out };
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

/** weightedUpstream joins the backends' peers; each backend gets its weight whatever its number of peers. */
function weightedUpstream(store: Store, ns: string, name: string, backends: any[], ann: Annotations, upstreams: Upstreams): string | null {
  const parts: { peers: string[]; weight: number }[] = [];
  for (const b of backends) {
    const weight = b.weight ?? 1;
    if (weight === 0) continue;
    const be = resolveBackend(store, ns, { service: b.service }, ann, upstreams);
    if (be.upstream !== null) parts.push({ peers: upstreams.get(be.upstream)!.peers, weight });
  }
  if (parts.length === 0) return null;
  // Per-peer weight = backend weight × L / peers, with L the lcm of the peer counts (capped: then rounded).
  let l = 1;
  for (const p of parts) l = Math.min((l * p.peers.length) / gcd(l, p.peers.length), 1000);
  const peers: string[] = [];
  const weights: number[] = [];
  for (const p of parts) for (const peer of p.peers) {
    peers.push(peer);
    weights.push(Math.max(1, Math.round((p.weight * l) / p.peers.length)));
  }
  const g = weights.reduce(gcd);
  const base = upstreams.get(resolveBackend(store, ns, { service: backends[0].service }, ann, upstreams).upstream ?? '') ;
  upstreams.set(name, { name, peers, weights: weights.map((w) => w / g), balancer: base?.balancer ?? 'round_robin', hashBy: base?.hashBy, hashConsistent: base?.hashConsistent });
  return name;
}
