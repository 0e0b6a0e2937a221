/**
 * Metric families read from protocol state kept in a worker's Runtime: mail sessions by protocol and auth
 * result, and upstream peer health. Peer state lives in shared memory (one view for all workers), so every
 * worker reports the same values and the master keeps one copy (aggregator `first`), while per-worker counters
 * such as mail sessions are summed.
 */
import type { Cycle } from '../core/cycle.ts';
import type { Runtime } from '../core/runtime.ts';
import type { MetricObject } from '../http/metrics/store.ts';
import { MailStats } from '../mail/stats.ts';
import { cycleUpstreams } from '../upstream/upstream-module.ts';

const PROTOCOLS = ['smtp', 'imap', 'pop3'] as const;

/** mailFamilies turns the worker's MailStats into counters and gauges (empty when no mail block ran). */
export function mailFamilies(runtime: Runtime): MetricObject[] {
  const stats = runtime.store<MailStats | undefined>('mail', () => undefined);
  if (!stats) return [];
  const sessions: MetricObject = { name: 'portico_mail_sessions_total', help: 'Mail sessions accepted, by protocol', type: 'counter', values: [], aggregator: 'sum' };
  const active: MetricObject = { name: 'portico_mail_sessions_active', help: 'Mail sessions open now, by protocol', type: 'gauge', values: [], aggregator: 'sum' };
  const auth: MetricObject = { name: 'portico_mail_auth_total', help: 'auth_http answers, by protocol and result (ok, fail, error)', type: 'counter', values: [], aggregator: 'sum' };
  const upstream: MetricObject = { name: 'portico_mail_upstream_errors_total', help: 'Upstream connect or login failures after a successful auth, by protocol', type: 'counter', values: [], aggregator: 'sum' };
  for (const protocol of PROTOCOLS) {
    sessions.values.push({ value: stats.sessions[protocol], labels: { protocol } });
    active.values.push({ value: stats.active[protocol], labels: { protocol } });
    for (const result of ['ok', 'fail', 'error'] as const) auth.values.push({ value: stats.auth[protocol][result], labels: { protocol, result } });
    upstream.values.push({ value: stats.upstreamErrors[protocol], labels: { protocol } });
  }
  return [sessions, active, auth, upstream];
}

/** upstreamFamilies reports each upstream peer's health, connections and latency EWMA from shared state. */
export function upstreamFamilies(cycle: Cycle | undefined): MetricObject[] {
  const umcf = cycle ? cycleUpstreams(cycle) : undefined;
  if (!umcf) return [];
  const up: MetricObject = { name: 'portico_upstream_peer_up', help: 'Whether an upstream peer takes requests (0: down or failed within fail_timeout)', type: 'gauge', values: [], aggregator: 'first' };
  const fails: MetricObject = { name: 'portico_upstream_peer_fails', help: 'Failures counted against a peer in its current fail_timeout window', type: 'gauge', values: [], aggregator: 'first' };
  const conns: MetricObject = { name: 'portico_upstream_peer_active_connections', help: 'Requests in flight to a peer, across workers', type: 'gauge', values: [], aggregator: 'first' };
  const ewma: MetricObject = { name: 'portico_upstream_peer_ewma_seconds', help: 'Peak-EWMA response time of a peer (ewma balancer)', type: 'gauge', values: [], aggregator: 'first' };
  const now = Date.now();
  for (const g of umcf.groups.values()) {
    if (g.implicit) continue;
    for (const p of [...g.peers, ...g.backup]) {
      const labels = { upstream: g.name, peer: p.name, backup: p.backup ? 'true' : 'false' };
      up.values.push({ value: g.usable(p, now) ? 1 : 0, labels });
      fails.values.push({ value: g.table.fails(p.slot), labels });
      conns.values.push({ value: g.table.conns(p.slot), labels });
      ewma.values.push({ value: g.table.ewma(p.slot) / 1e6, labels });
    }
  }
  return [up, fails, conns, ewma];
}
