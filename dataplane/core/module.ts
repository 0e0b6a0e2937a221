/**
 * Module descriptors and directive tables, after nginx's ngx_module_t and ngx_command_t.
 *
 * A module declares its directives as rows (name, allowed contexts, arity, which conf level, a setter) and the
 * hooks that create and merge its configuration at each level. Context and arity errors come from the table,
 * never from hand-written checks in setters.
 */
import type { ConfCtx } from './conf.ts';
import type { ConfDirective } from './tree.ts';
import type { Cycle } from './cycle.ts';

export type ModuleType = 'core' | 'event' | 'http' | 'mail' | 'stream';

/** Contexts a directive may appear in (bit flags, as NGX_*_CONF). */
export const CTX = {
  MAIN: 1 << 0,
  EVENTS: 1 << 1,
  HTTP_MAIN: 1 << 2,
  HTTP_SRV: 1 << 3,
  HTTP_LOC: 1 << 4,
  HTTP_UPS: 1 << 5,
  HTTP_SIF: 1 << 6,
  HTTP_LIF: 1 << 7,
  HTTP_LMT: 1 << 8,
  MAIL_MAIN: 1 << 9,
  MAIL_SRV: 1 << 10,
  STREAM_MAIN: 1 << 11,
  STREAM_SRV: 1 << 12,
  STREAM_UPS: 1 << 13,
} as const;

/** Human names of contexts, for diagnostics. */
export const CTX_NAMES: Record<number, string> = {
  [CTX.MAIN]: 'main',
  [CTX.EVENTS]: 'events',
  [CTX.HTTP_MAIN]: 'http',
  [CTX.HTTP_SRV]: 'server',
  [CTX.HTTP_LOC]: 'location',
  [CTX.HTTP_UPS]: 'upstream',
  [CTX.HTTP_SIF]: 'if in server',
  [CTX.HTTP_LIF]: 'if in location',
  [CTX.HTTP_LMT]: 'limit_except',
  [CTX.MAIL_MAIN]: 'mail',
  [CTX.MAIL_SRV]: 'mail server',
  [CTX.STREAM_MAIN]: 'stream',
  [CTX.STREAM_SRV]: 'stream server',
  [CTX.STREAM_UPS]: 'stream upstream',
};

/** Argument counts (bit flags, as NGX_CONF_NOARGS … NGX_CONF_2MORE, NGX_CONF_BLOCK). */
export const ARGS = {
  NOARGS: 1 << 0,
  TAKE1: 1 << 1,
  TAKE2: 1 << 2,
  TAKE3: 1 << 3,
  TAKE4: 1 << 4,
  TAKE5: 1 << 5,
  TAKE6: 1 << 6,
  TAKE7: 1 << 7,
  TAKE12: (1 << 1) | (1 << 2),
  TAKE13: (1 << 1) | (1 << 3),
  TAKE23: (1 << 2) | (1 << 3),
  TAKE123: (1 << 1) | (1 << 2) | (1 << 3),
  TAKE1234: (1 << 1) | (1 << 2) | (1 << 3) | (1 << 4),
  FLAG: 1 << 8,
  ONEMORE: 1 << 9,
  TWOMORE: 1 << 10,
  ANY: 1 << 11,
  BLOCK: 1 << 12,
} as const;

export const MAX_ARGS = 8;

/** Which of a module's confs a directive's setter receives. */
export type ConfLevelName = 'main' | 'srv' | 'loc';

/**
 * Directive is one row of a module's directive table. `set` receives the directive and the module's conf at
 * `conf` level; it returns nothing on success, or text that completes `"name" directive …` (e.g. "is
 * duplicate"), or throws via cf.error(). Generic setters for common value types are in slots.ts.
 */
export interface Directive<C = any> {
  name: string;
  contexts: number;
  args: number;
  conf?: ConfLevelName;
  set(cf: ConfCtx, d: ConfDirective, conf: C): string | void;
}

/**
 * Module is a module descriptor. `create*`/`merge*` follow nginx's contract: create marks every inheritable
 * field unset (undefined), merge fills a child from its parent or the default. Core and event modules use
 * createConf/initConf; protocol modules (http, mail, stream) use the main/srv/loc hooks, which their block
 * directive calls.
 */
export interface Module<M = any, S = any, L = any> {
  name: string;
  type: ModuleType;
  directives?: Directive[];
  /** `--with-…` / `--without-…` word for `-V`; modules without one are always built in. */
  configureArg?: string;

  createConf?(cf: ConfCtx): M;
  initConf?(cf: ConfCtx, conf: M): void;

  preconfiguration?(cf: ConfCtx): void;
  createMainConf?(cf: ConfCtx): M;
  initMainConf?(cf: ConfCtx, conf: M): void;
  createSrvConf?(cf: ConfCtx): S;
  mergeSrvConf?(cf: ConfCtx, parent: S, child: S): void;
  createLocConf?(cf: ConfCtx): L;
  mergeLocConf?(cf: ConfCtx, parent: L, child: L): void;
  postconfiguration?(cf: ConfCtx): void;

  /** Called once per cycle after configuration, in the thread that built it. */
  initModule?(cycle: Cycle): void;
  /** Called in each worker when the cycle starts serving there, and when it stops. */
  initWorker?(cycle: Cycle): void;
  exitWorker?(cycle: Cycle): void;
}

/** defineModule is an identity function that lets TypeScript infer a module's conf types. */
export function defineModule<M = undefined, S = undefined, L = undefined>(m: Module<M, S, L>): Module<M, S, L> {
  return m;
}
