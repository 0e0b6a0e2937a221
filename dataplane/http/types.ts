/**
 * Shared HTTP types: the core module's server and location confs, phase numbers, handler return codes and
 * the HTTP module descriptor (a core Module plus phase handlers, filters and variables).
 */
import type { ConfCtx, ConfLevel } from '../core/conf.ts';
import type { Module } from '../core/module.ts';
import type { HttpRequest } from './request.ts';

/** Handler return codes (nginx's NGX_OK, NGX_DECLINED, NGX_AGAIN, NGX_DONE, NGX_ERROR). Statuses are ≥ 100. */
export const OK = 0;
export const ERROR = -1;
export const AGAIN = -2;
export const DONE = -4;
export const DECLINED = -5;

/** The request phases, in order (ngx_http_phases). */
export const PHASE = {
  POST_READ: 0,
  SERVER_REWRITE: 1,
  FIND_CONFIG: 2,
  REWRITE: 3,
  POST_REWRITE: 4,
  PREACCESS: 5,
  ACCESS: 6,
  POST_ACCESS: 7,
  PRECONTENT: 8,
  CONTENT: 9,
  LOG: 10,
} as const;
export type Phase = (typeof PHASE)[keyof typeof PHASE];

/** PhaseHandler returns OK, DECLINED, AGAIN/DONE (it will resume the request itself) or a status. */
export type PhaseHandler = (r: HttpRequest) => number;

/** ContentHandler is a location's content handler (proxy_pass, return-less static, empty_gif …). */
export type ContentHandler = (r: HttpRequest) => number;

/** HeaderFilter runs when a response head is sent; it calls `next` to pass it on (or not). */
export type HeaderFilter = (r: HttpRequest) => number;
/** BodyFilter receives each body chunk; `last` marks the end of the response body. */
export type BodyFilter = (r: HttpRequest, chunk: Buffer | null, last: boolean) => number;

/** VariableDef is a variable a module provides; `prefix` variables (`http_`, `arg_` …) match by name start. */
export interface VariableDef {
  name: string;
  prefix?: boolean;
  /** get computes the value lazily; undefined means "not found" (empty in logs, false in `if`). */
  get(r: HttpRequest, name: string): string | undefined;
  /** set is for writable variables (`set $limit_rate …`). */
  set?(r: HttpRequest, name: string, value: string): void;
  /** nocache: recompute on every use (e.g. $msec); otherwise the value is cached per request. */
  nocache?: boolean;
}

/** HttpLevel holds one block's confs for every HTTP module (main, srv and loc arrays by module index). */
export interface HttpLevel extends ConfLevel {
  main: unknown[];
  srv: unknown[];
  loc: unknown[];
}

/** HttpModule is an HTTP module descriptor: a core Module with HTTP hooks. */
export interface HttpModule<M = any, S = any, L = any> extends Module<M, S, L> {
  type: 'http';
  variables?: VariableDef[];
  /** Phase handlers installed for every http block (modules that want a handler only when used add it in postconfiguration). */
  phases?: { phase: Phase; handler: (cf: ConfCtx) => PhaseHandler | undefined }[];
  /** Filters are built once per http block from the next filter in the chain. */
  headerFilter?: (next: HeaderFilter, cf: ConfCtx) => HeaderFilter;
  bodyFilter?: (next: BodyFilter, cf: ConfCtx) => BodyFilter;
}

/** defineHttpModule is defineModule for HTTP modules. */
export function defineHttpModule<M = undefined, S = undefined, L = undefined>(m: HttpModule<M, S, L>): HttpModule<M, S, L> {
  return m;
}
