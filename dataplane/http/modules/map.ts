/**
 * ngx_http_map_module: `map source $var { … }` declares a variable computed from a source template. Strings
 * match ignoring case; with `hostnames`, `*.x`, `.x` and `x.*` masks match as server names do; then `~` / `~*`
 * regexes in order (their captures are usable in the value); then `default`. Values may hold variables.
 * `volatile` makes the value uncached; `include` is expanded by the parser.
 */
import type { ConfCtx } from '../../core/conf.ts';
import { ARGS, CTX } from '../../core/module.ts';
import type { ConfDirective } from '../../core/tree.ts';
import { compileRegex } from '../core-module.ts';
import { httpMainConf } from '../http-module.ts';
import type { HttpRequest } from '../request.ts';
import { defineHttpModule, type VariableDef } from '../types.ts';
import { compileTemplate, declareVariable, evaluate, findVariable, type Template } from '../variables.ts';

interface MapTable {
  exact: Map<string, Template>;
  head: Map<string, Template>;
  tail: Map<string, Template>;
  regex: { re: RegExp; value: Template }[];
  fallback: Template | undefined;
}

function mapBlock(cf: ConfCtx, d: ConfDirective): string | void {
  const [source, target] = d.args as [string, string];
  if (!target.startsWith('$')) cf.error(`invalid variable name "${target}"`);
  const name = target.slice(1).toLowerCase();
  const cmcf = httpMainConf(cf);
  if (findVariable(cmcf, name) && cmcf.variables.has(name)) cf.error(`the duplicate "${name}" variable`);
  const src = compileTemplate(cf, source);
  const t: MapTable = { exact: new Map(), head: new Map(), tail: new Map(), regex: [], fallback: undefined };
  let hostnames = false;
  let volatile = false;
  for (const e of d.block!) {
    cf.directive = e;
    if (e.block) cf.error(`unexpected "{"`);
    if (e.name === 'hostnames' && e.args.length === 0) {
      hostnames = true;
      continue;
    }
    if (e.name === 'volatile' && e.args.length === 0) {
      volatile = true;
      continue;
    }
    if (e.args.length !== 1) cf.error(`invalid number of the map parameters`);
    const key = e.name;
    const value = compileTemplate(cf, e.args[0]!);
    if (key === 'default') {
      if (t.fallback) cf.error(`duplicate default map parameter`);
      t.fallback = value;
      continue;
    }
    if (key.startsWith('~')) {
      const caseless = key.startsWith('~*');
      t.regex.push({ re: compileRegex(cf, key.slice(caseless ? 2 : 1), caseless), value });
      continue;
    }
    const k = (key.startsWith('\\') ? key.slice(1) : key).toLowerCase();
    let table = t.exact;
    let stored = k;
    if (hostnames && k.startsWith('*.')) [table, stored] = [t.head, k.slice(1)];
    else if (hostnames && k.startsWith('.')) {
      add(cf, t.exact, k.slice(1), value, key);
      [table, stored] = [t.head, k];
    } else if (hostnames && k.endsWith('.*')) [table, stored] = [t.tail, k.slice(0, -1)];
    add(cf, table, stored, value, key);
  }
  cf.directive = d;
  declareVariable(cmcf, mapVariable(name, src, t, hostnames, volatile));
}

function add(cf: ConfCtx, table: Map<string, Template>, key: string, value: Template, written: string): void {
  if (table.has(key)) cf.error(`conflicting parameter "${written}"`);
  table.set(key, value);
}

function lookup(r: HttpRequest, t: MapTable, key: string, hostnames: boolean): Template | undefined {
  const k = key.toLowerCase();
  const exact = t.exact.get(hostnames && k.endsWith('.') ? k.slice(0, -1) : k);
  if (exact) return exact;
  if (hostnames) {
    for (let i = k.indexOf('.'); i >= 0; i = k.indexOf('.', i + 1)) {
      const v = t.head.get(k.slice(i));
      if (v) return v;
    }
    for (let i = k.lastIndexOf('.'); i > 0; i = k.lastIndexOf('.', i - 1)) {
      const v = t.tail.get(k.slice(0, i + 1));
      if (v) return v;
    }
  }
  for (const { re, value } of t.regex) {
    const m = re.exec(key);
    if (m) {
      r.captures = m;
      return value;
    }
  }
  return t.fallback;
}

function mapVariable(name: string, src: Template, t: MapTable, hostnames: boolean, volatile: boolean): VariableDef {
  return {
    name,
    nocache: volatile,
    get(r) {
      const value = lookup(r, t, evaluate(r, src), hostnames);
      return value === undefined ? '' : evaluate(r, value);
    },
  };
}

export const httpMapModule = defineHttpModule({
  name: 'ngx_http_map_module',
  type: 'http',
  directives: [
    { name: 'map', contexts: CTX.HTTP_MAIN, args: ARGS.BLOCK | ARGS.TAKE2, conf: 'main', set: mapBlock },
    { name: 'map_hash_max_size', contexts: CTX.HTTP_MAIN, args: ARGS.TAKE1, conf: 'main', set() {} },
    { name: 'map_hash_bucket_size', contexts: CTX.HTTP_MAIN, args: ARGS.TAKE1, conf: 'main', set() {} },
  ],
});
