/**
 * ngx_http_upstream_module's configuration side: the `upstream name {}` block, its `server` lines (`resolve`
 * ones are re-resolved at run time by resolve.ts), keep-alive settings, `zone`, `resolver`, and the directives
 * that choose a balancer (`least_conn`, `ip_hash`, `hash`, `random`, `ewma`). Groups are kept in the http
 * block's main conf; proxy-like modules look them up by name (at configuration time for `proxy_pass
 * http://name`, per request for `proxy_pass http://$var`). Peer lists can be replaced at run time with
 * applyUpstreamPeers (see docs/upstream.md).
 */
import type { ConfCtx } from '../core/conf.ts';
import { cycleOf, type Cycle } from '../core/cycle.ts';
import { ARGS, CTX } from '../core/module.ts';
import type { ConfDirective, ConfTree } from '../core/tree.ts';
import { ConfError } from '../core/errors.ts';
import { msecSlot } from '../core/slots.ts';
import { parseNumber, parseSize, parseTime } from '../core/values.ts';
import { parseResolver, type ResolverSpec } from '../event/resolver.ts';
import type { CoreLocConf } from '../http/core-conf.ts';
import { httpCoreModule } from '../http/core-module.ts';
import { httpModule, type HttpBlockConf } from '../http/http-module.ts';
import type { HttpRequest } from '../http/request.ts';
import { defineHttpModule, type HttpLevel } from '../http/types.ts';
import { compileTemplate, evaluate, type Template } from '../http/variables.ts';
import { ewma } from './balancers/ewma.ts';
import { hashConsistent, hashKey, ipHash } from './balancers/hash.ts';
import { leastConn } from './balancers/least-conn.ts';
import { random, randomTwo } from './balancers/random.ts';
import { roundRobin } from './balancers/round-robin.ts';
import { UpstreamGroup, type BalancerKind, type Sticky } from './group.ts';
import { parseAddress, parseServer, PeerStateTable, type PeerSpec } from './peer.ts';
import { startResolving, type ResolvePlan } from './resolve.ts';
import { staticPeers } from './static-names.ts';
import { UPSTREAM_VARIABLES } from './state.ts';

/** UpstreamMainConf holds the http block's upstream groups by name. */
export interface UpstreamMainConf {
  groups: Map<string, UpstreamGroup>;
}

/** UpstreamSrvConf is what directives inside one `upstream {}` block fill before the group is built. */
interface UpstreamSrvConf {
  name: string;
  specs: PeerSpec[];
  kind?: BalancerKind;
  key?: Template;
  zone?: { name: string; size: number };
  keepalive?: number;
  keepaliveTimeout?: number;
  keepaliveRequests?: number;
  keepaliveTime?: number;
  sticky?: Sticky;
  resolver?: ResolverSpec;
  resolverTimeout?: number;
}

const UPS = CTX.HTTP_UPS;
/** Zone slots for upstreams without `zone`: room for peer replacements to grow the list. */
const DEFAULT_ZONE_PEERS = 256;

function setKind(kind: BalancerKind) {
  return (_cf: ConfCtx, _d: ConfDirective, u: UpstreamSrvConf): string | void => {
    if (u.kind) return 'is duplicate';
    u.kind = kind;
  };
}

