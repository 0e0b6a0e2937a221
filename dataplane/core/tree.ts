/**
 * The configuration tree: one type shared by every producer (the nginx.conf parser, the Kubernetes renderer)
 * and consumed by the dataplane's configuration engine. It is plain data so that it can cross thread
 * boundaries and be hashed, diffed and printed back as nginx.conf text.
 */

/** ConfDirective is one directive; a block directive (`http`, `server`, `location` …) carries its children. */
export interface ConfDirective {
  name: string;
  args: string[];
  block?: ConfDirective[];
  /** Where the directive was read from; rendered trees name their source here so errors point somewhere. */
  file?: string;
  line?: number;
}

/** ConfTree is the main context: the top-level list of directives. */
export type ConfTree = ConfDirective[];

/** directive builds a ConfDirective; renderers use it to keep trees terse. */
export function directive(name: string, args: string[] = [], block?: ConfDirective[]): ConfDirective {
  return block ? { name, args, block } : { name, args };
}

/** stripPositions returns a copy of the tree without file/line, for comparing trees from different sources. */
export function stripPositions(tree: ConfTree): ConfTree {
  return tree.map((d) => (d.block ? { name: d.name, args: d.args, block: stripPositions(d.block) } : { name: d.name, args: d.args }));
}
