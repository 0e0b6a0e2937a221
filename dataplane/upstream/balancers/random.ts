/**
 * `random [two [least_conn]]` (ngx_http_upstream_random_module): a peer drawn with probability proportional
 * to its weight; with `two`, two distinct draws and the one with fewer active connections (relative to weight)
 * wins. Unusable draws are retried up to 20 times, then round robin takes over.
 */
import type { BalancerKind, PeerChoice, UpstreamGroup } from '../group.ts';
import type { Peer } from '../peer.ts';
import { getWithBackup, pickSmooth } from './round-robin.ts';

/** drawIndex draws a usable, untried peer index by weight; -1 after 20 unusable draws. */
export function drawIndex(g: UpstreamGroup, pc: PeerChoice, now: number, not = -1): number {
  for (let k = 0; k < 20; k++) {
    let w = Math.floor(Math.random() * g.totalWeight);
    let i = 0;
    while (w >= pc.peers[i]!.weight) w -= pc.peers[i++]!.weight;
    if (i !== not && !pc.tried[i] && g.usable(pc.peers[i]!, now)) return i;
  }
  return -1;
}

function randomKind(two: boolean): BalancerKind {
  return {
    name: two ? 'random_two' : 'random',
    init(g) {
      return {
        get(pc, now) {
          return getWithBackup(g, pc, now, () => {
            if (g.totalWeight === 0 || pc.peers !== g.peers) return pickSmooth(g, pc, pc.peers, 0, now);
            const a = drawIndex(g, pc, now);
            if (a < 0) return pickSmooth(g, pc, pc.peers, 0, now);
            if (!two || pc.peers.length < 2) return pc.peers[a];
            const b = drawIndex(g, pc, now, a);
            if (b < 0) return pc.peers[a];
            const pa: Peer = pc.peers[a]!;
            const pb: Peer = pc.peers[b]!;
            return g.table.conns(pb.slot) * pa.weight < g.table.conns(pa.slot) * pb.weight ? pb : pa;
          });
        },
      };
    },
  };
}

export const random = randomKind(false);
export const randomTwo = randomKind(true);
