import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const readGc = fileURLToPath(new URL('../../../dataplane/event/read-gc.ts', import.meta.url));

/**
 * majorGcsInWorker starts a fresh process that (optionally) calls setHeapFlags, then a worker thread that keeps
 * about 45 MiB of small objects alive, and returns how many full GCs the worker ran while building them.
 */
function majorGcsInWorker(floor: boolean): number {
  const script = `
    import { Worker } from 'node:worker_threads';
    import { setHeapFlags } from ${JSON.stringify(readGc)};
    if (${floor}) setHeapFlags();
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

test('worker threads started after setHeapFlags grow a 45 MiB heap without a full GC', () => {
  assert.equal(majorGcsInWorker(true), 0);
  // The control: without the floor V8 starts marking well before that, which is what made idle-then-busy workers slow.
  assert.ok(majorGcsInWorker(false) >= 1);
});

/**
 * oldSpaceGrowthInWorker (KiB) starts a fresh process that (optionally) calls setHeapFlags, then a worker that
 * first keeps objects from one allocation site alive across twenty scavenges (what V8 takes as a long-lived site),
 * then makes 300,000 short-lived objects from the same site and measures how much the old generation grew.
 */
function oldSpaceGrowthInWorker(flags: boolean): number {
  const script = `
    import v8 from 'node:v8';
    import { Worker } from 'node:worker_threads';
    import { setHeapFlags } from ${JSON.stringify(readGc)};
    if (${flags}) setHeapFlags();
    v8.setFlagsFromString('--expose-gc');
    const w = new Worker(\`
      const v8 = process.getBuiltinModule('node:v8');
      const { parentPort } = process.getBuiltinModule('node:worker_threads');
      const collect = globalThis.gc;
      const old = () => v8.getHeapSpaceStatistics().find((s) => s.space_name === 'old_space').space_used_size;
      const make = (i) => ({ i, a: i + 1, b: null });
      const keep = [];
      for (let r = 0; r < 20; r++) { for (let j = 0; j < 20000; j++) keep.push(make(j)); collect({ type: 'minor' }); }
      keep.length = 0;
      collect();
      const before = old();
      let sum = 0;
      for (let j = 0; j < 300000; j++) sum += make(j).a;
      parentPort.postMessage(Math.round((old() - before) / 1024));
    \`, { eval: true });
    w.on('message', (m) => { console.log(m); w.terminate(); });`;
  return Number(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' }).trim());
}

test('after setHeapFlags, a site whose objects once survived scavenges still allocates young', () => {
  assert.ok(oldSpaceGrowthInWorker(true) < 256);
  // The control: V8's default pretenures the site, so the short-lived objects land in the old generation. Its
  // decision depends on where its own scavenges land (about 1 run in 12 it does not decide), so up to 3 runs.
  const control = [0, 1, 2].map(() => 0);
  for (let i = 0; i < 3 && !control.some((kib) => kib > 1024); i++) control[i] = oldSpaceGrowthInWorker(false);
  assert.ok(control.some((kib) => kib > 1024), `old space grew by ${control.join(', ')} KiB`);
});
