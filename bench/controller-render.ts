/**
 * Controller render and swap times for N Ingresses (default 1,000 and 10,000): full model+render+hash, one
 * incremental change (one Ingress edited), an endpoint-only change (peers split), and the dataplane apply of the
 * rendered tree. Until the dataplane proxies, the apply uses the substitute tree (proxy_pass → return), which
 * still builds and swaps every server and location.
 *   node_modules/.bin/node bench/controller-render.ts [N...]
 */
import { printConf } from '../dataplane/core/print.ts';
import { MasterSink } from '../controller/master-sink.ts';
import type { KubeObject } from '../controller/model/objects.ts';
import { renderStore } from '../controller/pipeline.ts';
import { hashTree, splitPeers } from '../controller/render/peers.ts';
import { Store } from '../controller/store.ts';
import { selfSignedCertificate } from '../controller/tls/selfsigned.ts';
import { ingress, service, slice, testOptions } from '../test/support/controller-fixtures.ts';
import { substitute, unknownDirectives } from '../test/support/dataplane-coverage.ts';

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
const opts = { ...testOptions, defaultCertificate: selfSignedCertificate(), httpPort: 21901, httpsPort: 21902, listenAddress: '127.0.0.1' };
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
  const sink = new MasterSink();
  const missing = unknownDirectives(tree);
  const applied = missing.length ? substitute(tree) : tree;
  applied.unshift({ name: 'master_process', args: ['off'] });
  t0 = performance.now();
  const r1 = await sink.apply(applied);
  const start = ms(t0);
  const applied2 = missing.length ? substitute(again) : again;
  applied2.unshift({ name: 'master_process', args: ['off'] });
  t0 = performance.now();
  const r2 = await sink.apply(applied2);
  const swap = ms(t0);
  console.log(`  dataplane ${missing.length ? '(substitute tree: proxy_pass → return) ' : ''}start ${start} ok=${r1.ok}${r1.error ? ` ${r1.error}` : ''}, swap ${swap} ok=${r2.ok}${r2.error ? ` ${r2.error}` : ''}`);
  await sink.quit();
}
