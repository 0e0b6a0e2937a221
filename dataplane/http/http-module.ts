/**
 * ngx_http_module: the `http {}` block. It creates every HTTP module's confs, reads the block, merges
 * server and location confs downwards, indexes locations, resolves variables, runs postconfiguration, builds
 * the phase engine and filter chains, and turns `listen`s into the cycle's listening addresses.
 */
import type { ConfCtx } from '../core/conf.ts';
import { type ConnectionHandler, cycleOf } from '../core/cycle.ts';
import { ARGS, CTX, defineModule } from '../core/module.ts';
import type { CoreLocConf, CoreMainConf, CoreSrvConf } from './core-conf.ts';
import { httpCoreModule } from './core-module.ts';
import { headLimitsOf, Http1Connection } from './connection.ts';
import { addrKey, type ListenOpt } from './listen.ts';
import { sslConnectionHandler } from './ssl-connection.ts';
import { h2cConnectionHandler } from './v2/connection.ts';
import { proxyProtocolHandler } from './proxy-protocol.ts';
import { httpV2Module, v2Conf } from './v2/module.ts';
import type { HttpAddrConf, HttpListenCtx } from './listen-ctx.ts';
import { LocationTree } from './locations.ts';
import { HttpRuntime } from './runtime.ts';
import { ServerNames } from './servers.ts';
import type { HttpLevel, HttpModule, PhaseHandler } from './types.ts';
import { expandRuntime, resolveVariables } from './variables.ts';

/** HttpBlockConf is what the core level keeps of the http block: its level and its runtime. */
export interface HttpBlockConf {
  level?: HttpLevel;
  runtime?: HttpRuntime;
}

/** httpMainConf returns the http block's core main conf during configuration (for `set`, `map` …). */
export function httpMainConf(cf: ConfCtx): CoreMainConf {
  return cf.level.main[cf.index(httpCoreModule)] as CoreMainConf;
}

export const httpModule = defineModule<HttpBlockConf>({
  name: 'ngx_http_module',
  type: 'core',
  configureArg: '--with-http',
  directives: [{ name: 'http', contexts: CTX.MAIN, args: ARGS.BLOCK | ARGS.NOARGS, set: httpBlock }],
  createConf: () => ({}),
});

function httpBlock(cf: ConfCtx, d: import('../core/tree.ts').ConfDirective, conf: HttpBlockConf): string | void {
  if (conf.level) return 'is duplicate';
  const mods = cf.registry.ofType('http') as HttpModule[];
  const core = cf.index(httpCoreModule);
  const level: HttpLevel = { main: [], srv: [], loc: [] };
  for (const m of mods) {
    const i = cf.index(m);
    level.main[i] = m.createMainConf?.(cf);
    level.srv[i] = m.createSrvConf?.(cf);
    level.loc[i] = m.createLocConf?.(cf);
  }
  const cmcf = level.main[core] as CoreMainConf;
  (level.loc[core] as CoreLocConf).confs = level.loc;
  for (const m of mods) {
    for (const v of m.variables ?? []) {
      if (v.prefix) cmcf.prefixVariables.push(v);
      else cmcf.variables.set(v.name, v);
    }
  }
  for (const m of mods) m.preconfiguration?.(cf);

  cf.parse(d.block!, CTX.HTTP_MAIN, level);
  // Merge, postconfiguration and handler factories see the http level, as nginx's cf->ctx does.
  const saved = { level: cf.level, ctx: cf.ctx };
  cf.level = level;
  cf.ctx = CTX.HTTP_MAIN;
  cf.directive = d;
  try {
    finishHttpBlock(cf, d, conf, level, mods, cmcf, core);
  } finally {
    cf.level = saved.level;
    cf.ctx = saved.ctx;
  }
}

function finishHttpBlock(
  cf: ConfCtx,
  d: import('../core/tree.ts').ConfDirective,
  conf: HttpBlockConf,
  level: HttpLevel,
  mods: HttpModule[],
  cmcf: CoreMainConf,
  core: number,
): void {
  void d;

  for (const m of mods) m.initMainConf?.(cf, level.main[cf.index(m)]);
  for (const cscf of cmcf.servers) {
    for (const m of mods) {
      const i = cf.index(m);
      if (m.mergeSrvConf) m.mergeSrvConf(cf, level.srv[i], cscf.level.srv[i]);
      if (m.mergeLocConf) m.mergeLocConf(cf, level.loc[i], cscf.level.loc[i]);
    }
    mergeLocations(cf, mods, cscf.loc);
    buildTrees(cf, cscf.loc);
  }
  resolveVariables(cf, cmcf);

  const cycle = cycleOf(cf);
  const runtime = new HttpRuntime(cycle, cmcf, core);
  // Phase factories and postconfiguration see the http block's confs, as nginx's cf->ctx.
  const outer = cf.level;
  cf.level = level;
  for (const m of mods) {
    for (const p of m.phases ?? []) {
      const h = p.handler(cf);
      if (h) (cmcf.phases[p.phase] ??= []).push(h);
    }
  }
  for (const m of mods) m.postconfiguration?.(cf);
  cf.level = outer;
  runtime.buildPhaseEngine(cmcf.phases as PhaseHandler[][]);
  // The first listed module is closest to the wire: wrap from the first to the last.
  for (const m of mods) {
    if (m.headerFilter) runtime.headerFilter = m.headerFilter(runtime.headerFilter, cf);
    if (m.bodyFilter) runtime.bodyFilter = m.bodyFilter(runtime.bodyFilter, cf);
  }
  runtime.expandText = (r, text) => expandRuntime(cmcf, r, text);
  addListening(cf, cmcf, runtime);
  conf.level = level;
  conf.runtime = runtime;
}

