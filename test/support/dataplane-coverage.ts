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

/**
 * substitute keeps every directive the dataplane knows and swaps `proxy_pass|grpc_pass SCHEME://U` for
 * `return 200 "U"`, so the dataplane's own server/location selection, maps, split_clients, ifs, access rules and
 * TLS decide which backend name answers. Upstream blocks and other unknown directives are dropped.
 */
export function substitute(tree: ConfTree): ConfTree {
  const reg = createRegistry();
  const walk = (block: ConfDirective[]): ConfDirective[] =>
    block.flatMap((d): ConfDirective[] => {
      if (d.name === 'proxy_pass' || d.name === 'grpc_pass') return [{ name: 'return', args: ['200', d.args[0]!.replace(/^[a-z]+:\/\//, '')] }];
      if (reg.directives(d.name) === undefined) return [];
      if (!d.block) return [d];
      return [{ ...d, block: OPAQUE_BLOCKS.has(d.name) ? d.block : walk(d.block) }];
    });
  return walk(tree);
}
