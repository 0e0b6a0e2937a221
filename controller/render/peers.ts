/**
 * Endpoint-only change detection: a tree is split into its structure (everything but upstream `server` lines)
 * and its peers (upstream name → server lines). Two trees with the same structure hash differ only in peers, so
 * the sink may take the fast path that replaces peers without rebuilding servers.
 */
import crypto from 'node:crypto';
import type { ConfDirective, ConfTree } from '../../dataplane/core/tree.ts';

/** Peers maps an upstream name to its `server` directives. */
export type Peers = Record<string, ConfDirective[]>;

/** hashTree is a SHA-256 of the tree's JSON (trees are deterministic, so equal configs hash equal). */
export function hashTree(tree: unknown): string {
  return crypto.createHash('sha256').update(JSON.stringify(tree)).digest('hex');
}

/** splitPeers returns the tree without upstream server lines, and those lines by upstream. */
export function splitPeers(tree: ConfTree): { structure: ConfTree; peers: Peers } {
  const peers: Peers = {};
  const structure = tree.map((top) => {
    if (top.name !== 'http' || !top.block) return top;
    return {
      ...top,
      block: top.block.map((u) => {
        if (u.name !== 'upstream' || !u.block) return u;
        peers[u.args[0]!] = u.block.filter((x) => x.name === 'server');
        return { ...u, block: u.block.filter((x) => x.name !== 'server') };
      }),
    };
  });
  return { structure, peers };
}

/** redactTree replaces private keys and password files with a placeholder (for logs and `portico conf`). */
export function redactTree(tree: ConfTree): ConfTree {
  return tree.map((x) => {
    const secret = (x.name === 'ssl_certificate_key' || x.name === 'auth_basic_user_file') && x.args[0]?.startsWith('data:');
    const out: ConfDirective = secret ? { ...x, args: ['data:<redacted>'] } : { ...x };
    if (x.block) out.block = redactTree(x.block);
    return out;
  });
}