function upstreamBlock(cf: ConfCtx, d: ConfDirective, umcf: UpstreamMainConf): string | void {
  const name = d.args[0]!;
  const prev = umcf.groups.get(name);
  if (prev?.defined) cf.error(`duplicate upstream "${name}"`);
  const u: UpstreamSrvConf = { name, specs: [] };
  const idx = cf.index(httpUpstreamModule);
  const parent = cf.level as HttpLevel;
  const level: HttpLevel = { main: parent.main, srv: [], loc: [] };
  level.srv[idx] = u;
  cf.parse(d.block!, UPS, level);
  cf.directive = d;
  if (u.specs.length === 0) cf.error(`no servers are inside upstream`);
  const kind = u.kind ?? roundRobin;
  if (u.specs.some((s) => s.backup) && kind !== roundRobin && kind !== leastConn) {
    cf.error(`invalid parameter "backup"`);
  }
  const zoneName = u.zone?.name ?? `upstream:${name}`;
  const size = u.zone?.size ?? PeerStateTable.zoneSize(DEFAULT_ZONE_PEERS);
  let buffer: SharedArrayBuffer;
  try {
    buffer = cf.zones.get(zoneName, size, 'upstream');
  } catch (err) {
    cf.error((err as Error).message);
  }
  const g = prev ?? new UpstreamGroup(name, new PeerStateTable(buffer));
  if (prev) (g as { table: PeerStateTable }).table = new PeerStateTable(buffer);
  g.kind = kind;
  if (u.key) g.data.set('key', u.key);
  g.sticky = u.sticky;
  g.keepalive = u.keepalive ?? 0;
  g.keepaliveTimeout = u.keepaliveTimeout ?? 60_000;
  g.keepaliveRequests = u.keepaliveRequests ?? 1000;
  g.keepaliveTime = u.keepaliveTime ?? 3_600_000;
  g.file = d.file;
  g.line = d.line;
  const named = u.specs.filter((sp) => sp.resolve);
  if (named.length && !u.zone) {
    throw new ConfError(`resolving names at run time requires upstream "${name}" in ${d.file}:${d.line} to be in shared memory`);
  }
  // Completed in postconfiguration, when the http block's own `resolver` (which may come later) is known.
  if (named.length) g.data.set('resolve', { fixed: u.specs.filter((sp) => !sp.resolve), named, resolver: u.resolver, timeout: u.resolverTimeout, main: parent });
  else g.data.delete('resolve');
  g.setPeers(named.length ? u.specs.filter((sp) => !sp.resolve) : u.specs);
  g.defined = true;
  umcf.groups.set(name, g);
}

/** upstreamMainConf returns the http block's upstream registry during configuration. */
export function upstreamMainConf(cf: ConfCtx): UpstreamMainConf {
  // Hooks such as merge and postconfiguration run outside the http level, so the pass keeps it in scratch.
  return cf.scratch.get(httpUpstreamModule) as UpstreamMainConf;
}

/**
 * referenceUpstream returns the group `name` for `proxy_pass http://name`: a defined (or later defined)
 * `upstream`, else an implicit one-peer group for an address (nginx's implicit upstream).
 */
export function referenceUpstream(cf: ConfCtx, name: string, defaultPort: number): UpstreamGroup {
  const umcf = upstreamMainConf(cf);
  const g = umcf.groups.get(name);
  if (g) return g;
  const hasPort = /:\d+$/.test(name) || name.startsWith('unix:');
  const a = parseAddress(name, defaultPort);
  if (!a) cf.error(`invalid host in upstream "${name}"`);
  if (!hasPort) {
    // Could still be an upstream defined later in the file: resolved in postconfiguration.
    const pending = new UpstreamGroup(name, new PeerStateTable(new ArrayBuffer(64 * 64)));
    (pending as { pendingPort?: number }).pendingPort = defaultPort;
    // Where a name that turns out to be a host that was not found is reported.
    pending.file = cf.directive?.file;
    pending.line = cf.directive?.line;
    umcf.groups.set(name, pending);
    return pending;
  }
  return implicitGroup(cf, umcf, a!.name, { ...a!, socketPath: a!.socketPath });
}

function implicitGroup(cf: ConfCtx, umcf: UpstreamMainConf, key: string, a: { host: string; port: number; socketPath?: string; name: string }, at?: UpstreamGroup): UpstreamGroup {
  const found = umcf.groups.get(key);
  if (found) return found;
  // One peer per address of a host name, as for `server` lines (static-names.ts).
  const specs = staticPeers(addressPeer(a), cycleOf(cf).hosts);
  if (!specs) throw new ConfError(`host not found in upstream "${a.host}"`, at?.file ?? cf.directive?.file, at?.line ?? cf.directive?.line);
  const buffer = cf.zones.get(`upstream:${key}`, PeerStateTable.zoneSize(specs.length), 'upstream');
  const g = new UpstreamGroup(key, new PeerStateTable(buffer), true);
  g.kind = roundRobin;
  g.setPeers(specs);
  g.defined = true;
  umcf.groups.set(key, g);
  return g;
}

