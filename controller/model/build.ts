/**
 * buildModel: the pure step from the store to the model. Ingresses are taken oldest first (then namespace/name),
 * so the oldest wins every conflict and the loser gets an Event; canaries attach to the main Ingress's locations.
 */
import { parseAnnotations, parseGlobalSettings } from '../annotations/parse.ts';
import { hostOfUrl } from './host-lookups.ts';
import type { Annotations } from '../annotations/table.ts';
import type { Store } from '../store.ts';
import { type Upstreams, resolveBackend } from './backends.ts';
import { certificateFromSecret, secretText } from './certificates.ts';
import { type ClassOptions, isOurs } from './ingressclass.ts';
import { type Ingress, type IngressBackend, byAge } from './objects.ts';
import { buildMail } from './mail.ts';
import { buildPolicies, buildRules } from './routepolicy.ts';
import { checkIngress, locationsFor } from './paths.ts';
import type { Backend, Certificate, LocationModel, Model, ModelEvent, ObjectRef, ServerModel } from './types.ts';

/** ModelOptions are the flags the model depends on. */
export interface ModelOptions extends ClassOptions {
  /** watchNamespaces limits Ingresses to these namespaces (empty = all). */
  watchNamespaces?: string[];
  defaultCertificate: Certificate;
  /** defaultCertificateSecret is `namespace/name` of a TLS Secret replacing defaultCertificate when valid. */
  defaultCertificateSecret?: string;
  /** defaultBackendService is `namespace/name` of the Service answering unmatched requests. */
  defaultBackendService?: string;
  /** configMap is `namespace/name` of the global settings ConfigMap. */
  configMap?: string;
  /** reservedPorts are taken by the HTTP listeners (a MailProxy listener on one is refused). */
  reservedPorts?: number[];
}

/** DEFAULT_SERVER is the catch-all server's name. */
export const DEFAULT_SERVER = '_';

function ref(ing: Ingress): ObjectRef {
  return { kind: 'Ingress', namespace: ing.metadata.namespace, name: ing.metadata.name, uid: ing.metadata.uid };
}

function splitRef(text: string, ns: string): [string, string] {
  const i = text.indexOf('/');
  return i < 0 ? [ns, text] : [text.slice(0, i), text.slice(i + 1)];
}

