// The hot-swap promise, end to end in folder mode: under steady HTTP load through bin/portico, 100 successive
// changes (Ingress edits, endpoint churn, TLS secret rotation) cause zero failed requests, and a WebSocket opened
// before the first change still echoes after the last. Also measures manifest change → first request served by
// the new configuration.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { Agent, request } from 'undici';
import WebSocket, { WebSocketServer } from 'ws';
import { stringify } from 'yaml';
import type { KubeObject } from '../../controller/model/objects.ts';
import { selfSignedCertificate } from '../../controller/tls/selfsigned.ts';
import { startPortico, waitFor, type ControllerProcess } from '../support/controller-process.ts';
import { ingress, service, slice } from '../support/controller-fixtures.ts';
import { freePort } from '../support/upstreams.ts';

const [HTTP, HTTPS, HEALTHZ, A, B, C] = await Promise.all([0, 1, 2, 3, 4, 5].map(() => freePort()));
const CHANGES = 100;

const cleanup: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const c of cleanup.reverse()) await c();
});

function write(dir: string, name: string, objs: KubeObject[]): void {
  // Write then rename, as editors and kubectl-style tools do, so the watcher never reads half a file.
  const tmp = path.join(dir, `.${name}.tmp`);
  fs.writeFileSync(tmp, objs.map((o) => stringify(o)).join('---\n'));
  fs.renameSync(tmp, path.join(dir, name));
}

function tlsSecret(): KubeObject {
  const c = selfSignedCertificate('app.example.com');
  return { apiVersion: 'v1', kind: 'Secret', type: 'kubernetes.io/tls', metadata: { name: 'app-tls', namespace: 'default' }, stringData: { 'tls.crt': c.cert, 'tls.key': c.key } };
}

function app(extra: number): KubeObject {
  const paths: [string, string, string, number][] = [['/', 'Prefix', 'web', 80], ['/ws', 'Prefix', 'web', 80]];
  for (let i = 0; i < extra; i++) paths.push([`/extra${i}`, 'Exact', 'extra', 80]);
  const ing = ingress('default', 'app', 'app.example.com', paths, {
    // As ingress-nginx advises for WebSockets: an idle tunnel otherwise closes after the 60 s read timeout, and on a
    // loaded machine the churn below can take longer than that.
    annotations: { 'nginx.ingress.kubernetes.io/ssl-redirect': 'false', 'nginx.ingress.kubernetes.io/proxy-read-timeout': '3600', 'nginx.ingress.kubernetes.io/proxy-send-timeout': '3600' },
  }, { tls: [{ hosts: ['app.example.com'], secretName: 'app-tls' }] });
  return ing;
}

test('100 changes under load: zero failed requests, the WebSocket survives, changes are served quickly', { timeout: 180_000 }, async () => {
  const servers: http.Server[] = [];
  for (const [port, name] of [[A, 'a'], [B, 'b'], [C, 'c']] as const) {
    const s = http.createServer((_q, r) => r.end(name));
    s.keepAliveTimeout = 60_000;
    const wss = new WebSocketServer({ server: s });
    wss.on('connection', (ws) => ws.on('message', (m) => ws.send(`${name}:${m}`)));
    await new Promise<void>((ok, fail) => (s.once('error', fail), s.listen(port, '127.0.0.1', () => ok())));
    servers.push(s);
    cleanup.push(() => new Promise((ok) => (wss.close(), s.closeAllConnections(), s.close(ok))));
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'portico-churn-'));
  write(dir, 'svc.yaml', [service('default', 'web'), service('default', 'extra'), slice('default', 'extra', C, ['127.0.0.1'])]);
  write(dir, 'slice.yaml', [slice('default', 'web', A, ['127.0.0.1'])]);
  write(dir, 'secret.yaml', [tlsSecret()]);
  write(dir, 'app.yaml', [app(0)]);
  const p: ControllerProcess = await startPortico(['--manifests', dir, '--http-port', String(HTTP), '--https-port', String(HTTPS), '--debounce-ms', '20'], HEALTHZ);
  cleanup.push(() => p.stop());
  await p.ready();
  // PORTICO_DEBUG=1 prints the controller's last log lines when the test ends.
  cleanup.push(async () => process.env['PORTICO_DEBUG'] && console.error(p.output().split('\n').filter((l) => !l.includes('"GET /')).slice(-40).join('\n')));

  // A WebSocket through the dataplane before any change.
  const ws = new WebSocket(`ws://127.0.0.1:${HTTP}/ws`, { headers: { host: 'app.example.com' } });
  const replies: string[] = [];
  ws.on('message', (m) => replies.push(String(m)));
  await new Promise<void>((ok, fail) => (ws.once('open', () => ok()), ws.once('error', fail)));
  cleanup.push(async () => ws.terminate());
  ws.send('before');
  await waitFor('echo before', () => replies.includes('a:before'));

  // Steady load: 4 keep-alive clients, bounded by count and by the end of the churn.
  const agent = new Agent({ connections: 4, keepAliveTimeout: 60_000 });
  cleanup.push(() => agent.close());
  let stop = false;
  let ok = 0;
  const failures: string[] = [];
  const client = async () => {
    for (let i = 0; i < 50_000 && !stop; i++) {
      try {
        const r = await request(`http://127.0.0.1:${HTTP}/`, { headers: { host: 'app.example.com' }, dispatcher: agent });
        const body = await r.body.text();
        if (r.statusCode === 200 && (body === 'a' || body === 'b')) ok++;
        else failures.push(`${r.statusCode} ${body.slice(0, 60)}`);
      } catch (e) {
        failures.push(String((e as Error).message));
      }
    }
  };
  const load = Promise.all([client(), client(), client(), client()]);

  const applies = async () => Number((await p.get('/metrics')).text.match(/^nginx_ingress_controller_success(?:\{[^}]*\})? (\d+)$/m)?.[1] ?? 0);
  const changeMs: number[] = [];
  let extra = 0;
  for (let c = 0; c < CHANGES; c++) {
    const before = await applies();
    if (c % 3 === 0) {
      extra++;
      const t0 = performance.now();
      write(dir, 'app.yaml', [app(extra)]);
      await waitFor(`path /extra${extra - 1} served`, async () => {
        const r = await request(`http://127.0.0.1:${HTTP}/extra${extra - 1}`, { headers: { host: 'app.example.com' } });
        return (await r.body.text()) === 'c';
      });
      changeMs.push(performance.now() - t0);
    } else if (c % 3 === 1) {
      write(dir, 'slice.yaml', [slice('default', 'web', c % 2 ? B : A, ['127.0.0.1'])]); // starts on A: alternate B, A, …
    } else {
      write(dir, 'secret.yaml', [tlsSecret()]);
    }
    await waitFor(`change ${c} applied`, async () => (await applies()) > before);
  }
  stop = true;
  await load;

  ws.send('after');
  await waitFor('echo after', () => replies.some((r) => r.endsWith(':after')));
  assert.equal(ws.readyState, WebSocket.OPEN);
  changeMs.sort((x, y) => x - y);
  const q = (f: number) => changeMs[Math.min(changeMs.length - 1, Math.floor(f * changeMs.length))]!.toFixed(0);
  const applied = await applies();
  process.stdout.write(`# ${ok} requests OK, ${failures.length} failed, ${applied} configurations applied; Ingress edit → first request served: p50 ${q(0.5)} ms, p99 ${q(0.99)} ms\n`);
  assert.deepEqual(failures.slice(0, 5), []);
  assert.ok(ok > 100, `load ran (${ok} requests)`);
  assert.ok(applied > CHANGES, `every change was applied (${applied})`);
});