function mergeLocations(cf: ConfCtx, mods: HttpModule[], parent: CoreLocConf): void {
  for (const child of parent.children) {
    for (const m of mods) {
      const i = cf.index(m);
      if (m.mergeLocConf) m.mergeLocConf(cf, parent.confs[i], child.confs[i]);
    }
    mergeLocations(cf, mods, child);
  }
}

function buildTrees(cf: ConfCtx, loc: CoreLocConf): void {
  if (loc.children.length === 0) return;
  const tree = LocationTree.build(loc.children);
  if (typeof tree === 'string') {
    const dup = loc.children.find((c) => c.name === tree)!;
    cf.error(`duplicate location "${tree}"`, { name: 'location', args: [], file: dup.file, line: dup.line });
  }
  loc.tree = tree;
  for (const c of loc.children) buildTrees(cf, c);
}

interface AddrGroup {
  opt: ListenOpt & { file?: string; line?: number };
  servers: CoreSrvConf[];
  defaultServer?: CoreSrvConf;
}

function addListening(cf: ConfCtx, cmcf: CoreMainConf, runtime: HttpRuntime): void {
  const cycle = cycleOf(cf);
  const groups = new Map<string, AddrGroup>();
  const defaultPort = process.getuid?.() === 0 ? 80 : 8000;
  for (const cscf of cmcf.servers) {
    const listens = cscf.listens.length
      ? cscf.listens
      : [{ host: '0.0.0.0', port: defaultPort, family: 4, wildcard: true, defaultServer: false, ssl: false, http2: false, proxyProtocol: false, bind: false, ipv6only: true, hasSocketOptions: false } as ListenOpt];
    for (const l of listens as (ListenOpt & { file?: string; line?: number })[]) {
      const key = addrKey(l.host, l.port, l.unixPath);
      let g = groups.get(key);
      if (!g) groups.set(key, (g = { opt: l, servers: [] }));
      else {
        if (l.hasSocketOptions && g.opt.hasSocketOptions) cf.error(`duplicate listen options for ${key}`, { name: 'listen', args: [], file: l.file, line: l.line });
        if (l.hasSocketOptions) g.opt = { ...l, defaultServer: g.opt.defaultServer };
        g.opt.ssl ||= l.ssl;
        g.opt.http2 ||= l.http2;
        g.opt.proxyProtocol ||= l.proxyProtocol;
      }
      if (!g.servers.includes(cscf)) g.servers.push(cscf);
      if (l.defaultServer) {
        if (g.defaultServer) cf.error(`a duplicate default server for ${key}`, { name: 'listen', args: [], file: l.file, line: l.line });
        g.defaultServer = cscf;
      }
    }
  }
  const addrConf = (g: AddrGroup): HttpAddrConf => {
    const def = g.defaultServer ?? g.servers[0]!;
    const names = new ServerNames(g.servers, def);
    for (const n of names.conflicts) cf.warn(`conflicting server name "${n}" on ${addrKey(g.opt.host, g.opt.port, g.opt.unixPath)}, ignored`);
    return { names, defaultSrv: def, runtime, limits: headLimitsOf(def), ssl: g.opt.ssl, http2: g.opt.http2, proxyProtocol: g.opt.proxyProtocol };
  };
  // Specific addresses on a port that also has a wildcard listen ride on the wildcard socket unless `bind`.
  const wildcardPorts = new Map<string, AddrGroup>();
  for (const g of groups.values()) if (g.opt.wildcard) wildcardPorts.set(`${g.opt.family}:${g.opt.port}`, g);
  const sockets = new Map<string, HttpListenCtx & { group: AddrGroup }>();
  for (const [key, g] of groups) {
    const wild = wildcardPorts.get(`${g.opt.family}:${g.opt.port}`);
    if (!g.opt.wildcard && wild && !g.opt.bind) {
      const wkey = addrKey(wild.opt.host, wild.opt.port);
      let ctx = sockets.get(wkey);
      if (!ctx) sockets.set(wkey, (ctx = { fallback: addrConf(wild), group: wild }));
      (ctx.byAddr ??= new Map()).set(g.opt.host, addrConf(g));
      continue;
    }
    if (!sockets.has(key)) sockets.set(key, { fallback: addrConf(g), group: g });
  }
  for (const [key, ctx] of sockets) {
    const o = ctx.group.opt;
    cycle.addListening({
      key,
      host: o.host,
      port: o.port,
      unixPath: o.unixPath,
      backlog: o.backlog ?? 511,
      ipv6only: o.ipv6only,
      owner: 'http',
      ctx: { byAddr: ctx.byAddr, fallback: ctx.fallback } satisfies HttpListenCtx,
      handler: withProxyProtocol(o.proxyProtocol, o.ssl ? sslConnectionHandler : h2c(cf, ctx.group) ? h2cConnectionHandler : http1Handler),
    });
  }
}

/** withProxyProtocol reads the PROXY header before the address's own handler sees the connection. */
function withProxyProtocol(on: boolean, handler: ConnectionHandler): ConnectionHandler {
  return on ? proxyProtocolHandler(handler) : handler;
}

function http1Handler(socket: import('node:net').Socket, slot: import('../core/cycle.ts').ListenSlot): void {
  new Http1Connection(socket, slot);
}

/** h2c says whether a cleartext address may see HTTP/2 with prior knowledge (so its first bytes are peeked). */
function h2c(cf: ConfCtx, g: AddrGroup): boolean {
  const idx = cf.index(httpV2Module);
  return g.opt.http2 || g.servers.some((s) => v2Conf(s, idx).enable);
}
