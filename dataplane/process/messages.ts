/** The messages between the master thread and its worker threads (structured-clone data only). */
import type { HostTable } from '../core/cycle.ts';
import type { ConfDirective, ConfTree } from '../core/tree.ts';
import type { ZoneDescriptor } from '../core/zones.ts';
import type { WorkerMetrics } from '../metrics/snapshot.ts';

/**
 * ToWorker is what the master sends: reload and peers (upstream `server` lines by upstream) carry an id the
 * reply echoes, and the master's answers for their host names (workers never look names up themselves).
 */
export type ToWorker =
  | { type: 'reload'; id: number; tree: ConfTree; zones: ZoneDescriptor[]; hosts: HostTable | undefined }
  | { type: 'peers'; id: number; peers: Record<string, ConfDirective[]>; hosts: HostTable | undefined }
  | { type: 'metrics'; id: number }
  | { type: 'reopen' }
  | { type: 'quit' }
  | { type: 'stop' };

/** FromWorker is what a worker answers: ready/failed once at start, a reply per reload, peers or metrics request. */
export type FromWorker =
  | { type: 'ready' }
  | { type: 'failed'; error: string }
  | { type: 'reply'; id: number; error?: string }
  | { type: 'metrics'; id: number; data: WorkerMetrics };
