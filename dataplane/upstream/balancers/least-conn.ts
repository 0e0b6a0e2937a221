/**
 * least_conn (ngx_http_upstream_least_conn_module): the usable peer with the fewest active connections
 * relative to its weight; ties are broken by the smooth weighted round robin among the tied peers. Active
 * connections are counted in the shared zone, so every worker sees every other worker's load.
 */
import type { BalancerKind } from '../group.ts';
import type { Peer } from '../peer.ts';
import { getWithBackup, pickSmooth } from './round-robin.ts';

export const leastConn: BalancerKind = {
  name: 'least_conn',
  init(g) {
    return {
      get(pc, now) {
        return getWithBackup(g, pc, now, () => {
          let best: Peer | undefined;
          let bestConns = 0;
          let many = false;
          const t = g.table;
          for (let i = 0; i < pc.peers.length; i++) {
            const p = pc.peers[i]!;
            if (pc.tried[i] || !g.usable(p, now)) continue;
            const c = t.conns(p.slot);
            if (best === undefined || c * best.weight < bestConns * p.weight) {
              best = p;
              bestConns = c;
              many = false;
            } else if (c * best.weight === bestConns * p.weight) many = true;
          }
          if (!best || !many) return best;
          const b = best;
          const bc = bestConns;
          return pickSmooth(g, pc, pc.peers, 0, now, (p) => t.conns(p.slot) * b.weight === bc * p.weight);
        });
      },
    };
  },
};
