/**
 * Controller render and swap times for N Ingresses (default 1,000 and 10,000): full model+render+hash, one
 * incremental change (one Ingress edited), an endpoint-only change (peers split), the dataplane start and swap
 * (in-process Master, BENCH_WORKERS worker threads, default 2), and an endpoint-only change applied through the
 * peers fast path vs a full apply (BENCH_ROUNDS each, default 9; BENCH_VERBOSE=1 prints every sample).
 *   BENCH_PORT=21901 node_modules/.bin/node bench/controller-render.ts [N...]
 */
import { printConf } from '../dataplane/core/print.ts';
import { MasterSink } from '../controller/master-sink.ts';
import type { KubeObject } from '../controller/model/objects.ts';
import { renderStore } from '../controller/pipeline.ts';
import { hashTree, splitPeers } from '../controller/render/peers.ts';
import { Store } from '../controller/store.ts';
import { selfSignedCertificate } from '../controller/tls/selfsigned.ts';
import type { ConfTree } from '../dataplane/core/tree.ts';
import { ingress, service, slice, testOptions } from '../test/support/controller-fixtures.ts';
import { unknownDirectives } from '../test/support/dataplane-coverage.ts';

function fill(store: Store, n: number): void {
  const services = Math.max(1, Math.floor(n / 4));
  for (let s = 0; s < services; s++) {
    store.upsert('Service', service('bench', `svc${s}`));
    store.upsert('EndpointSlice', slice('bench', `svc${s}`, 8080, [`10.${(s >> 8) & 255}.${s & 255}.1`, `10.${(s >> 8) & 255}.${s & 255}.2`]));
  }
  for (let i = 0; i < n; i++) {
    const svc = `svc${i % services}`;
    store.upsert('Ingress', ingress('bench', `ing${i}`, `h${i}.bench.example.com`, [['/', 'Prefix', svc, 80], ['/api', 'Prefix', svc, 80], ['/login', 'Exact', svc, 80]]));
  }
}

function ms(t0: number): string {
  return `${(performance.now() - t0).toFixed(1)} ms`;
}

const sizes = process.argv.slice(2).map(Number).filter((x) => x > 0);
const PORT = Number(process.env['BENCH_PORT'] ?? 21901);
const WORKERS = Number(process.env['BENCH_WORKERS'] ?? 2);
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 9);
const opts = { ...testOptions, defaultCertificate: selfSignedCertificate(), httpPort: PORT, httpsPort: PORT + 1, listenAddress: '127.0.0.1' };
for (const n of sizes.length ? sizes : [1000, 10000]) {
  const store = new Store();
  fill(store, n);
  let t0 = performance.now();
  const { tree } = renderStore(store, opts);
  const full = ms(t0);
  t0 = performance.now();
  const hash = hashTree(tree);
  const hashT = ms(t0);
  t0 = performance.now();
  const text = printConf(tree);
  const printT = ms(t0);
  store.upsert('Ingress', ingress('bench', 'ing0', 'h0.bench.example.com', [['/', 'Prefix', 'svc0', 80], ['/new', 'Exact', 'svc0', 80]]));
  t0 = performance.now();
  const again = renderStore(store, opts).tree;
  const h2 = hashTree(again);
  const incr = ms(t0);
  t0 = performance.now();
  splitPeers(again);
  const split = ms(t0);
  console.log(`${n} Ingresses: render ${full}, hash ${hashT}, print ${printT} (${(text.length / 1e6).toFixed(1)} MB), one edit re-render+hash ${incr} (changed: ${h2 !== hash}), peers split ${split}`);
  const missing = unknownDirectives(tree);
  if (missing.length) {
    console.log(`  dataplane skipped: it does not know ${missing.join(', ')}`);
    continue;
  }
  const sink = new MasterSink();
  const withWorkers = (t: ConfTree): ConfTree => [{ name: 'worker_processes', args: [String(WORKERS)] }, ...t];
  t0 = performance.now();
  const r1 = await sink.apply(withWorkers(tree));
  const start = ms(t0);
  t0 = performance.now();
  const r2 = await sink.apply(withWorkers(again));
  await new Promise((r) => setTimeout(r, 1000));
  console.log(`  dataplane (${WORKERS} workers): start ${start} ok=${r1.ok}${r1.error ? ` ${r1.error}` : ''}, swap after one edit ${ms(t0)} ok=${r2.ok}${r2.error ? ` ${r2.error}` : ''}`);
  // The same kind of change (one Service's endpoints) both ways: ROUNDS through the peers fast path the reconcile
  // loop takes (split + applyPeers of every upstream's lines; the master sends only the changed one), then ROUNDS
  // as a full apply (peers first, so no sample waits for a previous full swap's cleanup in the workers).
  const peersMs: number[] = [];
  const fullMs: number[] = [];
  for (let k = 0; k < ROUNDS * 2; k++) {
    store.upsert('EndpointSlice', slice('bench', 'svc0', 8080, ['10.0.0.1', `10.0.1.${k + 10}`]));
    const next = renderStore(store, opts).tree;
    t0 = performance.now();
    const r = k < ROUNDS ? await sink.applyPeers(splitPeers(withWorkers(next)).peers) : await sink.apply(withWorkers(next));
    (k < ROUNDS ? peersMs : fullMs).push(performance.now() - t0);
    if (!r.ok) throw new Error(r.error);
  }
  if (process.env["BENCH_VERBOSE"]) console.log(peersMs.map((x) => x.toFixed(1)).join(" "), "/", fullMs.map((x) => x.toFixed(1)).join(" "));
  console.log(`  endpoint-only change, median of ${ROUNDS}: peers fast path ${median(peersMs).toFixed(1)} ms (max ${Math.max(...peersMs).toFixed(1)}), full apply ${median(fullMs).toFixed(1)} ms (max ${Math.max(...fullMs).toFixed(1)})`);
  await sink.quit();
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}