/** addressPeer is the peer of an implicit group: one address with `server`'s defaults. */
function addressPeer(a: { host: string; port: number; socketPath?: string; name: string }): PeerSpec {
  return { name: a.name, host: a.host, port: a.port, socketPath: a.socketPath, weight: 1, maxFails: 1, failTimeout: 10_000, maxConns: 0, backup: false, down: false };
}

/** Implicit groups made at run time for `proxy_pass http://$var` values that name no upstream (per worker). */
const RUNTIME_MAX = 1024;

/** runtimeGroup returns a one-peer group for an address met at run time; undefined when it is not an address. */
export function runtimeGroup(umcf: UpstreamMainConf, hostPart: string, defaultPort: number): UpstreamGroup | undefined {
  const runtime = ((umcf as { runtime?: Map<string, UpstreamGroup> }).runtime ??= new Map());
  const found = runtime.get(hostPart);
  if (found) return found;
  const a = parseAddress(hostPart, defaultPort);
  if (!a) return undefined;
  const g = new UpstreamGroup(a.name, new PeerStateTable(new ArrayBuffer(PeerStateTable.zoneSize(1))), true);
  g.kind = roundRobin;
  g.setPeers([addressPeer(a)]);
  g.defined = true;
  if (runtime.size >= RUNTIME_MAX) runtime.clear();
  runtime.set(hostPart, g);
  return g;
}

/**
 * resolvedGroup returns the run-time group for `host:port` whose name the resolver answered with `addrs`: one
 * peer per address (so proxy_next_upstream moves across them and round robin rotates them). The group is kept
 * while the answer is the same array (a cache hit) or lists the same addresses; otherwise its peers are replaced.
 */
export function resolvedGroup(umcf: UpstreamMainConf, hostPart: string, port: number, addrs: string[]): UpstreamGroup {
  const runtime = ((umcf as { runtime?: Map<string, UpstreamGroup> }).runtime ??= new Map());
  let g = runtime.get(hostPart);
  const prev = g?.data.get('addrs') as string[] | undefined;
  if (g && prev === addrs) return g;
  if (g && prev && prev.length === addrs.length && prev.every((a, i) => a === addrs[i])) {
    g.data.set('addrs', addrs);
    return g;
  }
  if (!g) {
    // At least 64 slots; once replaced addresses have used them all, new peers keep their state locally.
    g = new UpstreamGroup(hostPart, new PeerStateTable(new ArrayBuffer(PeerStateTable.zoneSize(addrs.length))), true);
    g.kind = roundRobin;
    g.defined = true;
    if (runtime.size >= RUNTIME_MAX) runtime.clear();
    runtime.set(hostPart, g);
  }
  g.data.set('addrs', addrs);
  g.setPeers(addrs.map((host) => addressPeer({ host, port, name: host.includes(':') ? `[${host}]:${port}` : `${host}:${port}` })));
  return g;
}

/** stickyCookie returns the Set-Cookie value that pins a client to `peerIdValue`. */
export function stickyCookie(st: Sticky, peerIdValue: string): string {
  let c = `${st.cookie}=${peerIdValue}; Path=${st.path}`;
  if (st.maxAge !== undefined) c += `; Max-Age=${st.maxAge}`;
  if (st.sameSite) c += `; SameSite=${st.sameSite}`;
  return c;
}

/** choiceKey is the per-request key a group's balancer hashes (client address for ip_hash, `hash` key). */
export function choiceKey(r: HttpRequest, g: UpstreamGroup): string {
  const k = g.kind;
  if (k === ipHash) return r.conn.remoteAddress;
  if (k === hashKey || k === hashConsistent) return evaluate(r, g.data.get('key') as Template);
  return '';
}

/** findUpstreams returns the upstream registry of a cycle's http block (for run-time lookups and peer pushes). */
export function cycleUpstreams(cycle: Cycle): UpstreamMainConf | undefined {
  const http = cycle.conf(httpModule) as HttpBlockConf | undefined;
  const level = http?.level;
  if (!level) return undefined;
  return level.main[cycle.registry.index(httpUpstreamModule)] as UpstreamMainConf;
}

/**
 * applyUpstreamPeers replaces the `server` lines of upstream `name` in a running cycle (no reload). Peers
 * whose address is unchanged keep their shared state and idle connections. Throws with a clear message when
 * the upstream is unknown or a line is invalid; the group is then left as it was.
 */