/** buildModel decides the whole configuration from the store. */
export function buildModel(store: Store, opts: ModelOptions): Model {
  const events: ModelEvent[] = [];
  const warn = (object: ObjectRef, reason: string, message: string) => events.push({ object, type: 'Warning', reason, message });
  const upstreams: Upstreams = new Map();
  const servers = new Map<string, ServerModel>();
  const server = (host: string): ServerModel => {
    let s = servers.get(host);
    if (!s) servers.set(host, (s = { host, aliases: [], isDefault: host === DEFAULT_SERVER, sslRedirect: false, locations: [] }));
    return s;
  };

  let globals: Annotations = {};
  let settings: Model['settings'] = [];
  if (opts.configMap) {
    const [ns, name] = splitRef(opts.configMap, 'default');
    const cm = store.get('ConfigMap', ns, name);
    if (cm) {
      const g = parseGlobalSettings(cm.data);
      globals = g.value;
      settings = g.directives;
      for (const e of g.errors) warn({ kind: 'ConfigMap', namespace: ns, name }, 'InvalidSetting', e);
    }
  }

  let defaultCertificate = opts.defaultCertificate;
  if (opts.defaultCertificateSecret) {
    const [ns, name] = splitRef(opts.defaultCertificateSecret, 'default');
    const c = certificateFromSecret(store.get('Secret', ns, name), `${ns}/${name}`, '');
    if (typeof c === 'string') warn({ kind: 'Secret', namespace: ns, name }, 'InvalidCertificate', `--default-ssl-certificate: ${c}; using a generated self-signed certificate`);
    else defaultCertificate = c;
  }

  const mine = (store.list('Ingress') as Ingress[])
    .filter((i) => !opts.watchNamespaces?.length || opts.watchNamespaces.includes(i.metadata.namespace ?? ''))
    .filter((i) => isOurs(i, store, opts))
    .sort(byAge);

  const accepted: { ing: Ingress; ann: Annotations }[] = [];
  for (const ing of mine) {
    const r = parseAnnotations(ing.metadata.annotations, globals);
    for (const w of r.warnings) warn(ref(ing), 'UnsupportedAnnotation', w);
    const errors = r.ok ? checkIngress(ing, r.value) : r.errors;
    if (!r.ok || errors.length) {
      warn(ref(ing), 'Rejected', `Ingress ${ing.metadata.namespace}/${ing.metadata.name} rejected: ${errors.join('; ')}`);
      continue;
    }
    const htpasswd = r.value.authType === 'basic' ? basicAuthFile(store, ing, r.value.authSecret!) : undefined;
    if (typeof htpasswd === 'object') {
      warn(ref(ing), 'Rejected', `Ingress ${ing.metadata.namespace}/${ing.metadata.name} rejected: ${htpasswd.error}`);
      continue;
    }
    const authHost = hostOfUrl(r.value.authUrl);
    if (authHost !== undefined && !store.hostLookups.found(authHost)) {
      // The dataplane would refuse the whole tree over this name; only this Ingress is refused.
      warn(ref(ing), 'Rejected', `Ingress ${ing.metadata.namespace}/${ing.metadata.name} rejected: auth-url host "${authHost}" not found`);
      continue;
    }
    accepted.push({ ing, ann: r.value });
  }

  const backendOf = (ing: Ingress, b: IngressBackend, ann: Annotations): Backend => {
    const ns = ing.metadata.namespace ?? 'default';
    const be = resolveBackend(store, ns, b, ann, upstreams);
    if (be.upstream === null) warn(ref(ing), 'BackendUnavailable', `${be.reason}; requests get 503`);
    return be;
  };

  const mains = accepted.filter((a) => !a.ann.canary);
  const policies = buildPolicies(store, new Set(mains.map((m) => `${m.ing.metadata.namespace}/${m.ing.metadata.name}`)));
  for (const main of mains) {
    const ing = main.ing;
    const ns = ing.metadata.namespace ?? 'default';
    const policy = policies.byIngress.get(`${ns}/${ing.metadata.name}`);
    const ann: Annotations = policy ? { ...main.ann, ...policy.overlay } : main.ann;
    const routes = policy ? buildRules(store, policy.policy, ann, upstreams) : undefined;
    const fallback = ann.defaultBackend ? { service: { name: ann.defaultBackend, port: { number: 80 } } } : undefined;
    const htpasswd = ann.authType === 'basic' ? (basicAuthFile(store, ing, ann.authSecret!) as string) : undefined;
    const add = (host: string, loc: Omit<LocationModel, 'ingress' | 'annotations' | 'htpasswd' | 'fallback'>) => {
      const s = server(host || DEFAULT_SERVER);
      const full: LocationModel = { ...loc, ingress: ref(ing), annotations: ann, htpasswd, routes };
      if (fallback && full.backend.upstream === null) full.fallback = resolveBackend(store, ns, serviceFallback(store, ns, ann.defaultBackend!) ?? fallback, ann, upstreams);
      const i = s.locations.findIndex((l) => l.match === loc.match && l.path === loc.path);
      if (i < 0) s.locations.push(full);
      else if (loc.priority < s.locations[i]!.priority) s.locations[i] = full;
      else if (loc.priority === s.locations[i]!.priority && (s.locations[i]!.ingress.name !== full.ingress.name || s.locations[i]!.ingress.namespace !== full.ingress.namespace)) {
        const winner = s.locations[i]!.ingress;
        warn(ref(ing), 'Conflict', `host ${host || '*'} path ${loc.match ? loc.match + ' ' : ''}${loc.path} is already served by older Ingress ${winner.namespace}/${winner.name}; this path is ignored`);
      }
    };
    const hosts = new Set<string>();
    for (const rule of ing.spec.rules ?? []) {
      const host = rule.host ?? '';
      hosts.add(host);
      for (const p of rule.http?.paths ?? []) {
        const be = backendOf(ing, p.backend, ann);
        for (const l of locationsFor(p, ann)) add(host, { ...l, rulePath: p.path ?? '/', backend: be });
      }
    }
    if (ing.spec.defaultBackend) {
      const be = backendOf(ing, ing.spec.defaultBackend, ann);
      // It serves what the Ingress's own hosts leave unmatched; an Ingress without rules (or with host-less
      // rules) also provides the catch-all server's answer. It never captures other Ingresses' hosts.
      for (const host of hosts.size ? hosts : new Set([''])) add(host, { match: '', path: '/', rulePath: '/', backend: be, priority: 2 });
    }
    for (const host of hosts) {
      if (!host) continue;
      const s = server(host);
      for (const a of ann.serverAlias ?? []) if (!s.aliases.includes(a)) s.aliases.push(a);
      if (ann.appRoot && s.appRoot === undefined) s.appRoot = ann.appRoot;
      if (ann.forceSslRedirect) s.sslRedirect = true;
    }
    for (const tls of ing.spec.tls ?? []) {
      for (const host of tls.hosts ?? []) {
        const s = servers.get(host);
        if (!s || s.certificate) continue;
        const secretRef = `${ns}/${tls.secretName ?? ''}`;
        const c = tls.secretName ? certificateFromSecret(store.get('Secret', ns, tls.secretName), secretRef, host) : `no secretName for host ${host}`;
        if (typeof c === 'string') {
          warn(ref(ing), 'InvalidCertificate', `${c}; host ${host} uses the default certificate`);
          s.certificate = defaultCertificate;
        } else s.certificate = c;
        if (ann.sslRedirect !== false) s.sslRedirect = true;
      }
    }
  }

  for (const { ing, ann } of accepted.filter((a) => a.ann.canary)) {
    for (const rule of ing.spec.rules ?? []) {
      for (const p of rule.http?.paths ?? []) {
        const s = servers.get(rule.host || DEFAULT_SERVER);
        const keys = locationsFor(p, ann);
        const locs = s?.locations.filter((l) => keys.some((k) => k.match === l.match && k.path === l.path && l.priority === k.priority)) ?? [];
        if (locs.length === 0) {
          warn(ref(ing), 'CanaryWithoutMain', `canary host ${rule.host ?? '*'} path ${p.path ?? '/'} has no main Ingress; ignored`);
          continue;
        }
        const backend = backendOf(ing, p.backend, ann);
        for (const l of locs) {
          if (l.canary) warn(ref(ing), 'Conflict', `path ${p.path ?? '/'} already has canary ${l.canary.ingress.namespace}/${l.canary.ingress.name}; ignored`);
          else l.canary = { backend, ingress: ref(ing), weight: ann.canaryWeight ?? 0, header: ann.canaryByHeader, headerValue: ann.canaryByHeaderValue, cookie: ann.canaryByCookie };
        }
      }
    }
  }

  const def = server(DEFAULT_SERVER);
  def.certificate = defaultCertificate;
  let defaultBackend: Backend | undefined;
  if (opts.defaultBackendService) {
    const [ns, name] = splitRef(opts.defaultBackendService, 'default');
    const svcPort = store.get('Service', ns, name)?.spec?.ports?.[0]?.port ?? 80;
    const be = resolveBackend(store, ns, { service: { name, port: { number: svcPort } } }, {}, upstreams);
    defaultBackend = be;
    if (be.upstream === null) warn({ kind: 'Service', namespace: ns, name }, 'BackendUnavailable', `--default-backend-service: ${be.reason}`);
    const ingress = { kind: 'Service', namespace: ns, name };
    // Every server answers what its Ingresses leave unmatched from the default backend (as ingress-nginx does).
    for (const srv of servers.values()) {
      if (srv.locations.some((l) => l.match === '' && l.path === '/')) continue;
      srv.locations.push({ match: '', path: '/', rulePath: '/', ingress, backend: be, annotations: {}, priority: 3 });
    }
  }
  for (const s of servers.values()) {
    if (s.certificate === undefined && !s.isDefault && globals.forceSslRedirect) s.sslRedirect = true;
    s.aliases.sort();
    s.locations.sort(byLocation);
  }
  const mail = buildMail(store, opts.reservedPorts ?? []);
  events.push(...mail.events);
  const sorted = [...servers.values()].sort((a, b) => (a.isDefault !== b.isDefault ? (a.isDefault ? -1 : 1) : a.host < b.host ? -1 : a.host > b.host ? 1 : 0));
  return {
    servers: sorted,
    upstreams: [...upstreams.values()].sort((a, b) => (a.name < b.name ? -1 : 1)),
    events,
    ingresses: mains.concat(accepted.filter((a) => a.ann.canary)).map((a) => ref(a.ing)),
    defaultBackend,
    settings,
    mail: mail.servers,
    conditions: [...mail.conditions, ...policies.conditions],
  };
}

