/**
 * The HTTP core module's configuration structures (ngx_http_core_main_conf_t, _srv_conf_t, _loc_conf_t) and
 * their merge. Every location carries `confs`: the loc confs of all HTTP modules at that location, which is
 * what request code indexes with a module's index.
 */
import type { ConfCtx } from '../core/conf.ts';
import type { ResolverSpec } from '../event/resolver.ts';
import type { ContentHandler, HttpLevel, PhaseHandler, BodyFilter, HeaderFilter, VariableDef } from './types.ts';
import type { ListenOpt } from './listen.ts';
import type { LocationTree } from './locations.ts';

/** ServerName is one `server_name` entry; regex names keep their compiled RegExp. */
export interface ServerName {
  name: string;
  regex?: RegExp;
}

/** CoreMainConf is the http block's own state: servers, phase handlers, filters and variables. */
export interface CoreMainConf {
  servers: CoreSrvConf[];
  phases: PhaseHandler[][];
  variables: Map<string, VariableDef>;
  prefixVariables: VariableDef[];
  headerFilter?: HeaderFilter;
  bodyFilter?: BodyFilter;
  /** Shared counters, present when stub_status is configured (connections count into them). */
  stats?: import('./stats.ts').HttpStats;
  serverNamesHashMaxSize?: number;
  serverNamesHashBucketSize?: number;
}

export interface CoreSrvConf {
  level: HttpLevel;
  /** The server-level location conf (requests use it until find-config selects a location). */
  loc: CoreLocConf;
  listens: ListenOpt[];
  serverNames: ServerName[];
  file?: string;
  line?: number;
  clientHeaderTimeout?: number;
  clientHeaderBufferSize?: number;
  largeClientHeaderBuffers?: { num: number; size: number };
  mergeSlashes?: boolean;
  underscoresInHeaders?: boolean;
  ignoreInvalidHeaders?: boolean;
  serverNameRegexCaptures?: boolean;
}

/**
 * LocationMatch: '' prefix, '=' exact, '^~' prefix without regex check, '~' / '~*' regex, '@' named, 'server',
 * and 'if' for the pseudo-location of a rewrite-module `if` block (never found by a lookup).
 */
export type LocationMatch = '' | '=' | '^~' | '~' | '~*' | '@' | 'server' | 'if';

export interface CoreLocConf {
  /** The loc confs of every HTTP module at this location, by module index. */
  confs: unknown[];
  name: string;
  match: LocationMatch;
  regex?: RegExp;
  parent?: CoreLocConf;
  children: CoreLocConf[];
  tree?: LocationTree;
  internal?: boolean;
  /** Redirect `/dir` to `/dir/` when the location is `/dir/` and proxies (nginx's auto_redirect). */
  autoRedirect?: boolean;
  handler?: ContentHandler;
  file?: string;
  line?: number;

  root?: string;
  alias?: string;
  defaultType?: string;
  types?: Map<string, string>;
  keepaliveTimeout?: number;
  keepaliveHeaderTimeout?: number;
  keepaliveRequests?: number;
  keepaliveTime?: number;
  clientMaxBodySize?: number;
  clientBodyTimeout?: number;
  clientBodyBufferSize?: number;
  sendTimeout?: number;
  serverTokens?: boolean;
  chunkedTransferEncoding?: boolean;
  logNotFound?: boolean;
  absoluteRedirect?: boolean;
  serverNameInRedirect?: boolean;
  portInRedirect?: boolean;
  recursiveErrorPages?: boolean;
  errorPages?: ErrorPage[];
  lingeringClose?: 'on' | 'off' | 'always';
  /** limit_rate and limit_rate_after: sizes, or templates when they have variables (limit-rate.ts). */
  limitRate?: import('./limit-rate.ts').SizeValue;
  limitRateAfter?: import('./limit-rate.ts').SizeValue;
  resetTimedoutConnection?: boolean;
  satisfy?: 'all' | 'any';
  /** `resolver` for names met at run time (proxy_pass with variables); undefined: none defined. */
  resolver?: ResolverSpec;
  resolverTimeout?: number;
  /** The location's own `error_log` (opened per worker by the log module); unset means the cycle's log. */
  errorLog?: import('../core/log.ts').ErrorLog;
}

/** ErrorPage is one `error_page codes [=[code]] uri` entry. */
export interface ErrorPage {
  status: number;
  /** -1: keep the original status; 0: `=` alone, take the status of the redirected request; else this code. */
  overwrite: number;
  uri: string;
}

export function createCoreSrvConf(level: HttpLevel): CoreSrvConf {
  return { level, loc: undefined as unknown as CoreLocConf, listens: [], serverNames: [] };
}

export function createCoreLocConf(): CoreLocConf {
  return { confs: [], name: '', match: 'server', children: [] };
}

export function mergeCoreSrvConf(_cf: ConfCtx, p: CoreSrvConf, c: CoreSrvConf): void {
  c.clientHeaderTimeout ??= p.clientHeaderTimeout ?? 60_000;
  c.clientHeaderBufferSize ??= p.clientHeaderBufferSize ?? 1024;
  c.largeClientHeaderBuffers ??= p.largeClientHeaderBuffers ?? { num: 4, size: 8192 };
  c.mergeSlashes ??= p.mergeSlashes ?? true;
  c.underscoresInHeaders ??= p.underscoresInHeaders ?? false;
  c.ignoreInvalidHeaders ??= p.ignoreInvalidHeaders ?? true;
}

export function mergeCoreLocConf(_cf: ConfCtx, p: CoreLocConf, c: CoreLocConf): void {
  if (c.root === undefined && c.alias === undefined) {
    c.root = p.root;
    c.alias = p.alias;
  }
  c.root ??= c.alias === undefined ? 'html' : undefined;
  c.defaultType ??= p.defaultType ?? 'text/plain';
  c.types ??= p.types;
  c.keepaliveTimeout ??= p.keepaliveTimeout ?? 75_000;
  c.keepaliveHeaderTimeout ??= p.keepaliveHeaderTimeout ?? 0;
  c.keepaliveRequests ??= p.keepaliveRequests ?? 1000;
  c.keepaliveTime ??= p.keepaliveTime ?? 3_600_000;
  c.clientMaxBodySize ??= p.clientMaxBodySize ?? 1024 * 1024;
  c.clientBodyTimeout ??= p.clientBodyTimeout ?? 60_000;
  c.clientBodyBufferSize ??= p.clientBodyBufferSize ?? 16 * 1024;
  c.sendTimeout ??= p.sendTimeout ?? 60_000;
  c.serverTokens ??= p.serverTokens ?? true;
  c.chunkedTransferEncoding ??= p.chunkedTransferEncoding ?? true;
  c.logNotFound ??= p.logNotFound ?? true;
  c.absoluteRedirect ??= p.absoluteRedirect ?? true;
  c.serverNameInRedirect ??= p.serverNameInRedirect ?? false;
  c.portInRedirect ??= p.portInRedirect ?? true;
  c.recursiveErrorPages ??= p.recursiveErrorPages ?? false;
  c.errorPages ??= p.errorPages;
  c.lingeringClose ??= p.lingeringClose ?? 'on';
  c.limitRate ??= p.limitRate ?? 0;
  c.limitRateAfter ??= p.limitRateAfter ?? 0;
  c.resetTimedoutConnection ??= p.resetTimedoutConnection ?? false;
  c.satisfy ??= p.satisfy ?? 'all';
  c.resolver ??= p.resolver;
  c.resolverTimeout ??= p.resolverTimeout ?? 30_000;
}
