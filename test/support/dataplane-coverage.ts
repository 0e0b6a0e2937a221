// Which rendered directives the dataplane on this branch does not know yet (end-to-end tests skip until none).
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
