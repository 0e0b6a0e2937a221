import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const readGc = fileURLToPath(new URL('../../../dataplane/event/read-gc.ts', import.meta.url));

/**
 * majorGcsInWorker starts a fresh process that (optionally) calls reserveOldSpace, then a worker thread that keeps
 * about 45 MiB of small objects alive, and returns how many full GCs the worker ran while building them.
 */
function majorGcsInWorker(floor: boolean): number {
  const script = `
    import { Worker } from 'node:worker_threads';
    import { reserveOldSpace } from ${JSON.stringify(readGc)};
    if (${floor}) reserveOldSpace();
    const w = new Worker(\`
      const { PerformanceObserver, constants } = process.getBuiltinModule('node:perf_hooks');
      const { parentPort } = process.getBuiltinModule('node:worker_threads');
      let major = 0;
      new PerformanceObserver((l) => { for (const e of l.getEntries()) if (e.detail.kind === constants.NODE_PERFORMANCE_GC_MAJOR) major++; })
        .observe({ entryTypes: ['gc'] });
      const keep = [];
      for (let i = 0; i < 30; i++) { const a = []; for (let j = 0; j < 16384; j++) a.push({ i, j, s: 'x' + j }); keep.push(a); }
      setTimeout(() => parentPort.postMessage(major), 50);
    \`, { eval: true });
    w.on('message', (m) => { console.log(m); w.terminate(); });`;
  return Number(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' }).trim());
}

test('worker threads started after reserveOldSpace grow a 45 MiB heap without a full GC', () => {
  assert.equal(majorGcsInWorker(true), 0);
  // The control: without the floor V8 starts marking well before that, which is what made idle-then-busy workers slow.
  assert.ok(majorGcsInWorker(false) >= 1);
});
