/**
 * /metrics after real traffic through two dataplane worker threads: ingress-nginx's families, labels and
 * buckets, counts summed across workers, and per-worker process metrics.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { stringify } from 'yaml';
import { TestPki } from '../support/certs.ts';
import { ingress, service, slice } from '../support/controller-fixtures.ts';
import { startPortico, waitFor, type ControllerProcess } from '../support/controller-process.ts';

const HTTP = 24301;
const HEALTHZ = 24302;
const BACKEND = 24303;
const REQUESTS = 40;

/** sample returns the value of the first metric line whose name and labels all match. */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name + '{')) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

function get(p: string, host = 'shop.test'): Promise<number> {
  return new Promise((resolve, reject) => {
    // A new connection per request, so the kernel spreads them over both workers.
    const req = http.get({ host: '127.0.0.1', port: HTTP, path: p, headers: { host }, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode!));
    });
    req.on('error', reject);
  });
}

describe('metrics across two worker threads', () => {
  let backend: http.Server;
  let portico: ControllerProcess;
  let dir: string;
  let backendConnections = 0;

  before(async () => {
    backend = http.createServer((req, res) => {
      res.writeHead(req.url!.startsWith('/api/missing') ? 404 : 200, { 'content-type': 'text/plain' });
      res.end('hello from the backend\n');
    });
    backend.on('connection', () => backendConnections++);
    await new Promise<void>((r) => backend.listen(BACKEND, '127.0.0.1', r));
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'portico-metrics-'));
    const pem = new TestPki().server(['secure.test']);
    const secret = { apiVersion: 'v1', kind: 'Secret', type: 'kubernetes.io/tls', metadata: { name: 'secure-tls', namespace: 'shop' }, data: { 'tls.crt': Buffer.from(pem.cert).toString('base64'), 'tls.key': Buffer.from(pem.key).toString('base64') } };
    const docs = [
      service('shop', 'web', 80),
      slice('shop', 'web', BACKEND, ['127.0.0.1']),
      ingress('shop', 'storefront', 'shop.test', [['/api', 'Prefix', 'web', 80]], {}, { ingressClassName: 'portico' }),
      // An Ingress whose Service does not exist: an orphan.
      ingress('shop', 'ghost', 'ghost.test', [['/', 'Prefix', 'missing', 80]], {}, { ingressClassName: 'portico' }),
      ingress('shop', 'secure', 'secure.test', [['/', 'Prefix', 'web', 80]], {}, { ingressClassName: 'portico', tls: [{ hosts: ['secure.test'], secretName: 'secure-tls' }] }),
      secret,
    ];
    fs.writeFileSync(path.join(dir, 'shop.yaml'), docs.map((d) => stringify(d)).join('---\n'));
    portico = await startPortico(['--manifests', dir, '--http-port', String(HTTP), '--https-port', String(HTTP + 10), '--worker-processes', '2', '--debounce-ms', '1500'], HEALTHZ);
    await portico.ready();
  });

  after(async () => {
    await portico?.stop();
    backend?.close();
  });

  test('request counts, labels and histogram buckets match ingress-nginx and sum over both workers', async () => {
    for (let i = 0; i < REQUESTS; i++) assert.equal(await get(`/api/items/${i}`), 200);
    for (let i = 0; i < 5; i++) assert.equal(await get('/api/missing'), 404);
    const text = (await portico.get('/metrics')).text;
    const labels = { status: '200', method: 'GET', path: '/api', namespace: 'shop', ingress: 'storefront', service: 'web', canary: '', host: 'shop.test' };
    assert.equal(sample(text, 'nginx_ingress_controller_requests', labels), REQUESTS);
    assert.equal(sample(text, 'nginx_ingress_controller_requests', { ...labels, status: '404' }), 5);
    assert.match(text, /nginx_ingress_controller_requests\{[^}]*controller_class="portico.dev\/ingress-controller"/);
    // The path label is the Ingress rule path, never the request URI.
    assert.doesNotMatch(text, /path="\/api\/items/);
    // Default time buckets (prometheus.DefBuckets) and the histogram's count agree with the counter.
    for (const le of ['0.005', '0.01', '0.025', '0.05', '0.1', '0.25', '0.5', '1', '2.5', '5', '10', '+Inf']) {
      assert.notEqual(sample(text, 'nginx_ingress_controller_request_duration_seconds_bucket', { ...labels, le }), undefined, `le=${le}`);
    }
    assert.equal(sample(text, 'nginx_ingress_controller_request_duration_seconds_bucket', { ...labels, le: '+Inf' }), REQUESTS);
    assert.equal(sample(text, 'nginx_ingress_controller_request_duration_seconds_count', labels), REQUESTS);
    assert.equal(sample(text, 'nginx_ingress_controller_response_duration_seconds_count', labels), REQUESTS, 'upstream timings are recorded');
    assert.equal(sample(text, 'nginx_ingress_controller_response_size_count', labels), REQUESTS);
    assert.ok(sample(text, 'nginx_ingress_controller_nginx_process_requests_total', {})! >= REQUESTS + 5);
    // The rendered config keeps upstream connections alive: far fewer backend connections than requests.
    assert.ok(backendConnections < REQUESTS / 2, `${backendConnections} backend connections for ${REQUESTS + 5} requests`);
  });

  test('each worker thread reports its own CPU, heap and event-loop lag; peers report their health', async () => {
    const text = (await portico.get('/metrics')).text;
    assert.match(text, new RegExp(`^portico_upstream_peer_up\\{[^}]*peer="127.0.0.1:${BACKEND}"[^}]*\\} 1$`, 'm'));
    for (const worker of ['0', '1']) {
      assert.ok(sample(text, 'portico_worker_cpu_seconds_total', { worker })! > 0, `worker ${worker} cpu`);
      assert.ok(sample(text, 'portico_worker_heap_used_bytes', { worker })! > 0, `worker ${worker} heap`);
      assert.notEqual(sample(text, 'portico_worker_eventloop_lag_p99_seconds', { worker }), undefined);
    }
  });

  test('certificates, orphan Ingresses and the build are reported from the model', async () => {
    const text = (await portico.get('/metrics')).text;
    const expire = sample(text, 'nginx_ingress_controller_ssl_expire_time_seconds', { namespace: 'shop', host: 'secure.test', secret_name: 'secure-tls' });
    assert.ok(expire !== undefined && expire > Date.now() / 1000, `expiry ${expire}`);
    assert.equal(sample(text, 'nginx_ingress_controller_ssl_certificate_info', { host: 'secure.test', secret_name: 'secure-tls' }), 1);
    assert.equal(sample(text, 'nginx_ingress_controller_orphan_ingress', { namespace: 'shop', ingress: 'ghost', type: 'no-service' }), 1);
    assert.equal(sample(text, 'nginx_ingress_controller_orphan_ingress', { ingress: 'storefront' }), undefined);
    assert.equal(sample(text, 'nginx_ingress_controller_build_info', { release: '0.1.0' }), 1);
  });

  test('the workqueue depth shows changes waiting for the debounced render, then drops to 0', async () => {
    // The constant labels (controller_namespace …) give every series braces, so sample() finds it.
    const depth = async () => sample((await portico.get('/metrics')).text, 'portico_workqueue_depth', {});
    assert.equal(await depth(), 0, 'nothing waits once the first configuration is applied');
    fs.writeFileSync(path.join(dir, 'more.yaml'), stringify(service('shop', 'more', 80)));
    // --debounce-ms 1500 holds the render, so the waiting change is visible for a while.
    await waitFor('a change waiting', async () => (await depth())! >= 1, 10_000);
    await waitFor('the render taking it', async () => (await depth()) === 0, 10_000);
  });
});
