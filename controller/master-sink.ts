/**
 * The in-process dataplane: the controller's main thread is also the dataplane master (docs/ARCHITECTURE.md).
 * The master starts with the first rendered tree, so it never listens before the configuration is known.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Master } from '../dataplane/process/master.ts';
import type { ConfDirective, ConfTree } from '../dataplane/core/tree.ts';
import type { WorkerMetrics } from '../dataplane/metrics/snapshot.ts';
import type { ApplyResult, DataplaneSink } from './sink.ts';

/** MasterSink starts the Master on the first apply and reloads it afterwards. */
export class MasterSink implements DataplaneSink {
  #master?: Master;
  #prefix: string;
  /** Set by quit(): a first apply still starting must not leave a master running after shutdown. */
  #closed = false;

  constructor(prefix = fs.mkdtempSync(path.join(os.tmpdir(), 'portico-'))) {
    this.#prefix = prefix;
    // nginx's relative defaults (logs/access.log, logs/error.log) live under the prefix.
    fs.mkdirSync(path.join(prefix, 'logs'), { recursive: true });
  }

  /** apply starts or reloads the dataplane; failures come back in nginx's wording. */
  async apply(tree: ConfTree): Promise<ApplyResult> {
    if (this.#closed) return { ok: false, error: 'shutting down' };
    if (this.#master) return this.#master.apply(tree);
    try {
      const master = await Master.start({ prefix: this.#prefix, confFile: path.join(this.#prefix, 'portico.conf'), tree, pidFile: false, errorLog: 'stderr' });
      if (this.#closed) {
        await master.quit();
        return { ok: false, error: 'shutting down' };
      }
      this.#master = master;
      return { ok: true };
    } catch (e) {
      return { ok: false, error: (e as Error).message };
    }
  }

  /** applyPeers replaces upstream `server` lines in the running dataplane without rebuilding servers. */
  async applyPeers(peers: Record<string, ConfDirective[]>): Promise<ApplyResult> {
    if (!this.#master) return { ok: false, error: 'the dataplane is not running' };
    return this.#master.applyPeers(peers);
  }

  /** workerMetrics gathers every dataplane worker's metrics snapshot (empty before the first apply). */
  async workerMetrics(): Promise<WorkerMetrics[]> {
    return this.#master ? this.#master.metrics() : [];
  }

  /** quit stops the dataplane gracefully (in-flight requests finish). */
  async quit(): Promise<void> {
    this.#closed = true;
    await this.#master?.quit();
  }
}
