/**
 * Hash balancers: `ip_hash` (nginx's exact walk over the first three IPv4 octets or all sixteen IPv6 bytes),
 * `hash key` (CRC32 of the key, rehashed on retries) and `hash key consistent` (a ketama-style ring: 160 points
 * per unit of weight placed by hashing the peer's address, so adding or removing a peer moves only the keys
 * that peer owns). After 20 unusable picks each falls back to round robin, as nginx does.
 */
import { crc32 } from 'node:zlib';
import type { BalancerKind } from '../group.ts';
import type { Peer } from '../peer.ts';
import { getWithBackup, pickSmooth } from './round-robin.ts';

/** byWeight maps w ∈ [0, totalWeight) onto a peer index by walking the weights. */
function byWeight(peers: Peer[], w: number): number {
  let i = 0;
  while (w >= peers[i]!.weight) {
    w -= peers[i]!.weight;
    i++;
  }
  return i;
}

/** addressBytes returns the bytes ip_hash uses: three IPv4 octets, or sixteen IPv6 bytes. */
export function addressBytes(addr: string): number[] {
  if (addr.includes('.') && !addr.includes(':')) return addr.split('.').slice(0, 3).map(Number);
  const [head, tail] = addr.includes('::') ? addr.split('::') : [addr, undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = [...h, ...Array(Math.max(0, 8 - h.length - t.length)).fill('0'), ...t];
  const out: number[] = [];
  for (const g of groups.slice(0, 8)) {
    const v = parseInt(g || '0', 16);
    out.push((v >> 8) & 255, v & 255);
  }
  return out;
}

export const ipHash: BalancerKind = {
  name: 'ip_hash',
  init(g) {
    return {
      get(pc, now) {
        return getWithBackup(g, pc, now, () => {
          if (g.totalWeight === 0) return undefined;
          const bytes = addressBytes(pc.key);
          let hash = pc.hash < 0 ? 89 : pc.hash;
          for (;;) {
            for (const b of bytes) hash = (hash * 113 + b) % 6271;
            const i = byWeight(pc.peers, hash % g.totalWeight);
            const p = pc.peers[i]!;
            if (!pc.tried[i] && g.usable(p, now)) {
              pc.hash = hash;
              return p;
            }
            if (++pc.hashTries > 20) return pickSmooth(g, pc, pc.peers, 0, now);
          }
        });
      },
    };
  },
};

export const hashKey: BalancerKind = {
  name: 'hash',
  init(g) {
    return {
      get(pc, now) {
        return getWithBackup(g, pc, now, () => {
          if (g.totalWeight === 0) return undefined;
          let hash = crc32(pc.key);
          for (;;) {
            const i = byWeight(pc.peers, hash % g.totalWeight);
            const p = pc.peers[i]!;
            if (!pc.tried[i] && g.usable(p, now)) return p;
            if (++pc.hashTries > 20) return pickSmooth(g, pc, pc.peers, 0, now);
            hash = crc32(`${pc.hashTries}${pc.key}`);
          }
        });
      },
    };
  },
};

/** Ring is the consistent-hash continuum: sorted point hashes and the peer index of each point. */
interface Ring {
  points: Uint32Array;
  owners: Uint32Array;
}

function buildRing(peers: Peer[]): Ring {
  const pts: [number, number][] = [];
  peers.forEach((p, i) => {
    for (let j = 0; j < 160 * p.weight; j++) pts.push([crc32(`${p.name}-${j}`), i]);
  });
  pts.sort((a, b) => a[0] - b[0]);
  return { points: Uint32Array.from(pts, (x) => x[0]), owners: Uint32Array.from(pts, (x) => x[1]) };
}

/** ringFind returns the first point at or after `hash` (wrapping). */
function ringFind(ring: Ring, hash: number): number {
  let lo = 0;
  let hi = ring.points.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (ring.points[mid]! < hash) lo = mid + 1;
    else hi = mid;
  }
  return lo % ring.points.length;
}

export const hashConsistent: BalancerKind = {
  name: 'hash_consistent',
  init(g) {
    const ring = buildRing(g.peers);
    return {
      get(pc, now) {
        return getWithBackup(g, pc, now, () => {
          if (ring.points.length === 0) return undefined;
          // A replacement rebuilt the ring for newer peer lists; requests that started before use round robin.
          if (pc.peers !== g.peers) return pickSmooth(g, pc, pc.peers, 0, now);
          let at = pc.hash < 0 ? ringFind(ring, crc32(pc.key)) : pc.hash;
          for (;;) {
            const i = ring.owners[at]!;
            const p = pc.peers[i]!;
            at = (at + 1) % ring.points.length;
            if (!pc.tried[i] && g.usable(p, now)) {
              pc.hash = at;
              return p;
            }
            if (++pc.hashTries > 20) return pickSmooth(g, pc, pc.peers, 0, now);
          }
        });
      },
    };
  },
};
