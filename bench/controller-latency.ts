/**
 * Manifest change → first request served by the new configuration, in folder mode with N Ingresses (default
 * 1,000): a new Ingress file is written, and a client polls (every 2 ms) until its host answers. The pipeline is
 * the real one (fs.watch, debounce, model, render, hash, Master apply to worker threads); until the dataplane
 * proxies, the applied tree is the substitute (proxy_pass → return 200 "upstream").
 * BENCH_MODE=endpoints makes each change an EndpointSlice edit instead (web's one endpoint moves between two
 * backends, 127.0.0.1 and 127.0.0.2): the controller takes the peers fast path, and the client polls until the
 * other backend answers.
 *   BENCH_PORT=21951 [BENCH_MODE=endpoints] node_modules/.bin/node bench/controller-latency.ts [N] [changes] [debounceMs]
 */
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { request } from 'undici';
import { stringify } from 'yaml';
import { createLogger } from '../controller/log.ts';
import { MasterSink } from '../controller/master-sink.ts';
import { Reconciler } from '../controller/reconcile.ts';
import type { DataplaneSink } from '../controller/sink.ts';
import { FolderSource } from '../controller/sources/folder.ts';
import { Store } from '../controller/store.ts';
import { selfSignedCertificate } from '../controller/tls/selfsigned.ts';
import type { ConfTree } from '../dataplane/core/tree.ts';
import { ingress, service, slice, testOptions } from '../test/support/controller-fixtures.ts';
import { substitute, unknownDirectives } from '../test/support/dataplane-coverage.ts';

const n = Number(process.argv[2] ?? 1000);
const changes = Number(process.argv[3] ?? 50);
const debounceMs = Number(process.argv[4] ?? 50);
const PORT = Number(process.env['BENCH_PORT'] ?? 21951);
const BACKEND = PORT + 2;
const endpoints = process.env['BENCH_MODE'] === 'endpoints';
const backends = ['127.0.0.1', '127.0.0.2'].map((host) => {
  const s = http.createServer((_q, r) => r.end(host));
  s.listen(BACKEND, host);
  return s;
});

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'portico-latency-'));
const base = [service('bench', 'web')];
const writeSlice = (host: string) => fs.writeFileSync(path.join(dir, 'web-slice.yaml'), stringify(slice('bench', 'web', BACKEND, [host])));
writeSlice('127.0.0.1');
for (let i = 0; i < n; i++) base.push(ingress('bench', `ing${i}`, `h${i}.bench.example.com`, [['/', 'Prefix', 'web', 80]]));
fs.writeFileSync(path.join(dir, 'base.yaml'), base.map((o) => stringify(o)).join('---\n'));

const master = new MasterSink();
let substituted = false;
const applyMs: number[] = [];
const sink: DataplaneSink = {
  async apply(tree: ConfTree) {
    const known = unknownDirectives(tree).length === 0;
    substituted ||= !known;
    const t0 = performance.now();
    const r = await master.apply([{ name: 'master_process', args: ['on'] }, { name: 'worker_processes', args: ['2'] }, ...(known ? tree : substitute(tree))]);
    applyMs.push(performance.now() - t0);
    return r;
  },
  async applyPeers(peers) {
    const t0 = performance.now();
    const r = await master.applyPeers(peers);
    applyMs.push(performance.now() - t0);
    return r;
  },
};
const store = new Store();
const log = createLogger('warn');
const rec = new Reconciler(store, { ...testOptions, defaultCertificate: selfSignedCertificate(), httpPort: PORT, httpsPort: PORT + 1, listenAddress: '127.0.0.1' }, sink, { debounceMs, log });
const folder = new FolderSource(dir, store, () => {}, 0);
folder.load();
rec.enable();
while (!rec.ready) await sleep(10);
applyMs.length = 0; // the start is not a change
folder.watch();

const status = async (host: string) => {
  const r = await request(`http://127.0.0.1:${PORT}/`, { headers: { host } });
  await r.body.dump();
  return r.statusCode;
};
const body = async (host: string) => {
  const r = await request(`http://127.0.0.1:${PORT}/`, { headers: { host } });
  return r.body.text();
};
const times: number[] = [];
for (let c = 0; c < changes && endpoints; c++) {
  const want = c % 2 === 0 ? '127.0.0.2' : '127.0.0.1';
  const t0 = performance.now();
  writeSlice(want);
  while ((await body('h0.bench.example.com')) !== want) {
    if (performance.now() - t0 > 10_000) throw new Error(`change ${c} not served within 10 s`);
    await sleep(2);
  }
  times.push(performance.now() - t0);
}
for (let c = 0; c < changes && !endpoints; c++) {
  const host = `new${c}.bench.example.com`;
  const t0 = performance.now();
  fs.writeFileSync(path.join(dir, `new${c}.yaml`), stringify(ingress('bench', `new${c}`, host, [['/', 'Prefix', 'web', 80]])));
  const deadline = t0 + 10_000;
  while ((await status(host)) !== 200) {
    if (performance.now() > deadline) throw new Error(`change ${c} not served within 10 s`);
    await sleep(2);
  }
  times.push(performance.now() - t0);
}
times.sort((a, b) => a - b);
const q = (p: number) => times[Math.min(times.length - 1, Math.floor(p * times.length))]!.toFixed(0);
console.log(`${n} Ingresses, ${changes} ${endpoints ? 'EndpointSlice' : 'Ingress'} changes, debounce ${debounceMs} ms${substituted ? ', substitute tree (no proxy yet)' : ''}: change → first request on new config p50 ${q(0.5)} ms, p99 ${q(0.99)} ms, max ${times.at(-1)!.toFixed(0)} ms`);
applyMs.sort((a, b) => a - b);
console.log(`  of which dataplane apply (${endpoints ? 'peers fast path' : 'validate + swap'} in 2 workers): p50 ${applyMs[Math.floor(applyMs.length / 2)]!.toFixed(0)} ms, max ${applyMs.at(-1)!.toFixed(0)} ms`);
folder.close();
rec.stop();
await master.quit();
for (const b of backends) {
  b.closeAllConnections();
  b.close();
}
fs.rmSync(dir, { recursive: true });
