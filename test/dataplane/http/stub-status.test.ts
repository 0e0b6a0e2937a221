import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { makePrefix } from '../../support/dataplane.ts';
import { rawExchange } from '../../support/raw.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const P = 28060;

async function waitForPort(port: number, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const r = await rawExchange(port, 'GET /s HTTP/1.0\r\n\r\n', { waitMs: 500 }).catch(() => undefined);
    if (r && r.data.startsWith('HTTP/1.1 200')) return;
    await new Promise((res) => setTimeout(res, 100));
  }
  throw new Error(`port ${port} never answered`);
}

test('stub_status counts the connections and requests of every worker in one shared view', async () => {
  const prefix = makePrefix({
    'nginx.conf': `worker_processes 2; daemon off; error_log logs/error.log notice; pid logs/nginx.pid;
      events {}
      http { server { listen 127.0.0.1:${P}; location / { return 200 ok; } location = /s { stub_status; } } }`,
  });
  fs.mkdirSync(path.join(prefix, 'logs'), { recursive: true });
  const proc = spawn(path.join(ROOT, 'bin/portico-dataplane'), ['-p', prefix, '-c', 'nginx.conf'], { stdio: 'ignore' });
  try {
    await waitForPort(P, 10_000);
    const base = await rawExchange(P, 'GET /s HTTP/1.0\r\n\r\n');
    const accepts0 = Number(/\n (\d+) \d+ \d+ \n/.exec(base.data)![1]);
    // Separate connections, so SO_REUSEPORT spreads them over both workers.
    await Promise.all(Array.from({ length: 40 }, () => rawExchange(P, 'GET / HTTP/1.0\r\n\r\n')));
    const after = await rawExchange(P, 'GET /s HTTP/1.0\r\n\r\n');
    const [, accepts, handled, requests] = /\n (\d+) (\d+) (\d+) \n/.exec(after.data)!.map(Number);
    assert.equal(accepts, accepts0 + 41);
    assert.equal(handled, accepts);
    assert.ok(requests! >= accepts!);
    assert.match(after.data, /Active connections: [1-9]\d* \n/);
  } finally {
    proc.kill('SIGTERM');
  }
});
