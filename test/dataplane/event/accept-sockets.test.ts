/**
 * Accept sockets: each worker listens on a TCP address with several SO_REUSEPORT sockets (16, or 64 with
 * `multi_accept on`), because libuv accepts one connection per socket per loop turn. The tests count the
 * listening sockets in /proc/net/tcp and check that a burst of connections, which the kernel spreads over all
 * of them, is answered in full, before and after a reload that grows the set and one that drops the address.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import { describe, test } from 'node:test';
import { Prefix, Running, waitFor, waitForFile } from '../../support/dataplane.ts';

function conf(port: number, multiAccept: boolean, body = 'ok'): string {
  return `worker_processes 2;
error_log logs/error.log notice;
daemon off;
events { multi_accept ${multiAccept ? 'on' : 'off'}; }
http {
    server {
        listen 127.0.0.1:${port};
        location / { return 200 "${body}"; }
    }
}
`;
}

/** listeningSockets counts sockets in LISTEN state on 127.0.0.1:port (state 0A in /proc/net/tcp). */
function listeningSockets(port: number): number {
  const want = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  return fs
    .readFileSync('/proc/net/tcp', 'utf8')
    .split('\n')
    .slice(1)
    .filter((line) => {
      const f = line.trim().split(/\s+/);
      return f[1] === want && f[3] === '0A';
    }).length;
}

/** burst opens `n` connections at once, sends one request on each and resolves with how many got 200 `body`. */
async function burst(port: number, n: number, body = 'ok'): Promise<number> {
  const one = (): Promise<boolean> =>
    new Promise((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      let got = '';
      const timer = setTimeout(() => (s.destroy(), resolve(false)), 20_000);
      s.on('connect', () => s.write('GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n'));
      s.on('data', (b) => (got += b));
      s.on('error', () => {});
      s.on('close', () => {
        clearTimeout(timer);
        resolve(got.startsWith('HTTP/1.1 200') && got.endsWith(`\r\n\r\n${body}`));
      });
    });
  const results = await Promise.all(Array.from({ length: n }, one));
  return results.filter(Boolean).length;
}

/** withDataplane runs the real binary on `text` until `body` is done (it may rewrite conf/nginx.conf and signal). */
async function withDataplane(text: string, body: (p: Prefix, dp: Running) => Promise<void>): Promise<void> {
  const p = new Prefix();
  p.conf(text);
  const dp = new Running(['-p', p.dir]);
  try {
    await Promise.race([waitForFile(p.path('logs/nginx.pid')), dp.exited.then(() => Promise.reject(new Error(dp.stderr)))]);
    await body(p, dp);
  } finally {
    await dp.stop();
    p.remove();
  }
}

describe('accept sockets', () => {
  test('16 sockets per worker, 64 after a reload with multi_accept on, none after the address is dropped', async () => {
    const port = 22041;
    await withDataplane(conf(port, false), async (p, dp) => {
      await waitFor('both workers listening', () => listeningSockets(port) === 32);
      assert.equal(await burst(port, 400), 400);

      p.conf(conf(port, true));
      dp.signal('SIGHUP');
      await waitFor('the set grown to 64 per worker', () => listeningSockets(port) === 128);
      assert.equal(await burst(port, 400), 400);

      p.conf(conf(port + 1, true));
      dp.signal('SIGHUP');
      await waitFor('the old address closed', () => listeningSockets(port) === 0);
      assert.equal(listeningSockets(port + 1), 128);
      assert.equal(await burst(port + 1, 100), 100);
    });
  });

  test('a reload back to multi_accept off keeps the sockets: closing one would reset connections queued on it', async () => {
    const port = 22043;
    await withDataplane(conf(port, true), async (p, dp) => {
      await waitFor('both workers listening', () => listeningSockets(port) === 128);
      p.conf(conf(port, false, 'two'));
      dp.signal('SIGHUP');
      await waitFor('both workers on the new config', async () => (await burst(port, 32, 'two')) === 32);
      assert.equal(await burst(port, 200, 'two'), 200);
      assert.equal(listeningSockets(port), 128);
    });
  });
});