export function applyUpstreamPeers(cycle: Cycle, name: string, servers: ConfDirective[]): void {
  const g = cycleUpstreams(cycle)?.groups.get(name);
  if (!g || g.implicit) throw new Error(`upstream "${name}" not found`);
  g.replacePeers(servers, cycle.hosts);
}

/** UpstreamPeers maps upstream names to the full list of their `server` directives. */
export type UpstreamPeers = Record<string, ConfDirective[]>;

/**
 * replaceCyclePeers replaces the peers of several upstreams of a running cycle at once. Every line is checked
 * first, so on an error (thrown, in nginx's words, naming the upstream) no group has changed. With `check`
 * set nothing is applied: the master validates against its own cycle this way before telling the workers.
 * Host names in the lines take their addresses from `hosts` (the master looks them up for each push).
 */
export function replaceCyclePeers(cycle: Cycle, peers: UpstreamPeers, check = false, hosts = cycle.hosts): void {
  const groups = cycleUpstreams(cycle)?.groups;
  const plan: [UpstreamGroup, PeerSpec[]][] = [];
  for (const [name, lines] of Object.entries(peers)) {
    const g = groups?.get(name);
    if (!g || g.implicit) throw new Error(`upstream "${name}" not found`);
    try {
      plan.push([g, g.checkPeers(lines, hosts)]);
    } catch (err) {
      const msg = (err as Error).message;
      // Where nginx would add " in file:line", name the upstream (unless the message already names one).
      throw new Error(msg.includes('upstream "') ? msg : `${msg} in upstream "${name}"`);
    }
  }
  if (!check) for (const [g, specs] of plan) g.setPeers(specs);
}

/**
 * substitutePeers returns `tree` with the `server` lines of the named upstreams replaced (the new lines take
 * the place of the first old one), and the upstreams whose lines really differ. Throws `upstream "x" not
 * found` for a name that no `upstream` block of the http block has.
 */
export function substitutePeers(tree: ConfTree, peers: UpstreamPeers): { tree: ConfTree; changed: UpstreamPeers } {
  const changed: UpstreamPeers = {};
  const found = new Set<string>();
  const out = tree.map((top) => {
    if (top.name !== 'http' || !top.block) return top;
    return {
      ...top,
      block: top.block.map((u) => {
        const lines = u.name === 'upstream' && u.block ? peers[u.args[0]!] : undefined;
        if (!lines) return u;
        found.add(u.args[0]!);
        const old = u.block!.filter((x) => x.name === 'server');
        if (!samePeers(old, lines)) changed[u.args[0]!] = lines;
        const at = u.block!.findIndex((x) => x.name === 'server');
        const rest = u.block!.filter((x) => x.name !== 'server');
        return { ...u, block: [...rest.slice(0, at < 0 ? rest.length : at), ...lines, ...rest.slice(at < 0 ? rest.length : at)] };
      }),
    };
  });
  for (const name of Object.keys(peers)) if (!found.has(name)) throw new Error(`upstream "${name}" not found`);
  return { tree: out, changed };
}

function samePeers(a: ConfDirective[], b: ConfDirective[]): boolean {
  return a.length === b.length && a.every((x, i) => x.name === b[i]!.name && x.args.length === b[i]!.args.length && x.args.every((v, j) => v === b[i]!.args[j]));
}

/** UpstreamPeersMessage is the worker message that replaces an upstream's peers (see docs/upstream.md). */
export interface UpstreamPeersMessage {
  type: 'upstream-peers';
  upstream: string;
  /** The full list of `server` directives (ConfDirective form, as in the config tree). */
  peers: ConfDirective[];
}

/** handleUpstreamMessage applies an UpstreamPeersMessage to a cycle; errors come back as text, never thrown. */
export function handleUpstreamMessage(cycle: Cycle, msg: UpstreamPeersMessage): { ok: boolean; error?: string } {
  try {
    applyUpstreamPeers(cycle, msg.upstream, msg.peers);
    return { ok: true };
  } catch (err) {
    return { ok: false, error: (err as Error).message };
  }
}

