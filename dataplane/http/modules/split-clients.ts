/**
 * ngx_http_split_clients_module: `split_clients source $var { 0.5% a; 20% b; * c; }` hashes the source with
 * MurmurHash2 (as nginx's ngx_murmur_hash2) and picks the part whose cumulative share of the 32-bit range the
 * hash falls in, for A/B splits that agree with nginx's for the same input.
 */
import type { ConfCtx } from '../../core/conf.ts';
import { ARGS, CTX } from '../../core/module.ts';
import type { ConfDirective } from '../../core/tree.ts';
import { httpMainConf } from '../http-module.ts';
import { defineHttpModule } from '../types.ts';
import { compileTemplate, declareVariable, evaluate, type Template } from '../variables.ts';

/** murmurHash2 is MurmurHash2 (32-bit, seed 0) over bytes, as nginx computes it. */
export function murmurHash2(data: Buffer): number {
  const M = 0x5bd1e995;
  let len = data.length;
  let h = len >>> 0;
  let i = 0;
  while (len >= 4) {
    let k = data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24);
    k = Math.imul(k, M);
    k ^= k >>> 24;
    k = Math.imul(k, M);
    h = Math.imul(h, M) ^ k;
    i += 4;
    len -= 4;
  }
  // The 1–3 trailing bytes, last one first (nginx's fall-through switch).
  if (len === 3) h ^= data[i + 2]! << 16;
  if (len >= 2) h ^= data[i + 1]! << 8;
  if (len >= 1) {
    h ^= data[i]!;
    h = Math.imul(h, M);
  }
  h ^= h >>> 13;
  h = Math.imul(h, M);
  h ^= h >>> 15;
  return h >>> 0;
}

interface Part {
  /** Upper bound (exclusive) of this part's share of the hash range; Infinity for `*`. */
  bound: number;
  value: Template;
}

function splitClientsBlock(cf: ConfCtx, d: ConfDirective): string | void {
  const [source, target] = d.args as [string, string];
  if (!target.startsWith('$')) cf.error(`invalid variable name "${target}"`);
  const name = target.slice(1).toLowerCase();
  const src = compileTemplate(cf, source);
  const parts: Part[] = [];
  // Shares are kept in hundredths of a percent, as nginx does, so the sum is exact.
  let sum = 0;
  for (const e of d.block!) {
    cf.directive = e;
    if (e.args.length !== 1 || e.block) cf.error(`invalid number of arguments in "split_clients" directive`);
    const value = compileTemplate(cf, e.args[0]!);
    if (e.name === '*') {
      parts.push({ bound: Infinity, value });
      continue;
    }
    const m = /^(\d+)(?:\.(\d{1,2}))?%$/.exec(e.name);
    if (!m) cf.error(`invalid percent value "${e.name}"`);
    const share = Number(m[1]) * 100 + Number((m[2] ?? '').padEnd(2, '0'));
    if (share === 0) cf.error(`invalid percent value "${e.name}"`);
    sum += share;
    if (sum > 10000) cf.error(`percent total is greater than 100%`);
    parts.push({ bound: Math.floor((sum * 0xffffffff) / 10000), value });
  }
  cf.directive = d;
  declareVariable(httpMainConf(cf), {
    name,
    get(r) {
      const hash = murmurHash2(Buffer.from(evaluate(r, src), 'latin1'));
      for (const p of parts) if (hash < p.bound) return evaluate(r, p.value);
      return '';
    },
  });
}

export const httpSplitClientsModule = defineHttpModule({
  name: 'ngx_http_split_clients_module',
  type: 'http',
  directives: [{ name: 'split_clients', contexts: CTX.HTTP_MAIN, args: ARGS.BLOCK | ARGS.TAKE2, conf: 'main', set: splitClientsBlock }],
});
