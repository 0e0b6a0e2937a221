/**
 * Variables (ngx_http_variables.c): modules declare them; directives compile `$name`, `${name}` and `$1`…`$9`
 * references into templates at configuration time; values are computed lazily per request and cached unless
 * the variable says otherwise. Unknown names are reported once the whole http block is read, as nginx does.
 */
import type { ConfCtx } from '../core/conf.ts';
import type { ConfDirective } from '../core/tree.ts';
import type { CoreMainConf } from './core-conf.ts';
import type { HttpRequest } from './request.ts';
import type { VariableDef } from './types.ts';

/** VarRef is one variable reference inside a template, resolved after the http block is read. */
export interface VarRef {
  name: string;
  def: VariableDef | undefined;
  capture: number;
  d: ConfDirective | undefined;
}

/** Template is a compiled string with variables: constant parts and references. */
export interface Template {
  readonly source: string;
  /** The text when the template has no variables. */
  readonly constant: string | undefined;
  readonly parts: (string | VarRef)[];
}

const VAR_RE = /\$(?:\{([A-Za-z0-9_]+)\}|([A-Za-z0-9_]+))/g;

/** References compiled in a configuration pass wait in cf.scratch under this key until resolved. */
const PENDING_KEY = { name: 'http_variables_pending', type: 'http' } as const;

function pending(cf: ConfCtx): VarRef[] {
  let list = cf.scratch.get(PENDING_KEY) as VarRef[] | undefined;
  if (!list) cf.scratch.set(PENDING_KEY, (list = []));
  return list;
}

/** compileTemplate parses `text` into a Template; references are resolved later by resolveVariables. */
export function compileTemplate(cf: ConfCtx, text: string): Template {
  if (!text.includes('$')) return { source: text, constant: text, parts: [text] };
  const parts: (string | VarRef)[] = [];
  let last = 0;
  for (const m of text.matchAll(VAR_RE)) {
    if (m.index > last) parts.push(text.slice(last, m.index));
    const name = (m[1] ?? m[2])!;
    const ref: VarRef = { name, def: undefined, capture: /^\d$/.test(name) ? Number(name) : -1, d: cf.directive };
    if (ref.capture < 0) pending(cf).push(ref);
    parts.push(ref);
    last = m.index + m[0].length;
  }
  if (last < text.length) parts.push(text.slice(last));
  if (parts.length === 0) return { source: text, constant: '', parts };
  return { source: text, constant: undefined, parts };
}

/** findVariable looks a name up: exact declarations first, then prefix families (`http_`, `arg_` …). */
export function findVariable(main: CoreMainConf, name: string): VariableDef | undefined {
  const lname = name.toLowerCase();
  const def = main.variables.get(lname);
  if (def) return def;
  for (const p of main.prefixVariables) if (lname.startsWith(p.name)) return p;
  return undefined;
}

/** resolveVariables binds every reference compiled in this pass; unknown names are `[emerg]`. */
export function resolveVariables(cf: ConfCtx, main: CoreMainConf): void {
  const list = pending(cf);
  for (const ref of list) {
    ref.def = findVariable(main, ref.name);
    if (!ref.def) cf.error(`unknown "${ref.name}" variable`, ref.d);
  }
  cf.scratch.delete(PENDING_KEY);
}

/** declareVariable adds a variable at configuration time (set, map, split_clients …); existing wins. */
export function declareVariable(main: CoreMainConf, def: VariableDef): VariableDef {
  const cur = main.variables.get(def.name);
  if (cur) return cur;
  main.variables.set(def.name, def);
  return def;
}

/** getVariable returns a variable's value for a request, computing it at most once unless `nocache`. */
export function getVariable(r: HttpRequest, def: VariableDef, name: string): string | undefined {
  if (def.nocache) return def.get(r, name);
  const cache = r.vars;
  if (cache.has(name)) return cache.get(name);
  const v = def.get(r, name);
  cache.set(name, v);
  return v;
}

/** evaluate renders a template for a request. */
export function evaluate(r: HttpRequest, t: Template): string {
  if (t.constant !== undefined) return t.constant;
  let out = '';
  for (const p of t.parts) {
    if (typeof p === 'string') out += p;
    else if (p.capture >= 0) out += captureOf(r, p.capture);
    else out += getVariable(r, p.def!, p.name.toLowerCase()) ?? '';
  }
  return out;
}

/** captureOf returns regex capture N of the last location/rewrite/if match (or the server name's). */
export function captureOf(r: HttpRequest, n: number): string {
  const m = r.captures ?? r.serverCaptures;
  return m?.[n] ?? '';
}

/** expandRuntime expands `$var` in a string known only at run time (error_page targets), unknown → empty. */
export function expandRuntime(main: CoreMainConf, r: HttpRequest, text: string): string {
  if (!text.includes('$')) return text;
  return text.replace(VAR_RE, (_m, a: string | undefined, b: string | undefined) => {
    const name = (a ?? b)!;
    if (/^\d$/.test(name)) return captureOf(r, Number(name));
    const def = findVariable(main, name);
    return def ? (getVariable(r, def, name.toLowerCase()) ?? '') : '';
  });
}
