/**
 * `server name resolve` in an upstream with a `zone` (nginx ≥ 1.27.3): each worker looks the name up with the
 * upstream's resolver, again when the answer's TTL (or `valid=`) runs out, and replaces the group's peers with
 * the answers through the same path as run-time peer pushes (UpstreamGroup.setPeers), so peers whose address
 * stays keep their shared state and idle connections. Workers resolve independently; the zone's slots are
 * keyed by address, so they still share each peer's state.
 */
import type { ErrorLog } from '../core/log.ts';
import { resolverOf, type ResolverSpec } from '../event/resolver.ts';
import type { UpstreamGroup } from './group.ts';
import type { PeerSpec } from './peer.ts';

/** ResolvePlan is what an upstream with `resolve` servers needs at run time (kept in group.data). */
export interface ResolvePlan {
  /** Servers with fixed addresses, and the `resolve` ones (host is the name). */
  fixed: PeerSpec[];
  named: PeerSpec[];
  resolver: ResolverSpec;
  timeout: number;
}

/** Shortest wait between two lookups of one name (an answer with TTL 0 must not spin). */
const MIN_INTERVAL = 1000;
/** Retry after a failed lookup when `valid=` is not set (nginx's 10 s for errors). */
const ERROR_RETRY = 10_000;

/** startResolving begins re-resolving `plan.named` for group `g`; the returned function stops it. */
export function startResolving(g: UpstreamGroup, plan: ResolvePlan, log: () => ErrorLog | undefined): () => void {
  const resolver = resolverOf(plan.resolver);
  const current: string[][] = plan.named.map(() => []);
  const timers: (NodeJS.Timeout | undefined)[] = [];
  let stopped = false;

  const apply = (): void => {
    const specs = [...plan.fixed];
    plan.named.forEach((s, i) => {
      for (const ip of current[i]!) {
        const name = ip.includes(':') ? `[${ip}]:${s.port}` : `${ip}:${s.port}`;
        specs.push({ ...s, name, host: ip, resolve: false });
      }
    });
    g.setPeers(specs);
  };

  const lookup = (i: number): void => {
    const s = plan.named[i]!;
    resolver.resolve(s.host, plan.timeout, (err, answer) => {
      if (stopped) return;
      let wait: number;
      if (err) {
        log()?.log('error', `${s.host} could not be resolved (${err.code}: ${err.text}) while resolving in upstream "${g.name}"`);
        // A name that no longer exists loses its peers; other failures keep the last answer (nginx does too).
        if (err.code === 3 && current[i]!.length) {
          current[i] = [];
          apply();
        }
        wait = plan.resolver.valid ?? ERROR_RETRY;
      } else {
        const addrs = answer!.addrs;
        const prev = current[i]!;
        if (prev.length !== addrs.length || prev.some((a, j) => a !== addrs[j])) {
          current[i] = addrs;
          apply();
        }
        wait = answer!.expires - Date.now();
      }
      timers[i] = setTimeout(() => lookup(i), Math.max(wait, MIN_INTERVAL));
      timers[i]!.unref();
    });
  };

  plan.named.forEach((_, i) => lookup(i));
  return () => {
    stopped = true;
    for (const t of timers) clearTimeout(t);
  };
}
