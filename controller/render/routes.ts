/**
 * HTTPRoutePolicy rules → standard nginx: each condition is a `map` to 1/0, each match ANDs its conditions with a
 * `map` on their concatenation, and a last `map` picks the first matching rule (regexes are tried in order). In
 * the locations, `if ($rule = rN)` does redirects and rewrites, and a per-location `map` picks the upstream.
 */
import { type ConfDirective, directive as d } from '../../dataplane/core/tree.ts';
import type { RouteCondition, RoutePolicyModel } from '../model/routepolicy.ts';

const MAP_SPECIAL = new Set(['default', 'hostnames', 'include', 'volatile']);

function mapKey(c: RouteCondition): string {
  if (c.kind === 'regex') return `~${c.value}`;
  return MAP_SPECIAL.has(c.value) || c.value.startsWith('~') || c.value.startsWith('\\') ? `\\${c.value}` : c.value;
}

/** renderSelection returns the http-level maps that set `$variable` to the id of the first matching rule. */
export function renderSelection(p: RoutePolicyModel): ConfDirective[] {
  const out: ConfDirective[] = [];
  const flags: { flag: string; rule: string }[] = [];
  p.rules.forEach((rule) =>
    rule.matches.forEach((conds) => {
      const j = flags.length;
      const vars = conds.map((c, k) => {
        const v = `${p.variable}_m${j}_${k}`;
        out.push(d('map', [c.variable, `$${v}`], [d(mapKey(c), ['1']), d('default', ['0'])]));
        return `$${v}`;
      });
      let flag: string;
      if (vars.length === 0) flag = '1';
      else if (vars.length === 1) flag = vars[0]!;
      else {
        flag = `$${p.variable}_m${j}`;
        out.push(d('map', [vars.join(''), flag], [d('1'.repeat(vars.length), ['1']), d('default', ['0'])]));
      }
      flags.push({ flag, rule: rule.id });
    }),
  );
  out.push(d('map', [flags.map((f) => f.flag).join(''), `$${p.variable}`], [...flags.map((f, j) => d(`~^${'.'.repeat(j)}1`, [f.rule])), d('default', [''])]));
  return out;
}

function when(p: RoutePolicyModel, id: string, block: ConfDirective[]): ConfDirective {
  return d('if', [`($${p.variable}`, '=', `${id})`], block);
}

/** routeRedirects returns the location's `if (rule) { return … }` blocks for redirect rules. */
export function routeRedirects(p: RoutePolicyModel): ConfDirective[] {
  return p.rules.filter((r) => r.redirect).map((r) => when(p, r.id, [d('return', [String(r.redirect!.code), r.redirect!.url])]));
}

/** routeRewrites returns the location's `if (rule) { rewrite … break; }` blocks. */
export function routeRewrites(p: RoutePolicyModel): ConfDirective[] {
  return p.rules
    .filter((r) => r.rewritePath)
    .map((r) => {
      const { type, value, prefixes } = r.rewritePath!;
      const lines =
        type === 'ReplaceFullPath'
          ? [d('rewrite', ['^', value, 'break'])]
          : prefixes.map((pre) => (value === '/' ? d('rewrite', [`^${pre}/?(.*)$`, '/$1', 'break']) : d('rewrite', [`^${pre}(/.*)?$`, `${value.replace(/\/$/, '')}$1`, 'break'])));
      return when(p, r.id, lines);
    });
}

/** routeHostVariable names the variable carrying the rewritten Host for location n, when a rule rewrites it. */
export function routeHostVariable(p: RoutePolicyModel, n: number): string | undefined {
  return p.rules.some((r) => r.rewriteHost) ? `$portico_route_host_${n}` : undefined;
}

/**
 * routeTarget returns what the location proxies to when rules pick backends (a per-location map whose default is
 * the location's own target), the 503 guard for rules without endpoints, and the Host variable for host rewrites.
 */
export function routeTarget(p: RoutePolicyModel, n: number, target: string | null, http: ConfDirective[]): { target: string | null; guard?: ConfDirective; host?: string } {
  const sel = `$${p.variable}`;
  let out = target;
  let guard: ConfDirective | undefined;
  if (p.rules.some((r) => r.upstream !== undefined)) {
    const v = `portico_route_upstream_${n}`;
    // "none" marks "no endpoints": upstream names always contain "_", so it cannot name one.
    http.push(d('map', [sel, `$${v}`], [...p.rules.filter((r) => r.upstream !== undefined).map((r) => d(r.id, [r.upstream ?? 'none'])), d('default', [target ?? 'none'])]));
    out = `$${v}`;
    guard = d('if', [`($${v}`, '=', 'none)'], [d('return', ['503'])]);
  }
  const host = routeHostVariable(p, n);
  if (host) {
    http.push(d('map', [sel, host], [...p.rules.filter((r) => r.rewriteHost).map((r) => d(r.id, [r.rewriteHost!])), d('default', ['$host'])]));
  }
  return { target: out, guard, host };
}
