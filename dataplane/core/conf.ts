/**
 * The configuration engine: walks a ConfTree, finds each directive in the module registry, checks its context
 * and arity against the directive table, and calls its setter with the right conf object (ngx_conf_handler).
 */
import path from 'node:path';
import { ConfError } from './errors.ts';
import { ARGS, CTX, MAX_ARGS, type Module } from './module.ts';
import type { Registry } from './registry.ts';
import type { ConfDirective } from './tree.ts';
import type { ZonePool } from './zones.ts';

/** ConfLevel holds the confs of one block, indexed by module index (nginx's ngx_http_conf_ctx_t). */
export interface ConfLevel {
  main: unknown[];
  srv?: unknown[];
  loc?: unknown[];
}

/** Diagnostic is a non-fatal message produced while reading the configuration (`[warn]`). */
export interface Diagnostic {
  level: 'warn' | 'notice' | 'info';
  message: string;
}

export interface ConfCtxOptions {
  registry: Registry;
  prefix: string;
  confPrefix: string;
  zones: ZonePool;
}

/** ConfCtx is the state of one configuration pass (nginx's ngx_conf_t): where we are and what we fill. */
export class ConfCtx {
  readonly registry: Registry;
  readonly prefix: string;
  readonly confPrefix: string;
  readonly zones: ZonePool;
  readonly diagnostics: Diagnostic[] = [];
  /** The context the directives being read are in (one CTX bit). */
  ctx: number = CTX.MAIN;
  level: ConfLevel = { main: [] };
  /** The directive being handled, so errors can name its file and line. */
  directive: ConfDirective | undefined;
  /** Per-pass scratch state owned by block modules (e.g. the http block's server list), keyed by module. */
  readonly scratch = new Map<Module, unknown>();

  constructor(o: ConfCtxOptions) {
    this.registry = o.registry;
    this.prefix = o.prefix;
    this.confPrefix = o.confPrefix;
    this.zones = o.zones;
  }

  index(m: Module): number {
    return this.registry.index(m);
  }

  /** error aborts the pass with an `[emerg]` at the current (or given) directive's position. */
  error(message: string, d: ConfDirective | undefined = this.directive): never {
    throw new ConfError(message, d?.file, d?.line);
  }

  warn(message: string, d: ConfDirective | undefined = this.directive): void {
    const where = d?.file !== undefined ? ` in ${d.file}:${d.line}` : '';
    this.diagnostics.push({ level: 'warn', message: message + where });
  }

  /** fullPath resolves a path as nginx does: absolute stays, relative joins the prefix (or conf prefix). */
  fullPath(p: string, conf = false): string {
    return path.resolve(conf ? this.confPrefix : this.prefix, p);
  }

  /** parse handles each directive of `block` in context `ctx` with confs from `level`, then restores state. */
  parse(block: ConfDirective[], ctx: number, level: ConfLevel): void {
    const saved = { ctx: this.ctx, level: this.level, directive: this.directive };
    this.ctx = ctx;
    this.level = level;
    try {
      for (const d of block) this.handle(d);
    } finally {
      this.ctx = saved.ctx;
      this.level = saved.level;
      this.directive = saved.directive;
    }
  }

  /** handle finds the directive's row and runs its setter (ngx_conf_handler). */
  handle(d: ConfDirective): void {
    this.directive = d;
    const rows = this.registry.directives(d.name);
    if (!rows) this.error(`unknown directive "${d.name}"`);
    for (const { module, directive: row } of rows) {
      if (!(row.contexts & this.ctx)) continue;
      if (!(row.args & ARGS.BLOCK) && d.block) this.error(`directive "${d.name}" is not terminated by ";"`);
      if (row.args & ARGS.BLOCK && !d.block) this.error(`directive "${d.name}" has no opening "{"`);
      if (!arityOk(row.args, d.args.length)) this.error(`invalid number of arguments in "${d.name}" directive`);
      const confs = this.level[row.conf ?? 'main'];
      const conf = confs?.[this.index(module)];
      const rv = row.set(this, d, conf);
      this.directive = d;
      if (typeof rv === 'string') this.error(`"${d.name}" directive ${rv}`);
      return;
    }
    this.error(`"${d.name}" directive is not allowed here`);
  }
}

function arityOk(spec: number, n: number): boolean {
  if (spec & ARGS.ANY) return true;
  if (spec & ARGS.FLAG) return n === 1;
  if (spec & ARGS.ONEMORE) return n >= 1;
  if (spec & ARGS.TWOMORE) return n >= 2;
  if (n >= MAX_ARGS) return false;
  return (spec & (1 << n)) !== 0;
}
