import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { makePrefix } from '../../support/dataplane.ts';

const PORT = 29050;
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

async function waitForPort(port: number, ms: number): Promise<void> {
  const until = Date.now() + ms;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => (s.destroy(), resolve(true)));
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > until) throw new Error(`port ${port} not listening after ${ms}ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('two worker threads under a master (process model)', () => {
  let proc: ChildProcess;
  let prefix: string;
  before(async () => {
    prefix = makePrefix({
      'nginx.conf': `daemon off;
        worker_processes 2;
        error_log error.log info;
        pid nginx.pid;
        events {}
        http {
          limit_req_zone $binary_remote_addr zone=perip:1m rate=1r/m;
          log_format w '$status';
          server {
            listen 127.0.0.1:${PORT};
            access_log logs/access.log w;
            # Requests that pass the limit are then denied, so every request leaves an error-log line that
            # names the worker thread that handled it.
            location /burst { limit_req zone=perip burst=19 nodelay; deny all; }
          }
        }`,
    });
    proc = spawn(path.join(ROOT, 'bin/portico-dataplane'), ['-p', prefix, '-c', 'nginx.conf'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    proc.stderr!.on('data', (d) => (stderr += d));
    const exited = new Promise((_, reject) => proc.once('exit', (code) => reject(new Error(`dataplane exited with ${code}: ${stderr}`))));
    exited.catch(() => {});
    await Promise.race([waitForPort(PORT, 30_000), exited]);
    // Both workers bind the address (SO_REUSEPORT); give the second one time to join the first.
    await new Promise((r) => setTimeout(r, 500));
  });
  after(
    () =>
      new Promise<void>((resolve) => {
        if (proc.exitCode !== null) return resolve();
        proc.once('exit', () => resolve());
        proc.kill('SIGTERM');
      }),
  );

  test('40 requests on 40 connections: exactly burst+1 pass, whichever worker took them', async () => {
    const got = await Promise.all(
      Array.from({ length: 40 }, async () => {
        const res = await request(`http://127.0.0.1:${PORT}/burst`, { reset: true });
        await res.body.dump();
        return res.statusCode;
      }),
    );
    assert.equal(got.filter((s) => s === 403).length, 20, String(got));
    assert.equal(got.filter((s) => s === 503).length, 20, String(got));
    await new Promise((r) => setTimeout(r, 100));
    const lines = fs.readFileSync(path.join(prefix, 'error.log'), 'utf8').split('\n').filter((l) => /limiting requests|access forbidden/.test(l));
    const threads = new Set(lines.map((l) => /#(\d+):/.exec(l)?.[1]));
    assert.equal(lines.length, 40);
    assert.equal(threads.size, 2, 'both worker threads took requests and counted them in the one shared bucket');
  });

  test('USR1 to the master makes every worker reopen its access log', async () => {
    const log = path.join(prefix, 'logs/access.log');
    fs.renameSync(log, `${log}.1`);
    proc.kill('SIGUSR1');
    const until = Date.now() + 5000;
    while (!fs.existsSync(log) && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    assert.ok(fs.existsSync(log), 'the log was reopened under its name');
    const got = await Promise.all(
      Array.from({ length: 20 }, async () => {
        const res = await request(`http://127.0.0.1:${PORT}/other`, { reset: true });
        await res.body.dump();
        return res.statusCode;
      }),
    );
    assert.equal(got.length, 20);
    const until2 = Date.now() + 3000;
    let lines: string[] = [];
    while (Date.now() < until2) {
      lines = fs.readFileSync(log, 'utf8').split('\n').filter(Boolean);
      if (lines.length >= 20) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(lines.length, 20, 'every worker writes to the new file');
  });

  test('a reload (HUP) keeps the limit_req zone and its counts', async () => {
    // The bucket of 127.0.0.1 is full from the first test (1r/m leaks almost nothing in a test's time).
    const conf = path.join(prefix, 'nginx.conf');
    fs.writeFileSync(conf, fs.readFileSync(conf, 'utf8').replace('location /burst', 'location /new { return 200 "new\\n"; }\n            location /burst'));
    proc.kill('SIGHUP');
    const until = Date.now() + 10_000;
    let status = 0;
    while (Date.now() < until) {
      const res = await request(`http://127.0.0.1:${PORT}/new`, { reset: true });
      await res.body.dump();
      status = res.statusCode;
      if (status === 200) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(status, 200, 'the new configuration is live');
    const again = await request(`http://127.0.0.1:${PORT}/burst`, { reset: true });
    await again.body.dump();
    assert.equal(again.statusCode, 503, 'the new cycle sees the old counts');
  });
});
