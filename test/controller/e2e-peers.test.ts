// End to end in folder mode: an EndpointSlice edit takes the peers fast path (no servers rebuilt). bin/portico
// with two worker threads, real backends on 127.0.0.1-3, real HTTP clients. Ports 24520-24539.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { Client } from 'undici';
import { stringify } from 'yaml';
import type { KubeObject } from '../../controller/model/objects.ts';
import { startPortico, waitFor } from '../support/controller-process.ts';
import { ingress, service, slice } from '../support/controller-fixtures.ts';

const HTTP = 24521;
const HTTPS = 24522;
const HEALTHZ = 24523;
/** Service `web`: A on 127.0.0.1, B on 127.0.0.2, a peer that resets every connection on 127.0.0.3. */
const WEB = 24525;
/** Service `rr`: two peers that only say who they are (its round robin shows whether its group was rebuilt). */
const RR = 24526;

const cleanup: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const c of cleanup.reverse()) await c();
});

async function listen(s: net.Server, host: string, port: number): Promise<void> {
  await new Promise<void>((ok) => s.listen(port, host, () => ok()));
  cleanup.push(() => new Promise((ok) => s.close(ok)));
}

async function backend(host: string, port: number, name: string): Promise<void> {
  const s = http.createServer((_q, r) => r.end(name));
  await listen(s, host, port);
  cleanup.push(async () => s.closeAllConnections());
}

test('an EndpointSlice edit takes the peers fast path: traffic moves, servers and peer state stay, a bad address is refused', async () => {
  await backend('127.0.0.1', WEB, 'A');
  await backend('127.0.0.2', WEB, 'B');
  await backend('127.0.0.1', RR, 'r1');
  await backend('127.0.0.2', RR, 'r2');
  let resets = 0;
  const bad = net.createServer((s) => {
    resets++;
    s.resetAndDestroy();
  });
  await listen(bad, '127.0.0.3', WEB);

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'portico-peers-'));
  const writeSlice = (addresses: string[]) => fs.writeFileSync(path.join(dir, 'web-slice.yaml'), stringify(slice('default', 'web', WEB, addresses)));
  const base: KubeObject[] = [
    service('default', 'web'), service('default', 'rr'), slice('default', 'rr', RR, ['127.0.0.1', '127.0.0.2']),
    ingress('default', 'app', 'app.example.com', [['/', 'Prefix', 'web', 80], ['/rr', 'Prefix', 'rr', 80]]),
  ];
  fs.writeFileSync(path.join(dir, 'base.yaml'), base.map((m) => stringify(m)).join('---\n'));
  writeSlice(['127.0.0.1', '127.0.0.3']);
  const p = await startPortico(['--manifests', dir, '--http-port', String(HTTP), '--https-port', String(HTTPS), '--debounce-ms', '20', '--worker-processes', '2'], HEALTHZ);
  cleanup.push(() => p.stop());
  await p.ready();

  const fresh = async (pathname = '/') => {
    const c = new Client(`http://127.0.0.1:${HTTP}`);
    try {
      const r = await c.request({ method: 'GET', path: pathname, headers: { host: 'app.example.com' } });
      return `${r.statusCode} ${await r.body.text()}`;
    } finally {
      await c.close();
    }
  };
  // One keep-alive connection: one worker, whose per-worker round robin over `rr` we follow.
  const kept = new Client(`http://127.0.0.1:${HTTP}`, { pipelining: 1, keepAliveTimeout: 60_000 });
  cleanup.push(() => kept.close());
  let connections = 0;
  kept.on('connect', () => connections++);
  const onKept = async (pathname: string) => {
    const r = await kept.request({ method: 'GET', path: pathname, headers: { host: 'app.example.com' } });
    return `${r.statusCode} ${await r.body.text()}`;
  };
  const peersApplies = async () => Number(/portico_config_apply_duration_seconds_count\{[^}]*kind="peers"[^}]*\} (\d+)/.exec((await p.get('/metrics')).text)?.[1] ?? 0);

  // The resetting peer is tried once and marked failed (max_fails=1, fail_timeout=10s); requests still get A.
  for (let i = 0; i < 20 && resets === 0; i++) assert.equal(await fresh(), '200 A');
  assert.ok(resets > 0, 'the resetting peer was tried');
  const resetsBefore = resets;
  const first = await onKept('/rr');
  const second = await onKept('/rr');
  assert.notEqual(first, second, 'round robin alternates');
  assert.equal(await onKept('/rr'), first);
  assert.equal(await onKept('/'), '200 A');
  assert.equal(await peersApplies(), 0);

  writeSlice(['127.0.0.2', '127.0.0.3']);
  await waitFor('traffic moved to B', async () => (await fresh()) === '200 B', 5000);
  assert.equal(await onKept('/'), '200 B', 'the connection opened before the change is served by the new peers');
  assert.equal(await onKept('/rr'), second, 'the untouched upstream was not rebuilt: its round robin went on');
  assert.equal(connections, 1, 'the same client connection (so the same worker)');
  const bodies = await Promise.all(Array.from({ length: 8 }, () => fresh()));
  assert.deepEqual(new Set(bodies), new Set(['200 B']));
  assert.equal(resets, resetsBefore, 'the unchanged failed peer kept its state and was not tried again');
  assert.equal(await peersApplies(), 1);
  assert.match(p.output(), /"kind":"peers".*"msg":"configuration applied"/);
  assert.match((await p.get('/conf')).text, new RegExp(`server 127\\.0\\.0\\.2:${WEB};`));

  // An address the dataplane cannot use: refused in nginx's words, B keeps serving, nothing else changes.
  writeSlice(['10.0.0.1/32']);
  await waitFor('rejection logged', () => /invalid host in upstream \\"10\.0\.0\.1\/32:\d+\\"/.test(p.output()), 5000);
  assert.match((await p.get('/metrics')).text, /nginx_ingress_controller_config_last_reload_successful\{[^}]*\} 0/);
  assert.equal(await fresh(), '200 B');
  assert.equal(await onKept('/'), '200 B');

  // The control: a structural change is a full apply, which rebuilds `rr` and restarts its round robin.
  const fullApplies = () => p.output().split('\n').filter((l) => l.includes('"kind":"full"') && l.includes('configuration applied')).length;
  const full = fullApplies();
  writeSlice(['127.0.0.2', '127.0.0.3']);
  fs.writeFileSync(path.join(dir, 'more.yaml'), stringify(ingress('default', 'more', 'more.example.com', [['/', 'Prefix', 'web', 80]])));
  await waitFor('full apply', () => fullApplies() > full, 5000);
  assert.equal(await onKept('/rr'), first, 'a full apply rebuilds the group');
  assert.equal(connections, 1);
});
