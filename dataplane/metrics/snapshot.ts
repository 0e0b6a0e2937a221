/**
 * What one worker reports when the master gathers metrics: its request metrics (prom-client JSON) and its
 * own process figures (CPU of this thread, V8 heap, event-loop delay, connections, requests).
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import v8 from 'node:v8';
import type { Cycle } from '../core/cycle.ts';
import type { Runtime } from '../core/runtime.ts';
import { mailFamilies, upstreamFamilies } from './families.ts';
import type { ConnectionLimiter } from '../event/listeners.ts';
import { HttpMetricsStore, type MetricObject } from '../http/metrics/store.ts';
import { STORE_KEY } from '../http/metrics/module.ts';

/** WorkerMetrics is one worker's snapshot, plain data for postMessage. */
export interface WorkerMetrics {
  worker: number;
  http: MetricObject[];
  cpuUserSeconds: number;
  cpuSystemSeconds: number;
  heapUsedBytes: number;
  heapTotalBytes: number;
  eventLoopLagP99: number;
  connectionsActive: number;
  connectionsAccepted: number;
  requestsTotal: number;
  /** Families read from protocol state (mail sessions, upstream peers), already in prom-client's shape. */
  extra: MetricObject[];
}

const LAG_KEY = 'metrics_event_loop';

/** startWorkerMetrics begins sampling the event loop of the calling thread (once per runtime). */
export function startWorkerMetrics(runtime: Runtime): ReturnType<typeof monitorEventLoopDelay> {
  return runtime.store(LAG_KEY, () => {
    const h = monitorEventLoopDelay({ resolution: 20 });
    h.enable();
    return h;
  });
}

/** workerSnapshot reads the calling thread's figures. */
export function workerSnapshot(runtime: Runtime, limiter: ConnectionLimiter, cycle?: Cycle): WorkerMetrics {
  const store = runtime.store(STORE_KEY, () => new HttpMetricsStore());
  const lag = startWorkerMetrics(runtime);
  const cpu = process.threadCpuUsage();
  const heap = v8.getHeapStatistics();
  const snap: WorkerMetrics = {
    worker: runtime.worker,
    http: store.snapshot(),
    cpuUserSeconds: cpu.user / 1e6,
    cpuSystemSeconds: cpu.system / 1e6,
    heapUsedBytes: heap.used_heap_size,
    heapTotalBytes: heap.total_heap_size,
    eventLoopLagP99: lag.percentile(99) / 1e9,
    connectionsActive: limiter.active,
    connectionsAccepted: limiter.accepted,
    requestsTotal: store.requestsTotal,
    extra: [...mailFamilies(runtime), ...upstreamFamilies(cycle)],
  };
  return snap;
}
