/**
 * startCycleWorker runs a configuration in a worker thread (test/support/cycle-worker.ts) and returns once it
 * listens; `stop` ends it, `stats` reads the mail counters of that worker.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';

/** CycleWorker is a running configuration. */
export interface CycleWorker {
  prefix: string;
  errorLog: string;
  stop(): Promise<void>;
  stats(): Promise<any>;
  /** readLog returns the error log written so far. */
  readLog(): string;
}

/**
 * startCycleWorker serves `conf` (nginx.conf text; `%PREFIX%` becomes a temp folder) in a worker thread;
 * `setup` may put files (certificates) into the folder first.
 */
export async function startCycleWorker(conf: string, setup?: (prefix: string) => void): Promise<CycleWorker> {
  const prefix = fs.mkdtempSync(path.join(os.tmpdir(), 'portico-mail-'));
  setup?.(prefix);
  const errorLog = path.join(prefix, 'error.log');
  const text = conf.replaceAll('%PREFIX%', prefix);
  const worker = new Worker(new URL('./cycle-worker.ts', import.meta.url), { workerData: { conf: text, prefix } });
  const first = await new Promise<{ ready?: boolean; error?: string }>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  if (first.error) {
    await worker.terminate();
    throw new Error(first.error);
  }
  const ask = <T>(msg: object, key: string): Promise<T> =>
    new Promise((resolve) => {
      const on = (m: Record<string, unknown>) => {
        if (key in m) {
          worker.off('message', on);
          resolve(m[key] as T);
        }
      };
      worker.on('message', on);
      worker.postMessage(msg);
    });
  return {
    prefix,
    errorLog,
    stats: () => ask({ stats: true }, 'stats'),
    async stop() {
      await Promise.race([ask({ stop: true }, 'stopped'), new Promise((r) => setTimeout(r, 2000))]);
      await worker.terminate();
    },
    readLog: () => (fs.existsSync(errorLog) ? fs.readFileSync(errorLog, 'utf8') : ''),
  };
}
