// A test Kubernetes API server on loopback that speaks what @kubernetes/client-node uses: lists with
// resourceVersion, `?watch=true` streams (ADDED/MODIFIED/DELETED/BOOKMARK, ERROR 410 for an expired version),
// get/create/replace (with resourceVersion conflicts), status subresource PUT/PATCH, and Events. Tests drive it:
// apply/remove objects, compact history, drop watches, go offline and come back.
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type net from 'node:net';
import os from 'node:os';
import path from 'node:path';

/** Obj is a stored object (plain JSON). */
export type Obj = { apiVersion?: string; kind?: string; metadata: { name: string; namespace?: string; resourceVersion?: string; [k: string]: unknown }; [k: string]: any };

const KIND_OF: Record<string, string> = {
  ingresses: 'Ingress', ingressclasses: 'IngressClass', services: 'Service', endpointslices: 'EndpointSlice', secrets: 'Secret',
  configmaps: 'ConfigMap', mailproxies: 'MailProxy', httproutepolicies: 'HTTPRoutePolicy', leases: 'Lease', events: 'Event',
};
const RESOURCE_OF = Object.fromEntries(Object.entries(KIND_OF).map(([r, k]) => [k, r]));
const GROUP_OF: Record<string, string> = { Ingress: 'networking.k8s.io/v1', IngressClass: 'networking.k8s.io/v1', EndpointSlice: 'discovery.k8s.io/v1', Lease: 'coordination.k8s.io/v1', MailProxy: 'portico.dev/v1alpha1', HTTPRoutePolicy: 'portico.dev/v1alpha1' };
const CLUSTER_SCOPED = new Set(['ingressclasses']);

interface Route {
  gv: string;
  ns?: string;
  resource: string;
  name?: string;
  status: boolean;
}

interface Watcher {
  res: http.ServerResponse;
  resource: string;
  ns?: string;
}

function parsePath(p: string): Route | undefined {
  const m = /^\/(?:api\/(v1)|apis\/([^/]+\/[^/]+))(?:\/namespaces\/([^/]+))?\/([^/]+)(?:\/([^/]+))?(\/status)?$/.exec(p);
  if (!m) return undefined;
  return { gv: m[1] ?? m[2]!, ns: m[3], resource: m[4]!, name: m[5], status: m[6] !== undefined };
}

function statusBody(code: number, reason: string, message: string) {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
}

