import assert from 'node:assert/strict';
import { PerformanceObserver, constants } from 'node:perf_hooks';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { READ_GC_BYTES, countRead } from '../../../dataplane/event/read-gc.ts';

/** minorGcs counts the forced young-generation collections V8 reports while `fn` runs (V8's own are not forced). */
async function minorGcs(fn: () => void): Promise<number> {
  let n = 0;
  const obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const d = (e as unknown as { detail: { kind: number; flags: number } }).detail;
      if (d.kind === constants.NODE_PERFORMANCE_GC_MINOR && d.flags & constants.NODE_PERFORMANCE_GC_FLAGS_FORCED) n++;
    }
  });
  obs.observe({ entryTypes: ['gc'] });
  fn();
  await sleep(50); // gc entries are delivered asynchronously
  obs.disconnect();
  return n;
}

test('a scavenge runs once READ_GC_BYTES were read, without --expose-gc and without a global gc()', async () => {
  assert.equal(typeof (globalThis as { gc?: unknown }).gc, 'undefined');
  // Reads short of the budget collect nothing.
  assert.equal(await minorGcs(() => countRead(READ_GC_BYTES - 1)), 0);
  assert.equal(await minorGcs(() => countRead(1)), 1);
  assert.equal(typeof (globalThis as { gc?: unknown }).gc, 'undefined', 'gc() is not exposed to the program');
  // The count starts over after a collection.
  assert.equal(await minorGcs(() => countRead(READ_GC_BYTES / 2)), 0);
  assert.equal(await minorGcs(() => countRead(READ_GC_BYTES / 2)), 1);
});