const MATCH_ORDER = { '=': 0, '': 1, '~*': 2 } as const;

/** byLocation orders exact, then prefix, then regex locations; regexes longest first, as nginx tries them in order. */
function byLocation(a: LocationModel, b: LocationModel): number {
  if (a.match !== b.match) return MATCH_ORDER[a.match] - MATCH_ORDER[b.match];
  if (a.match === '~*' && a.path.length !== b.path.length) return b.path.length - a.path.length;
  return a.path < b.path ? -1 : a.path > b.path ? 1 : 0;
}

function serviceFallback(store: Store, ns: string, name: string): IngressBackend | undefined {
  const port = store.get('Service', ns, name)?.spec?.ports?.[0]?.port;
  return port === undefined ? undefined : { service: { name, port: { number: port } } };
}

function basicAuthFile(store: Store, ing: Ingress, secretRef: string): string | { error: string } {
  const [ns, name] = splitRef(secretRef, ing.metadata.namespace ?? 'default');
  const secret = store.get('Secret', ns, name);
  if (!secret) return { error: `auth-secret ${ns}/${name} not found` };
  const auth = secretText(secret, 'auth');
  if (!auth) return { error: `auth-secret ${ns}/${name} has no "auth" key` };
  const lines = auth.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  if (lines.length === 0 || lines.some((l) => !/^[^:\s]+:\S+$/.test(l))) return { error: `auth-secret ${ns}/${name}: "auth" is not htpasswd lines (user:hash)` };
  return lines.join('\n') + '\n';
}