function mergePatch(target: any, patch: any): any {
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) return patch;
  const out = typeof target === 'object' && target !== null && !Array.isArray(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

/** FakeApiServer is the test API server. */
export class FakeApiServer {
  readonly token = 'test-token';
  port = 0;
  rv = 1;
  compactedRv = 0;
  /** requests records "METHOD path" for assertions. */
  requests: string[] = [];
  /** uninstalled resources answer 404, like a CRD that is not installed. */
  uninstalled = new Set<string>();
  /** writes records "METHOD path user-agent" for every non-GET request. */
  writes: string[] = [];
  #objects = new Map<string, Map<string, Obj>>();
  #history: { rv: number; resource: string; ns?: string; type: string; obj: Obj }[] = [];
  #watchers = new Set<Watcher>();
  #server?: http.Server;
  #sockets = new Set<net.Socket>();

  /** start listens on 127.0.0.1 (port 0 = any free port; a restart reuses the port). */
  async start(port = this.port): Promise<this> {
    const server = http.createServer((req, res) => this.#handle(req, res));
    server.on('connection', (s) => {
      this.#sockets.add(s);
      s.on('close', () => this.#sockets.delete(s));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as net.AddressInfo).port;
    this.#server = server;
    return this;
  }

  /** stop closes the server and every connection (the API server becomes unreachable). */
  async stop(): Promise<void> {
    const s = this.#server;
    this.#server = undefined;
    for (const w of this.#watchers) w.res.destroy();
    this.#watchers.clear();
    for (const sock of this.#sockets) sock.destroy();
    if (s) await new Promise<void>((r) => s.close(() => r()));
  }

  /** url is the server's base URL. */
  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** writeKubeconfig writes a kubeconfig with a bearer token for this server and returns its path. */
  writeKubeconfig(dir = fs.mkdtempSync(path.join(os.tmpdir(), 'portico-kube-'))): string {
    const file = path.join(dir, 'kubeconfig');
    fs.writeFileSync(file, JSON.stringify({
      apiVersion: 'v1', kind: 'Config', 'current-context': 'fake',
      clusters: [{ name: 'fake', cluster: { server: this.url, 'insecure-skip-tls-verify': true } }],
      users: [{ name: 'fake', user: { token: this.token } }],
      contexts: [{ name: 'fake', context: { cluster: 'fake', user: 'fake', namespace: 'default' } }],
    }));
    return file;
  }

  #bucket(resource: string): Map<string, Obj> {
    let m = this.#objects.get(resource);
    if (!m) this.#objects.set(resource, (m = new Map()));
    return m;
  }

  #record(type: string, resource: string, obj: Obj): void {
    const entry = { rv: this.rv, resource, ns: obj.metadata.namespace, type, obj: structuredClone(obj) };
    this.#history.push(entry);
    for (const w of this.#watchers) if (w.resource === resource && (!w.ns || w.ns === entry.ns)) w.res.write(JSON.stringify({ type, object: entry.obj }) + '\n');
  }

  #store(resource: string, obj: Obj, type: 'ADDED' | 'MODIFIED'): Obj {
    this.rv++;
    obj.metadata.resourceVersion = String(this.rv);
    obj.metadata.uid ??= crypto.randomUUID();
    obj.metadata.creationTimestamp ??= new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    obj.kind ??= KIND_OF[resource];
    obj.apiVersion ??= GROUP_OF[obj.kind!] ?? 'v1';
    this.#bucket(resource).set(`${obj.metadata.namespace ?? ''}/${obj.metadata.name}`, obj);
    this.#record(type, resource, obj);
    return obj;
  }

  /** apply creates or replaces an object (by kind) and notifies watchers. */
  apply(obj: Obj): Obj {
    const resource = RESOURCE_OF[obj.kind!]!;
    const copy = structuredClone(obj);
    if (!CLUSTER_SCOPED.has(resource)) copy.metadata.namespace ??= 'default';
    const key = `${copy.metadata.namespace ?? ''}/${copy.metadata.name}`;
    const old = this.#bucket(resource).get(key);
    if (old) copy.metadata.creationTimestamp ??= old.metadata['creationTimestamp'] as string;
    delete copy.metadata.resourceVersion;
    return this.#store(resource, copy, old ? 'MODIFIED' : 'ADDED');
  }

  /** remove deletes an object and notifies watchers. */
  remove(kind: string, namespace: string | undefined, name: string): void {
    const resource = RESOURCE_OF[kind]!;
    const key = `${namespace ?? ''}/${name}`;
    const old = this.#bucket(resource).get(key);
    if (!old) return;
    this.#bucket(resource).delete(key);
    this.rv++;
    this.#record('DELETED', resource, { ...old, metadata: { ...old.metadata, resourceVersion: String(this.rv) } });
  }

  /** get returns a stored object. */
  get(kind: string, namespace: string | undefined, name: string): Obj | undefined {
    return this.#bucket(RESOURCE_OF[kind]!).get(`${namespace ?? ''}/${name}`);
  }

  /** list returns stored objects of a kind. */
  list(kind: string): Obj[] {
    return [...this.#bucket(RESOURCE_OF[kind]!).values()];
  }

  /** compact forgets history: watches from an older resourceVersion get 410 Gone and must relist. */
  compact(): void {
    this.compactedRv = this.rv;
    this.#history = [];
  }

  /** dropWatches ends every open watch stream (as an API server restart or a load balancer timeout does). */
  dropWatches(): void {
    for (const w of this.#watchers) w.res.end();
    this.#watchers.clear();
  }

  /** bookmark sends a BOOKMARK event with the current resourceVersion to every watch. */
  bookmark(): void {
    for (const w of this.#watchers) w.res.write(JSON.stringify({ type: 'BOOKMARK', object: { kind: KIND_OF[w.resource], apiVersion: 'v1', metadata: { resourceVersion: String(this.rv) } } }) + '\n');
  }

  /** watchCount is the number of open watch streams. */
  get watchCount(): number {
    return this.#watchers.size;
  }

  #send(res: http.ServerResponse, code: number, body: unknown): void {
    res.writeHead(code, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  }

  #handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://x');
    this.requests.push(`${req.method} ${url.pathname}${url.searchParams.get('watch') ? '?watch' : ''}`);
    if (req.method !== 'GET') this.writes.push(`${req.method} ${url.pathname} ${req.headers['user-agent'] ?? ''}`);
    if (req.headers.authorization !== `Bearer ${this.token}`) return this.#send(res, 401, statusBody(401, 'Unauthorized', 'Unauthorized'));
    const route = parsePath(url.pathname);
    if (!route || !KIND_OF[route.resource] || this.uninstalled.has(route.resource)) return this.#send(res, 404, statusBody(404, 'NotFound', `the server could not find the requested resource ${url.pathname}`));
    let text = '';
    req.setEncoding('utf8');
    req.on('data', (c) => (text += c));
    req.on('end', () => {
      let body: any;
      try {
        body = text ? JSON.parse(text) : undefined;
      } catch {
        return this.#send(res, 400, statusBody(400, 'BadRequest', 'invalid JSON body'));
      }
      this.#dispatch(req, res, url, route, body);
    });
  }

  #dispatch(req: http.IncomingMessage, res: http.ServerResponse, url: URL, r: Route, body: any): void {
    const bucket = this.#bucket(r.resource);
    const key = `${r.ns ?? ''}/${r.name}`;
    const kind = KIND_OF[r.resource]!;
    if (req.method === 'GET' && !r.name && url.searchParams.get('watch') === 'true') return this.#watch(res, r, Number(url.searchParams.get('resourceVersion') || '0'));
    if (req.method === 'GET' && !r.name) {
      const items = [...bucket.values()].filter((o) => !r.ns || o.metadata.namespace === r.ns);
      return this.#send(res, 200, { kind: `${kind}List`, apiVersion: r.gv, metadata: { resourceVersion: String(this.rv) }, items });
    }
    const current = bucket.get(key);
    if (req.method === 'GET') return current ? this.#send(res, 200, current) : this.#send(res, 404, statusBody(404, 'NotFound', `${r.resource} "${r.name}" not found`));
    if (req.method === 'POST' && !r.name) {
      const obj = body as Obj;
      if (!obj?.metadata?.name && obj?.metadata?.['generateName']) obj.metadata.name = `${obj.metadata['generateName']}${crypto.randomBytes(3).toString('hex')}`;
      if (!obj?.metadata?.name) return this.#send(res, 422, statusBody(422, 'Invalid', 'metadata.name: Required value'));
      obj.metadata.namespace = r.ns;
      if (bucket.has(`${r.ns ?? ''}/${obj.metadata.name}`)) return this.#send(res, 409, statusBody(409, 'AlreadyExists', `${r.resource} "${obj.metadata.name}" already exists`));
      delete obj.metadata.resourceVersion;
      return this.#send(res, 201, this.#store(r.resource, obj, 'ADDED'));
    }
    if (!current) return this.#send(res, 404, statusBody(404, 'NotFound', `${r.resource} "${r.name}" not found`));
    if (req.method === 'PUT') {
      const obj = body as Obj;
      if (obj?.metadata?.resourceVersion && obj.metadata.resourceVersion !== current.metadata.resourceVersion) {
        return this.#send(res, 409, statusBody(409, 'Conflict', `Operation cannot be fulfilled on ${r.resource} "${r.name}": the object has been modified; please apply your changes to the latest version and try again`));
      }
      const next: Obj = r.status ? { ...current, status: obj.status } : kind === 'Ingress' ? { ...obj, status: current['status'] } : obj;
      next.metadata = { ...current.metadata, ...(r.status ? {} : obj.metadata), namespace: r.ns, name: r.name! };
      return this.#send(res, 200, this.#store(r.resource, next, 'MODIFIED'));
    }
    if (req.method === 'PATCH') {
      const merged = mergePatch(current, r.status ? { status: body?.status } : body) as Obj;
      merged.metadata = { ...current.metadata };
      return this.#send(res, 200, this.#store(r.resource, merged, 'MODIFIED'));
    }
    if (req.method === 'DELETE') {
      this.remove(kind, r.ns, r.name!);
      return this.#send(res, 200, current);
    }
    this.#send(res, 405, statusBody(405, 'MethodNotAllowed', `${req.method} is not supported`));
  }

  #watch(res: http.ServerResponse, r: Route, since: number): void {
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    res.flushHeaders();
    if (since < this.compactedRv) {
      res.end(JSON.stringify({ type: 'ERROR', object: statusBody(410, 'Expired', `too old resource version: ${since} (${this.compactedRv})`) }) + '\n');
      return;
    }
    for (const h of this.#history) if (h.rv > since && h.resource === r.resource && (!r.ns || h.ns === r.ns)) res.write(JSON.stringify({ type: h.type, object: h.obj }) + '\n');
    const w: Watcher = { res, resource: r.resource, ns: r.ns };
    this.#watchers.add(w);
    res.on('close', () => this.#watchers.delete(w));
  }
}
