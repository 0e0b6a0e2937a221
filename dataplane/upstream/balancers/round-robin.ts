/**
 * Smooth weighted round robin (ngx_http_upstream_get_peer): every usable peer's current weight grows by its
 * effective weight, the largest wins and gives back the total. Weights 5,1,1 give a a b a c a a. Backup peers
 * are used only when no primary peer is usable; when none is usable at all the request fails with "no live
 * upstreams" and every failure count is reset so the next request probes again, as nginx does.
 */
import type { Balancer, BalancerKind, PeerChoice, UpstreamGroup } from '../group.ts';
import type { Peer } from '../peer.ts';

/** pickSmooth runs one round of the smooth weighted round robin over `list` (offset into tried[]). */
export function pickSmooth(g: UpstreamGroup, pc: PeerChoice, list: Peer[], offset: number, now: number, only?: (p: Peer) => boolean): Peer | undefined {
  let best: Peer | undefined;
  let total = 0;
  for (let i = 0; i < list.length; i++) {
    const p = list[i]!;
    if (pc.tried[offset + i] || !g.usable(p, now)) continue;
    if (only && !only(p)) continue;
    p.currentWeight += p.effectiveWeight;
    total += p.effectiveWeight;
    if (p.effectiveWeight < p.weight) p.effectiveWeight++;
    if (best === undefined || p.currentWeight > best.currentWeight) best = p;
  }
  if (best) best.currentWeight -= total;
  return best;
}

/** getWithBackup tries the primary list with `pick`, then the backups by round robin, then declares BUSY. */
export function getWithBackup(g: UpstreamGroup, pc: PeerChoice, now: number, pick: () => Peer | undefined): Peer | undefined {
  if (g.single) {
    const p = pc.peers[0]!;
    if (pc.tried[0] || p.down || (p.maxConns && g.table.conns(p.slot) >= p.maxConns)) return busy(g, pc);
    return p;
  }
  const p = pick() ?? pickSmooth(g, pc, pc.backup, pc.peers.length, now);
  return p ?? busy(g, pc);
}

function busy(g: UpstreamGroup, pc: PeerChoice): undefined {
  pc.busy = true;
  g.allFailed();
  return undefined;
}

export const roundRobin: BalancerKind = {
  name: 'round_robin',
  init(g: UpstreamGroup): Balancer {
    return { get: (pc, now) => getWithBackup(g, pc, now, () => pickSmooth(g, pc, pc.peers, 0, now)) };
  },
};
