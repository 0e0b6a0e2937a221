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
import { histogramValues } from './histogram.ts';
import { FAIL_REASONS } from '../upstream/peer.ts';
import { cycleUpstreams } from '../upstream/upstream-module.ts';

const PROTOCOLS = ['smtp', 'imap', 'pop3'] as const;

/**
 * mailFamilies turns the worker's MailStats into the contract's families (docs/metrics.md): sessions by protocol
 * and auth result (success, failure and temporary_failure count auth_http answers; aborted counts sessions that
 * ended before any answer), sessions open now and auth_http round trip times. Empty when no mail block ran in this worker.
 */
export function mailFamilies(runtime: Runtime): MetricObject[] {
  const stats = runtime.store<MailStats | undefined>('mail', () => undefined);
  if (!stats) return [];
  const sessions: MetricObject = { name: 'portico_mail_sessions_total', help: 'Mail sessions by protocol and auth result', type: 'counter', values: [], aggregator: 'sum' };
  const active: MetricObject = { name: 'portico_mail_active_sessions', help: 'Mail sessions open now, by protocol', type: 'gauge', values: [], aggregator: 'sum' };
  const upstream: MetricObject = { name: 'portico_mail_upstream_errors_total', help: 'Upstream connect or login failures after a successful auth, by protocol', type: 'counter', values: [], aggregator: 'sum' };
  const duration: MetricObject = { name: 'portico_mail_auth_duration_seconds', help: 'auth_http round trip time, by protocol', type: 'histogram', values: [], aggregator: 'sum' };
  for (const protocol of PROTOCOLS) {
    const a = stats.auth[protocol];
    const h = stats.authDuration[protocol];
    histogramValues(duration.values, duration.name, h.buckets, h.counts, h.sum, h.count, { protocol });
    const ended = stats.sessions[protocol] - stats.active[protocol];
    const answered = a.ok + a.fail + a.error;
    sessions.values.push({ value: a.ok, labels: { protocol, auth_result: 'success' } });
    sessions.values.push({ value: a.fail, labels: { protocol, auth_result: 'failure' } });
    sessions.values.push({ value: a.error, labels: { protocol, auth_result: 'temporary_failure' } });
    sessions.values.push({ value: Math.max(0, ended - answered), labels: { protocol, auth_result: 'aborted' } });
    active.values.push({ value: stats.active[protocol], labels: { protocol } });
    upstream.values.push({ value: stats.upstreamErrors[protocol], labels: { protocol } });
  }
  return [sessions, active, upstream, duration];
}

/** upstreamFamilies reports each upstream peer's health, connections, latency EWMA and failures from shared state. */
export function upstreamFamilies(cycle: Cycle | undefined): MetricObject[] {
  const umcf = cycle ? cycleUpstreams(cycle) : undefined;
  if (!umcf) return [];
  const up: MetricObject = { name: 'portico_upstream_peer_up', help: 'Whether an upstream peer takes requests (0: down or failed within fail_timeout)', type: 'gauge', values: [], aggregator: 'first' };
  const fails: MetricObject = { name: 'portico_upstream_peer_fails', help: 'Failures counted against a peer in its current fail_timeout window', type: 'gauge', values: [], aggregator: 'first' };
  const conns: MetricObject = { name: 'portico_upstream_peer_active_connections', help: 'Requests in flight to a peer, across workers', type: 'gauge', values: [], aggregator: 'first' };
  const ewma: MetricObject = { name: 'portico_upstream_peer_ewma_seconds', help: 'Peak-EWMA response time of a peer (ewma balancer)', type: 'gauge', values: [], aggregator: 'first' };
  // Counted in the shared slot by whichever worker saw the failure, so one copy is the pod's total.
  const failures: MetricObject = { name: 'portico_upstream_peer_failures_total', help: 'Failed tries counted against an upstream peer, by reason', type: 'counter', values: [], aggregator: 'first' };
  const now = Date.now();
  for (const g of umcf.groups.values()) {
    if (g.implicit) continue;
    for (const p of [...g.peers, ...g.backup]) {
      const labels = { upstream: g.name, peer: p.name, backup: p.backup ? 'true' : 'false' };
      up.values.push({ value: g.usable(p, now) ? 1 : 0, labels });
      fails.values.push({ value: g.table.fails(p.slot), labels });
      conns.values.push({ value: g.table.conns(p.slot), labels });
      ewma.values.push({ value: g.table.ewma(p.slot) / 1e6, labels });
      FAIL_REASONS.forEach((reason, i) => failures.values.push({ value: g.table.failures(p.slot, i + 1), labels: { upstream: g.name, peer: p.name, reason } }));
    }
  }
  return [up, fails, conns, ewma, failures];
}
