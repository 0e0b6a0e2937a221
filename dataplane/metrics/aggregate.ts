/**
 * Master-side aggregation: merges every worker's snapshot into one prom-client registry (request families
 * summed across workers with prom-client's AggregatorRegistry; per-worker process figures labelled
 * `worker`), in ingress-nginx's names where the meaning matches and `portico_` names for the rest.
 */
import client from 'prom-client';
import type { MetricObject } from '../http/metrics/store.ts';
import type { WorkerMetrics } from './snapshot.ts';

const P = 'nginx_ingress_controller_';

function gauge(name: string, help: string, values: MetricObject['values'], type: MetricObject['type'] = 'gauge'): MetricObject {
  return { name, help, type, values, aggregator: 'sum' };
}

/** processFamilies turns the workers' process figures into metric objects (one list per worker). */
export function processFamilies(w: WorkerMetrics): MetricObject[] {
  const worker = { worker: String(w.worker) };
  return [
    gauge(`${P}nginx_process_connections`, 'current number of client connections with state {active, reading, writing, waiting}', [
      { value: w.connectionsActive, labels: { state: 'active' } },
    ]),
    gauge(`${P}nginx_process_connections_total`, 'total number of connections with state {accepted, handled}', [
      { value: w.connectionsAccepted, labels: { state: 'accepted' } },
      { value: w.connectionsAccepted, labels: { state: 'handled' } },
    ], 'counter'),
    gauge(`${P}nginx_process_requests_total`, 'total number of client requests', [{ value: w.requestsTotal, labels: {} }], 'counter'),
    gauge('portico_worker_cpu_seconds_total', 'CPU time of a dataplane worker thread (process.threadCpuUsage)', [
      { value: w.cpuUserSeconds + w.cpuSystemSeconds, labels: worker },
    ], 'counter'),
    gauge('portico_worker_heap_used_bytes', 'V8 heap used by a dataplane worker thread', [{ value: w.heapUsedBytes, labels: worker }]),
    gauge('portico_worker_eventloop_lag_p99_seconds', 'p99 event-loop delay of a dataplane worker thread', [{ value: w.eventLoopLagP99, labels: worker }]),
  ];
}

/** aggregateWorkers merges worker snapshots into a registry ready to render as Prometheus text. */
export function aggregateWorkers(snapshots: WorkerMetrics[]): client.Registry {
  const lists = snapshots.map((w) => [...w.http, ...processFamilies(w), ...(w.extra ?? [])]);
  return client.AggregatorRegistry.aggregate(lists as never);
}
