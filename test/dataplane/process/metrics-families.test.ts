/**
 * Metrics read from protocol state, gathered by the master from two worker threads: mail sessions by protocol
 * and auth result (summed over workers), auth_http round trips, and upstream peer health and failures by
 * reason from shared memory (reported once). Ports 24600-24619, 21310-21319.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parseConfString } from '../../../dataplane/core/parse.ts';
import { aggregateWorkers } from '../../../dataplane/metrics/aggregate.ts';
import { Master } from '../../../dataplane/process/master.ts';
import { LineClient } from '../../support/line-client.ts';
import { startAuthServer, type AuthServer } from '../../support/mail-servers.ts';
import { httpUpstream, rawUpstream, type TestUpstream } from '../../support/upstreams.ts';

const P = { http: 24600, backend: 24601, dead: 24602, smtp: 24603, auth: 24604, flaky: 21310 };

function get(port: number, p: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: p, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode!));
    });
    req.on('error', reject);
  });
}

function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name + '{')) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

describe('protocol metric families across two workers', () => {
  let master: Master;
  let backend: http.Server;
  let auth: AuthServer;
  /** One peer per failure reason: 502, 429, a head that is not HTTP, silence (read timeout). */
  let flaky: TestUpstream[] = [];

  before(async () => {
    flaky = [
      await httpUpstream('502', (_req, res) => res.writeHead(502).end('bad gateway')),
      await httpUpstream('429', (_req, res) => res.writeHead(429).end('slow down')),
      await rawUpstream((s) => s.end('SSH-2.0-OpenSSH\r\n\r\n')),
      await rawUpstream(() => {}),
    ];
    backend = http.createServer((_req, res) => res.end('ok\n'));
    await new Promise<void>((r) => backend.listen(P.backend, '127.0.0.1', r));
    auth = await startAuthServer(P.auth, () => ({ headers: { 'Auth-Status': 'Invalid login or password' } }));
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'portico-families-'));
    const conf = path.join(dir, 'nginx.conf');
    const text = `worker_processes 2;
error_log ${dir}/error.log info;
events {}
http {
  access_log off;
  upstream app { server 127.0.0.1:${P.backend}; server 127.0.0.1:${P.dead} max_fails=1 fail_timeout=60s; }
  upstream flaky { ${flaky.map((u) => `server 127.0.0.1:${u.port} max_fails=0;`).join(' ')} }
  server { listen 127.0.0.1:${P.http}; location / { proxy_pass http://app; proxy_next_upstream error; } }
  server {
    listen 127.0.0.1:${P.flaky};
    location / { proxy_pass http://flaky; proxy_next_upstream error timeout invalid_header http_502 http_429; proxy_read_timeout 300ms; }
  }
}
mail {
  auth_http 127.0.0.1:${P.auth}/;
  server { listen 127.0.0.1:${P.smtp}; protocol smtp; smtp_auth plain; }
}`;
    fs.writeFileSync(conf, text);
    master = await Master.start({ prefix: dir, confFile: conf, tree: parseConfString(text, conf, { confPrefix: dir }), pidFile: false, errorLog: path.join(dir, 'error.log') });
  });

  after(async () => {
    await master?.stop();
    backend?.close();
    await auth?.stop();
    for (const u of flaky) await u.close();
  });

  test('a refused mail login is counted once by protocol and result', async () => {
    const c = await LineClient.connect(P.smtp);
    await c.expect(/220 .*\r\n/);
    c.send(`AUTH PLAIN ${Buffer.from('\0alice\0wrong').toString('base64')}\r\n`);
    await c.expect(/535 .*\r\n/);
    c.close();
    let text = '';
    for (let i = 0; i < 50; i++) {
      text = await aggregateWorkers(await master.metrics()).metrics();
      if (sample(text, 'portico_mail_active_sessions', { protocol: 'smtp' }) === 0) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(sample(text, 'portico_mail_sessions_total', { protocol: 'smtp', auth_result: 'failure' }), 1);
    assert.equal(sample(text, 'portico_mail_sessions_total', { protocol: 'smtp', auth_result: 'success' }), 0);
    assert.equal(sample(text, 'portico_mail_sessions_total', { protocol: 'smtp', auth_result: 'aborted' }), 0);
    // One auth_http round trip, observed once (histograms are summed over workers).
    assert.equal(sample(text, 'portico_mail_auth_duration_seconds_count', { protocol: 'smtp' }), 1);
    assert.equal(sample(text, 'portico_mail_auth_duration_seconds_bucket', { protocol: 'smtp', le: '+Inf' }), 1);
    assert.ok(sample(text, 'portico_mail_auth_duration_seconds_sum', { protocol: 'smtp' })! > 0);
    assert.equal(sample(text, 'portico_mail_auth_duration_seconds_count', { protocol: 'imap' }), 0);
  });

  test('a failed peer shows as down, the live one as up, each reported once', async () => {
    // Enough requests that round robin tries the dead peer (max_fails=1 then takes it out).
    for (let i = 0; i < 6; i++) assert.equal(await get(P.http, `/x${i}`), 200);
    const text = await aggregateWorkers(await master.metrics()).metrics();
    assert.equal(sample(text, 'portico_upstream_peer_up', { upstream: 'app', peer: `127.0.0.1:${P.backend}` }), 1);
    assert.equal(sample(text, 'portico_upstream_peer_up', { upstream: 'app', peer: `127.0.0.1:${P.dead}` }), 0);
    // Shared state, so two workers report one value rather than a sum.
    assert.equal(sample(text, 'portico_upstream_peer_fails', { upstream: 'app', peer: `127.0.0.1:${P.dead}` }), 1);
    assert.equal(sample(text, 'portico_upstream_peer_failures_total', { upstream: 'app', peer: `127.0.0.1:${P.dead}`, reason: 'error' }), 1);
    assert.equal(sample(text, 'portico_upstream_peer_failures_total', { upstream: 'app', peer: `127.0.0.1:${P.backend}`, reason: 'error' }), 0);
  });

  test('failed tries are counted by reason in the shared peer slot and reported once', async () => {
    // Each request tries all four peers (each fails its own way); new connections spread over both workers.
    const ROUNDS = 4;
    for (let i = 0; i < ROUNDS; i++) assert.ok([429, 502, 504].includes(await get(P.flaky, `/f${i}`)));
    const text = await aggregateWorkers(await master.metrics()).metrics();
    const count = (u: TestUpstream, reason: string) => sample(text, 'portico_upstream_peer_failures_total', { upstream: 'flaky', peer: `127.0.0.1:${u.port}`, reason });
    const [e502, e429, garbage, silent] = flaky as [TestUpstream, TestUpstream, TestUpstream, TestUpstream];
    assert.deepEqual(
      [count(e502, 'http_5xx'), count(e429, 'http_429'), count(garbage, 'invalid_header'), count(silent, 'timeout')],
      [ROUNDS, ROUNDS, ROUNDS, ROUNDS],
    );
    assert.equal(count(e502, 'error'), 0);
    assert.equal(count(silent, 'http_5xx'), 0);
    assert.match(text, /# TYPE portico_upstream_peer_failures_total counter/);
  });
});
