// End to end in folder mode: manifests → bin/portico (controller + in-process dataplane) → real HTTP clients →
// real backends. Skipped, naming the missing directives, until the dataplane on this branch knows every
// directive the renderer emits.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { request } from 'undici';
import { stringify } from 'yaml';
import { renderStore } from '../../controller/pipeline.ts';
import { Store } from '../../controller/store.ts';
import type { KubeObject } from '../../controller/model/objects.ts';
import { startPortico, waitFor, type ControllerProcess } from '../support/controller-process.ts';
import { ingress, service, slice, testOptions } from '../support/controller-fixtures.ts';
import { unknownDirectives } from '../support/dataplane-coverage.ts';
import { freePort } from '../support/upstreams.ts';

const [HTTP, HTTPS, HEALTHZ, B1, B2] = await Promise.all([0, 1, 2, 3, 4].map(() => freePort()));

function manifests(): KubeObject[] {
  return [
    service('default', 'one'), slice('default', 'one', B1, ['127.0.0.1']),
    service('default', 'two'), slice('default', 'two', B2, ['127.0.0.1']),
    ingress('default', 'app', 'app.example.com', [['/', 'Prefix', 'one', 80], ['/two', 'Prefix', 'two', 80]]),
    { ...ingress('default', 'canary', 'app.example.com', [['/', 'Prefix', 'two', 80]]), metadata: { name: 'canary', namespace: 'default', annotations: { 'nginx.ingress.kubernetes.io/canary': 'true', 'nginx.ingress.kubernetes.io/canary-by-header': 'X-Canary' } } },
  ];
}

const store = new Store();
for (const o of manifests()) store.upsert(o.kind as never, o);
const missing = unknownDirectives(renderStore(store, testOptions).tree);

const cleanup: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const c of cleanup.reverse()) await c();
});

test('folder mode serves Ingress routes through the dataplane and follows manifest edits', { skip: missing.length ? `dataplane does not know yet: ${missing.join(', ')}` : false }, async () => {
  for (const [port, name] of [[B1, 'one'], [B2, 'two']] as const) {
    const s = http.createServer((_q, r) => r.end(name));
    await new Promise<void>((ok, fail) => (s.once('error', fail), s.listen(port, '127.0.0.1', () => ok())));
    cleanup.push(() => new Promise((ok) => (s.closeAllConnections(), s.close(ok))));
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'portico-e2e-'));
  fs.writeFileSync(path.join(dir, 'all.yaml'), manifests().map((m) => stringify(m)).join('---\n'));
  const p: ControllerProcess = await startPortico(['--manifests', dir, '--http-port', String(HTTP), '--https-port', String(HTTPS), '--debounce-ms', '20'], HEALTHZ);
  cleanup.push(() => p.stop());
  await p.ready();
  const get = async (pathname: string, headers: Record<string, string> = {}) => {
    const r = await request(`http://127.0.0.1:${HTTP}${pathname}`, { headers: { host: 'app.example.com', ...headers } });
    return `${r.statusCode} ${await r.body.text()}`;
  };
  assert.equal(await get('/'), '200 one');
  assert.equal(await get('/two/x'), '200 two');
  assert.equal(await get('/twofold'), '200 one');
  assert.equal(await get('/', { 'x-canary': 'always' }), '200 two');
  // Access logs go to the pod's stdout (combined format) unless the ConfigMap says otherwise.
  await waitFor('the access log line on stdout', () => /127\.0\.0\.1 - - \[[^\]]+\] "GET \/two\/x HTTP\/1\.1" 200 3 "-" "/.test(p.output()), 5000);
  fs.writeFileSync(path.join(dir, 'more.yaml'), stringify(ingress('default', 'more', 'app.example.com', [['/more', 'Exact', 'two', 80]])));
  const t0 = Date.now();
  await waitFor('new route served', async () => (await get('/more')) === '200 two', 5000);
  const ms = Date.now() - t0;
  assert.ok(ms < 5000);
  process.stdout.write(`# manifest change to first request on the new route: ${ms} ms\n`);
});
