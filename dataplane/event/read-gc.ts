/**
 * Young-generation collection paced by socket reads.
 *
 * Every socket read hands JavaScript a new ArrayBuffer of up to 64 KiB, allocated outside the V8 heap. These die
 * young (a proxied body chunk lives until it is written), but their few hundred bytes of heap-side handles fill the
 * young generation far slower than the buffers pile up outside it: with bodies of tens of KiB, V8 reaches its
 * external-memory limit first and answers with a full mark-compact of the old generation, dozens per second, each a
 * pause that lands in the tail latency. A minor collection frees the same buffers at a fraction of the cost, so the
 * readers count their bytes here and a scavenge runs every READ_GC_BYTES, well before that limit.
 */
import v8 from 'node:v8';
import vm from 'node:vm';

/** Bytes read between two young-generation collections (V8 starts a full GC at 64 MiB of new external memory). */
export const READ_GC_BYTES = 32 * 1024 * 1024;

type Collect = (options: { type: 'minor' | 'major'; execution?: 'sync' | 'async' }) => void;

let pending = 0;
let collect: Collect | null | undefined;

/** countRead adds `n` bytes read from a socket and collects the young generation once enough have piled up. */
export function countRead(n: number): void {
  pending += n;
  if (pending < READ_GC_BYTES) return;
  pending = 0;
  collectYoung();
}

/** collectYoung runs a scavenge now (no-op where V8 offers no gc function). */
export function collectYoung(): void {
  if (collect === undefined) collect = loadCollector();
  collect?.({ type: 'minor' });
}

/**
 * loadCollector gets V8's gc() without exposing it to the program's own global: the flag makes V8 install it in
 * contexts created afterwards, and one such context hands it over.
 */
function loadCollector(): Collect | null {
  const own = (globalThis as { gc?: Collect }).gc;
  if (typeof own === 'function') return own;
  try {
    v8.setFlagsFromString('--expose-gc');
    const fn = vm.runInNewContext('gc') as unknown;
    return typeof fn === 'function' ? (fn as Collect) : null;
  } catch {
    return null;
  }
}

/** Old-generation size (MiB) below which V8 does not start full GCs in worker threads (see setHeapFlags). */
export const OLD_SPACE_FLOOR_MIB = 128;

/**
 * setHeapFlags sets two V8 flags for isolates created from now on (worker threads); call it before starting
 * workers.
 *
 * An old-generation floor of OLD_SPACE_FLOOR_MIB: V8 sets the next full-GC limit from the live size after each
 * full GC; a dataplane's live heap is small (15-20 MiB), so after an idle spell the limit sat a few MiB above it,
 * and the request state a busy worker promotes filled that in tens of milliseconds: 70-80 mark-compacts per 5 s
 * at 64 KiB responses, about a third less throughput, until restart. Measured with the floor: 0-1 per 5 s.
 *
 * No allocation-site pretenuring: V8 moves an allocation site to old-space allocation when most of its objects
 * survived a scavenge. Request state is short-lived, but a scavenge that lands while hundreds of requests are in
 * flight can make it look long-lived, and the decision sticks: in 3 of 5 fresh workers, every request's objects
 * then went straight to the old generation, scavenges took 13-20 ms instead of 1 ms (old-to-young pointers),
 * 4-6 mark-compacts ran per 4 s, and p99 at 200 connections doubled. With pretenuring off: 8 of 8 workers kept
 * 1 ms scavenges and no mark-compacts.
 */
export function setHeapFlags(): void {
  v8.setFlagsFromString(`--initial-old-space-size=${OLD_SPACE_FLOOR_MIB}`);
  v8.setFlagsFromString('--no-allocation-site-pretenuring');
}
