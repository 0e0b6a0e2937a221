/** The messages between the master thread and its worker threads (structured-clone data only). */
import type { ConfTree } from '../core/tree.ts';
import type { ZoneDescriptor } from '../core/zones.ts';
import type { WorkerMetrics } from '../metrics/snapshot.ts';

/** ToWorker is what the master sends: reload carries an id the reply echoes. */
export type ToWorker =
  | { type: 'reload'; id: number; tree: ConfTree; zones: ZoneDescriptor[] }
  | { type: 'metrics'; id: number }
  | { type: 'reopen' }
  | { type: 'quit' }
  | { type: 'stop' };

/** FromWorker is what a worker answers: ready/failed once at start, a reply per reload or metrics request. */
export type FromWorker =
  | { type: 'ready' }
  | { type: 'failed'; error: string }
  | { type: 'reply'; id: number; error?: string }
  | { type: 'metrics'; id: number; data: WorkerMetrics };
