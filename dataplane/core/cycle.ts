/**
 * A cycle is one configuration made live (nginx's ngx_cycle_t): the tree it came from, every module's
 * configuration, the listening sockets it wants and the shared zones it uses. A reload builds a new cycle
 * beside the old one; only a cycle that built completely is swapped in.
 */
import path from 'node:path';
import { ConfCtx, type Diagnostic } from './conf.ts';
import { ConfError } from './errors.ts';
import { CTX, type Module } from './module.ts';
import type { Registry } from './registry.ts';
import type { Runtime } from './runtime.ts';
import type { ConfTree } from './tree.ts';
import type { ErrorLog } from './log.ts';
import { ZonePool } from './zones.ts';

/**
 * ConnectionHandler receives each accepted connection for a listening address; its owner is a protocol.
 * `slot.current` is the address's Listening in the newest cycle: long-lived connections read it again when
 * they start new work (the next request on a keep-alive connection), which is how a reload reaches them.
 */
export type ConnectionHandler = (socket: import('node:net').Socket, slot: ListenSlot) => void;

/** ListenSlot is a worker's stable handle on one address across reloads. */
export interface ListenSlot {
  readonly current: Listening;
  /** True once the worker is shutting down gracefully: finish what is in flight, keep nothing alive. */
  readonly draining: boolean;
}

/** Listening is one address a cycle listens on (nginx's ngx_listening_t). */
export interface Listening {
  /** "127.0.0.1:8080", "[::1]:8080", "*:80" or "unix:/path". */
  key: string;
  host: string;
  port: number;
  unixPath?: string;
  backlog: number;
  ipv6only: boolean;
  /** Which protocol block declared it ("http", "mail"), to refuse two protocols on one socket. */
  owner: string;
  handler: ConnectionHandler;
  /** Protocol data for this address in this cycle (HTTP: the servers and runtime). */
  ctx?: unknown;
}

/**
 * HostTable holds what the system resolver answered, before the pass, for the host names a configuration
 * uses (name → addresses in getaddrinfo's order, [] when not found); the pass itself cannot wait for lookups.
 */
export type HostTable = Record<string, string[]>;

export interface CycleInit {
  tree: ConfTree;
  registry: Registry;
  prefix: string;
  /** The main config file; includes resolve against its folder. */
  confFile: string;
  zones?: ZonePool;
  /** Looked-up host names; without it names stay names (looked up when connecting). */
  hosts?: HostTable;
}

export class Cycle {
  readonly tree: ConfTree;
  readonly registry: Registry;
  readonly prefix: string;
  readonly confFile: string;
  readonly confPrefix: string;
  readonly zones: ZonePool;
  readonly hosts: HostTable | undefined;
  /** Confs of core-level modules (and block holders such as http, mail, events), by module index. */
  readonly confs: unknown[] = [];
  readonly listening: Listening[] = [];
  diagnostics: Diagnostic[] = [];
  /** The worker this cycle serves in; set before modules' initWorker, unset in a cycle built only to validate. */
  runtime: Runtime | undefined;

  /** The error log of the worker serving this cycle (undefined while only validating). */
  get log(): ErrorLog | undefined {
    return this.runtime?.log;
  }

  constructor(init: CycleInit) {
    this.tree = init.tree;
    this.registry = init.registry;
    this.prefix = init.prefix;
    this.confFile = init.confFile;
    this.confPrefix = path.dirname(init.confFile);
    this.zones = init.zones ?? new ZonePool();
    this.hosts = init.hosts;
  }

  conf<M>(m: Module<M>): M {
    return this.confs[this.registry.index(m)] as M;
  }

  /** addListening registers an address; one address cannot serve two protocols. */
  addListening(l: Listening): Listening {
    const cur = this.listening.find((x) => x.key === l.key);
    if (cur) {
      if (cur.owner !== l.owner) throw new ConfError(`duplicate listen ${l.key} in "${cur.owner}" and "${l.owner}"`);
      return cur;
    }
    this.listening.push(l);
    return l;
  }
}

/** buildCycle runs the configuration pass over a tree and initialises every module; throws ConfError. */
export function buildCycle(init: CycleInit): Cycle {
  const cycle = new Cycle(init);
  const cf = new ConfCtx({ registry: cycle.registry, prefix: cycle.prefix, confPrefix: cycle.confPrefix, zones: cycle.zones });
  cycle.registry.modules.forEach((m, i) => {
    if (m.type === 'core' && m.createConf) cycle.confs[i] = m.createConf(cf);
  });
  cf.scratch.set(CYCLE_KEY, cycle);
  cf.parse(cycle.tree, CTX.MAIN, { main: cycle.confs });
  cf.directive = undefined;
  cycle.registry.modules.forEach((m, i) => {
    if (m.type === 'core' && m.initConf) m.initConf(cf, cycle.confs[i]);
  });
  for (const m of cycle.registry.modules) m.initModule?.(cycle);
  cycle.diagnostics = cf.diagnostics;
  return cycle;
}

/** A pseudo-module key under which the cycle being built is reachable from ConfCtx.scratch. */
const CYCLE_KEY: Module = { name: 'cycle', type: 'core' };

/** cycleOf returns the cycle a configuration pass is building (block modules register listeners on it). */
export function cycleOf(cf: ConfCtx): Cycle {
  return cf.scratch.get(CYCLE_KEY) as Cycle;
}
