/**
 * `ewma` (peak-EWMA, ingress-nginx's default `load-balance`): each peer keeps an exponentially weighted moving
 * average of its response-header latency that decays with a 10 s time constant and jumps straight up to any
 * slower sample (the "peak" part); the score is EWMA × (active requests + 1). With more than two peers two
 * are drawn at random and the lower score wins (power of two choices); otherwise the lower score of all. The
 * average and its timestamp live in the shared zone, so all workers learn from every response.
 */
import type { BalancerKind, UpstreamGroup } from '../group.ts';
import type { Peer } from '../peer.ts';
import { drawIndex } from './random.ts';
import { getWithBackup, pickSmooth } from './round-robin.ts';

const DECAY_MS = 10_000;

/** decayed returns a peer's EWMA (µs) decayed to `now`. */
function decayed(g: UpstreamGroup, p: Peer, now: number): number {
  const v = g.table.ewma(p.slot);
  if (v === 0) return 0;
  const dt = Math.max(0, now - g.table.ewmaStamp(p.slot));
  return v * Math.exp(-dt / DECAY_MS);
}

function score(g: UpstreamGroup, p: Peer, now: number): number {
  return (decayed(g, p, now) + 1) * (g.table.conns(p.slot) + 1) / p.weight;
}

export const ewma: BalancerKind = {
  name: 'ewma',
  init(g) {
    return {
      get(pc, now) {
        return getWithBackup(g, pc, now, () => {
          if (pc.peers.length > 2 && pc.peers === g.peers) {
            const a = drawIndex(g, pc, now);
            const b = a < 0 ? -1 : drawIndex(g, pc, now, a);
            if (a >= 0 && b >= 0) {
              const pa = pc.peers[a]!;
              const pb = pc.peers[b]!;
              return score(g, pb, now) < score(g, pa, now) ? pb : pa;
            }
          }
          let best: Peer | undefined;
          let bestScore = Infinity;
          for (let i = 0; i < pc.peers.length; i++) {
            const p = pc.peers[i]!;
            if (pc.tried[i] || !g.usable(p, now)) continue;
            const s = score(g, p, now);
            if (s < bestScore) {
              best = p;
              bestScore = s;
            }
          }
          return best ?? pickSmooth(g, pc, pc.peers, 0, now);
        });
      },
      free(_pc, p, failed, latency) {
        if (failed) return;
        const now = Date.now();
        const sample = latency * 1000;
        const raw = g.table.ewma(p.slot);
        const w = raw === 0 ? 0 : Math.exp(-Math.max(0, now - g.table.ewmaStamp(p.slot)) / DECAY_MS);
        g.table.setEwma(p.slot, sample > raw ? sample : raw * w + sample * (1 - w), now);
      },
    };
  },
};