function sizeArg(cf: ConfCtx, v: string): number {
  const n = parseSize(v);
  if (n === undefined) cf.error(`invalid zone size "${v}"`);
  return n!;
}

export const httpUpstreamModule = defineHttpModule<UpstreamMainConf, UpstreamSrvConf>({
  name: 'ngx_http_upstream_module',
  type: 'http',
  directives: [
    { name: 'upstream', contexts: CTX.HTTP_MAIN, args: ARGS.BLOCK | ARGS.TAKE1, conf: 'main', set: upstreamBlock },
    {
      name: 'server',
      contexts: UPS,
      args: ARGS.ONEMORE,
      conf: 'srv',
      set(cf, d, u: UpstreamSrvConf) {
        const specs = staticPeers(parseServer(cf, d), cycleOf(cf).hosts);
        if (!specs) cf.error(`host not found in upstream "${d.args[0]}"`);
        u.specs.push(...specs!);
      },
    },
    {
      name: 'zone',
      contexts: UPS,
      args: ARGS.TAKE12,
      conf: 'srv',
      set(cf, d, u: UpstreamSrvConf) {
        if (u.zone) return 'is duplicate';
        u.zone = { name: d.args[0]!, size: d.args[1] ? sizeArg(cf, d.args[1]) : PeerStateTable.zoneSize(DEFAULT_ZONE_PEERS) };
        if (u.zone.size < 8 * 4096) cf.error(`zone "${d.args[0]}" is too small`);
      },
    },
    {
      name: 'keepalive',
      contexts: UPS,
      args: ARGS.TAKE1,
      conf: 'srv',
      set(cf, d, u: UpstreamSrvConf) {
        if (u.keepalive !== undefined) return 'is duplicate';
        const n = parseNumber(d.args[0]!);
        if (!n) cf.error(`invalid value "${d.args[0]}" in "${d.name}" directive`);
        u.keepalive = n!;
      },
    },
    { name: 'keepalive_timeout', contexts: UPS, args: ARGS.TAKE1, conf: 'srv', set: timeField('keepaliveTimeout') },
    { name: 'keepalive_time', contexts: UPS, args: ARGS.TAKE1, conf: 'srv', set: timeField('keepaliveTime') },
    {
      name: 'keepalive_requests',
      contexts: UPS,
      args: ARGS.TAKE1,
      conf: 'srv',
      set(cf, d, u: UpstreamSrvConf) {
        if (u.keepaliveRequests !== undefined) return 'is duplicate';
        const n = parseNumber(d.args[0]!);
        if (n === undefined) return 'invalid number';
        u.keepaliveRequests = n;
      },
    },
    {
      name: 'sticky',
      contexts: UPS,
      args: ARGS.ONEMORE,
      conf: 'srv',
      set(cf, d, u: UpstreamSrvConf) {
        if (u.sticky) return 'is duplicate';
        if (d.args[0] !== 'cookie' || !d.args[1]) cf.error(`invalid parameter "${d.args[0]}"`);
        const st: Sticky = { cookie: d.args[1]!, path: '/', maxAge: undefined, sameSite: undefined };
        for (const a of d.args.slice(2)) {
          const [k, v] = a.split('=', 2) as [string, string | undefined];
          if (k === 'path' && v) st.path = v;
          else if (k === 'expires' && v) {
            const t = v === 'max' ? 315_360_000_000 : parseTime(v, 's');
            if (t === undefined) cf.error(`invalid parameter "${a}"`);
            st.maxAge = Math.floor(t! / 1000);
          } else if (k === 'samesite' && v && /^(strict|lax|none)$/i.test(v)) st.sameSite = v[0]!.toUpperCase() + v.slice(1).toLowerCase();
          else if (k === 'domain' || k === 'httponly' || k === 'secure') continue;
          else cf.error(`invalid parameter "${a}"`);
        }
        u.sticky = st;
      },
    },
    { name: 'least_conn', contexts: UPS, args: ARGS.NOARGS, conf: 'srv', set: setKind(leastConn) },
    { name: 'ip_hash', contexts: UPS, args: ARGS.NOARGS, conf: 'srv', set: setKind(ipHash) },
    { name: 'ewma', contexts: UPS, args: ARGS.NOARGS, conf: 'srv', set: setKind(ewma) },
    {
      name: 'hash',
      contexts: UPS,
      args: ARGS.TAKE12,
      conf: 'srv',
      set(cf, d, u: UpstreamSrvConf) {
        if (u.kind) return 'is duplicate';
        if (d.args[1] !== undefined && d.args[1] !== 'consistent') cf.error(`invalid parameter "${d.args[1]}"`);
        u.kind = d.args[1] ? hashConsistent : hashKey;
        u.key = compileTemplate(cf, d.args[0]!);
      },
    },
    {
      name: 'resolver',
      contexts: UPS,
      args: ARGS.ONEMORE,
      conf: 'srv',
      set(cf, d, u: UpstreamSrvConf) {
        if (u.resolver) return 'is duplicate';
        u.resolver = parseResolver(cf, d.args);
      },
    },
    { name: 'resolver_timeout', contexts: UPS, args: ARGS.TAKE1, conf: 'srv', set: msecSlot('resolverTimeout') },
    {
      name: 'random',
      contexts: UPS,
      args: ARGS.NOARGS | ARGS.TAKE12,
      conf: 'srv',
      set(cf, d, u: UpstreamSrvConf) {
        if (u.kind) return 'is duplicate';
        if (d.args[0] !== undefined && d.args[0] !== 'two') cf.error(`invalid parameter "${d.args[0]}"`);
        if (d.args[1] !== undefined && d.args[1] !== 'least_conn') cf.error(`invalid parameter "${d.args[1]}"`);
        u.kind = d.args[0] === 'two' ? randomTwo : random;
      },
    },
  ],
  createMainConf(cf) {
    const umcf: UpstreamMainConf = { groups: new Map() };
    cf.scratch.set(httpUpstreamModule, umcf);
    return umcf;
  },
  variables: UPSTREAM_VARIABLES,
  initWorker(cycle) {
    for (const g of cycleUpstreams(cycle)?.groups.values() ?? []) {
      const plan = g.data.get('resolve') as ResolvePlan | undefined;
      if (plan) g.data.set('resolving', startResolving(g, plan, () => cycle.log));
    }
  },
  exitWorker(cycle) {
    for (const g of cycleUpstreams(cycle)?.groups.values() ?? []) (g.data.get('resolving') as (() => void) | undefined)?.();
  },
  postconfiguration(cf) {
    // `proxy_pass http://name` may come before `upstream name {}`; names never defined become host:80 peers.
    const umcf = upstreamMainConf(cf);
    for (const g of umcf.groups.values()) completeResolvePlan(cf, g);
    for (const [name, g] of umcf.groups) {
      const port = (g as { pendingPort?: number }).pendingPort;
      if (port === undefined || g.defined) continue;
      const a = parseAddress(name, port)!;
      const real = implicitGroup(cf, { groups: new Map() }, a.name, a, g);
      (g as { table: PeerStateTable }).table = real.table;
      g.kind = roundRobin;
      g.setPeers(real.peers.map((p) => ({ ...p })));
      (g as { implicit: boolean }).implicit = true;
      g.defined = true;
    }
  },
});

/** completeResolvePlan gives `resolve` servers the upstream's resolver, else the http block's (as nginx merges). */
function completeResolvePlan(cf: ConfCtx, g: UpstreamGroup): void {
  const plan = g.data.get('resolve') as (Partial<ResolvePlan> & { main: HttpLevel }) | undefined;
  if (!plan) return;
  const clcf = plan.main.loc[cf.index(httpCoreModule)] as CoreLocConf;
  plan.resolver ??= clcf.resolver;
  plan.timeout ??= clcf.resolverTimeout ?? 30_000;
  if (!plan.resolver) throw new ConfError(`no resolver defined to resolve names at run time in upstream "${g.name}" in ${g.file}:${g.line}`);
}

function timeField(field: 'keepaliveTimeout' | 'keepaliveTime') {
  return (cf: ConfCtx, d: ConfDirective, u: UpstreamSrvConf): string | void => {
    if (u[field] !== undefined) return 'is duplicate';
    const t = parseTime(d.args[0]!, 's');
    if (t === undefined) return 'invalid value';
    u[field] = t;
  };
}
