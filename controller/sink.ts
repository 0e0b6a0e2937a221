/**
 * The dataplane behind a small interface (docs/render-contract.md, section 3), and the Event sink. Tests use
 * fakes; bin/portico wires the in-process Master.
 */
import type { ConfDirective, ConfTree } from '../dataplane/core/tree.ts';
import type { WorkerMetrics } from '../dataplane/metrics/snapshot.ts';
import type { ModelEvent } from './model/types.ts';

/** ApplyResult is the dataplane's answer to a push. */
export interface ApplyResult {
  ok: boolean;
  error?: string;
}

/** DataplaneSink receives rendered trees (atomic swap) and, optionally, peer-only updates. */
export interface DataplaneSink {
  apply(tree: ConfTree): Promise<ApplyResult>;
  applyPeers?(peers: Record<string, ConfDirective[]>): Promise<ApplyResult>;
  /** workerMetrics returns the dataplane workers' metric snapshots, for /metrics. */
  workerMetrics?(): Promise<WorkerMetrics[]>;
}

/** EventSink records user-facing events (Kubernetes Events in cluster mode). */
export interface EventSink {
  record(event: ModelEvent): void;
}
