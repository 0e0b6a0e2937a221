// Which rendered directives the dataplane on this branch does not know yet (end-to-end tests skip until none),
// and the substitute tree used meanwhile: proxy_pass U becomes return 200 "U", unknown directives are dropped.
import type { ConfDirective, ConfTree } from '../../dataplane/core/tree.ts';
import { createRegistry } from '../../dataplane/modules.ts';

const OPAQUE_BLOCKS = new Set(['map', 'split_clients', 'types']);

/** unknownDirectives lists directive names in the tree that no dataplane module declares. */
export function unknownDirectives(tree: ConfTree): string[] {
  const reg = createRegistry();
  const out = new Set<string>();
  const walk = (b: ConfDirective[]) => {
    for (const d of b) {
      if (reg.directives(d.name) === undefined) out.add(d.name);
      if (d.block && !OPAQUE_BLOCKS.has(d.name)) walk(d.block);
    }
  };
  walk(tree);
  return [...out].sort();
}

/** substitute keeps what the HTTP core knows today: servers, names, plain-HTTP listens, locations, returns. */
export function substitute(tree: ConfTree): ConfTree {
  const http = tree.find((d) => d.name === 'http')!;
  const servers = http.block!.filter((d) => d.name === 'server').map((srv) => ({
    name: 'server',
    args: [],
    block: srv.block!.flatMap((d): ConfDirective[] => {
      if (d.name === 'listen') return d.args.includes('ssl') ? [] : [d];
      if (d.name === 'server_name') return [d];
      if (d.name !== 'location' || d.args[0]!.startsWith('@') || d.block!.some((x) => x.name === 'internal')) return [];
      const pass = d.block!.find((x) => x.name === 'proxy_pass');
      const ret = d.block!.find((x) => x.name === 'return');
      const body = pass ? [{ name: 'return', args: ['200', pass.args[0]!.replace('http://', '')] }] : ret ? [ret] : [];
      return [{ name: 'location', args: d.args, block: body }];
    }),
  }));
  return [{ name: 'events', args: [], block: [] }, { name: 'http', args: [], block: servers }];
}
