/**
 * Location lookup (ngx_http_core_find_location): exact `=` first; then the longest prefix (a `^~` prefix skips
 * regexes); nested locations of the matched prefix; then regex locations of the level in order of appearance.
 * Each level's static names are kept in maps keyed by the name and probed by decreasing length, so a lookup
 * costs one map probe per distinct prefix length rather than a scan of every location.
 */
import type { CoreLocConf } from './core-conf.ts';

export class LocationTree {
  readonly exact = new Map<string, CoreLocConf>();
  readonly prefix = new Map<string, CoreLocConf>();
  readonly regex: CoreLocConf[] = [];
  readonly named = new Map<string, CoreLocConf>();
  lengths: number[] = [];

  /** build indexes a level's children; returns the name of a duplicate location, if any. */
  static build(children: CoreLocConf[]): LocationTree | string {
    const t = new LocationTree();
    const lengths = new Set<number>();
    for (const c of children) {
      switch (c.match) {
        case '=':
          if (t.exact.has(c.name)) return c.name;
          t.exact.set(c.name, c);
          break;
        case '':
        case '^~':
          if (t.prefix.has(c.name)) return c.name;
          t.prefix.set(c.name, c);
          lengths.add(c.name.length);
          break;
        case '~':
        case '~*':
          t.regex.push(c);
          break;
        case '@':
          if (t.named.has(c.name)) return c.name;
          t.named.set(c.name, c);
          break;
      }
    }
    t.lengths = [...lengths].sort((a, b) => b - a);
    return t;
  }
}

/** Result codes of a lookup, as nginx's: FOUND_EXACT (NGX_OK), REDIRECT (NGX_DONE, auto slash), PREFIX (NGX_AGAIN), NONE. */
export const FOUND_EXACT = 0;
export const REDIRECT = 1;
export const PREFIX = 2;
export const NONE = 3;

/** LocationSearch carries the current match through the recursive lookup. */
export interface LocationSearch {
  loc: CoreLocConf;
  captures: RegExpExecArray | undefined;
}

function findStatic(s: LocationSearch, tree: LocationTree, uri: string): number {
  const exact = tree.exact.get(uri);
  if (exact) {
    s.loc = exact;
    return FOUND_EXACT;
  }
  let rc = NONE;
  let matched = -1;
  for (const len of tree.lengths) {
    if (len > uri.length) continue;
    const p = tree.prefix.get(len === uri.length ? uri : uri.slice(0, len));
    if (p) {
      s.loc = p;
      rc = PREFIX;
      matched = len;
      break;
    }
  }
  // `/dir` asked where only `/dir/` proxies: nginx answers with a redirect to the slash form, unless a
  // location named exactly `/dir` exists.
  if (matched !== uri.length) {
    const slash = tree.prefix.get(uri + '/') ?? tree.exact.get(uri + '/');
    if (slash?.autoRedirect) {
      s.loc = slash;
      return REDIRECT;
    }
  }
  return rc;
}

/** findLocation selects the location for `uri` under `parent` (a server-level or location conf). */
export function findLocation(s: LocationSearch, parent: CoreLocConf, uri: string): number {
  const tree = parent.tree;
  if (!tree) return NONE;
  let noregex = false;
  let rc = findStatic(s, tree, uri);
  if (rc === PREFIX) {
    noregex = s.loc.match === '^~';
    const nested = findLocation(s, s.loc, uri);
    if (nested !== NONE) rc = nested;
  }
  if (rc === FOUND_EXACT || rc === REDIRECT) return rc;
  if (!noregex) {
    for (const loc of tree.regex) {
      const m = loc.regex!.exec(uri);
      if (m) {
        s.loc = loc;
        s.captures = m;
        findLocation(s, loc, uri);
        return FOUND_EXACT;
      }
    }
  }
  return rc;
}
