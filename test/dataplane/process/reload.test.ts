/**
 * The process model under traffic: two worker threads serve one port; HUP swaps configurations without a
 * failed request; a broken config keeps the old one serving; QUIT drains; ports in use are refused.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, test } from 'node:test';
import { Agent, request } from 'undici';
import { Prefix, Running, readIfExists, run, waitFor, waitForFile, waitForText } from '../../support/dataplane.ts';

function conf(port: number, body: string, extra = ''): string {
  return `worker_processes 2;
error_log logs/error.log notice;
daemon off;
events {}
${extra}
http {
    server {
        listen 127.0.0.1:${port};
        location / { return 200 "${body}"; }
    }
}
`;
}

async function start(text: string): Promise<{ p: Prefix; dp: Running }> {
  const p = new Prefix();
  p.conf(text);
  const dp = new Running(['-p', p.dir]);
  await Promise.race([waitForFile(p.path('logs/nginx.pid')), dp.exited.then(() => Promise.reject(new Error(dp.stderr)))]);
  return { p, dp };
}

/** get sends one GET and returns the body (throws on any failure or non-200). */
async function get(port: number, dispatcher?: Agent): Promise<string> {
  const res = await request(`http://127.0.0.1:${port}/`, { dispatcher });
  const text = await res.body.text();
  if (res.statusCode !== 200) throw new Error(`status ${res.statusCode}`);
  return text;
}

describe('process model with HTTP', () => {
  test('HUP under traffic: no request fails and responses switch to the new config', async () => {
    const port = 22011;
    const { p, dp } = await start(conf(port, 'one'));
    const agent = new Agent({ connections: 8, pipelining: 1 });
    try {
      const seen: string[] = [];
      const failures: string[] = [];
      let stop = false;
      const deadline = Date.now() + 45_000;
      const client = async (): Promise<void> => {
        for (let i = 0; i < 100_000 && !stop && Date.now() < deadline; i++) {
          try {
            seen.push(await get(port, agent));
          } catch (err) {
            failures.push((err as Error).message);
          }
        }
      };
      const clients = Array.from({ length: 8 }, client);
      await waitFor('some traffic', () => seen.length > 100);
      p.conf(conf(port, 'two'));
      dp.signal('SIGHUP');
      // Both workers swapped once every keep-alive connection (spread over both by SO_REUSEPORT) says "two".
      await waitFor('the new config everywhere', async () => (await Promise.all(Array.from({ length: 16 }, () => get(port, agent)))).every((b) => b === 'two'));
      const mark = seen.length;
      await waitFor('traffic after the swap', () => seen.length > mark + 200);
      stop = true;
      await Promise.all(clients);
      assert.deepEqual(failures, []);
      assert.ok(seen.slice(0, 100).every((b) => b === 'one'));
      assert.deepEqual(
        seen.slice(mark + 50).filter((b) => b !== 'two'),
        [],
      );
    } finally {
      await agent.close();
      await dp.stop();
      p.remove();
    }
  });

  test('HUP with a broken config logs [emerg] and the old config keeps serving', async () => {
    const port = 22012;
    const { p, dp } = await start(conf(port, 'old'));
    try {
      p.conf(conf(port, 'new') + 'bogus_directive;\n');
      dp.signal('SIGHUP');
      await waitForText('the emerg', () => readIfExists(p.path('logs/error.log')), `[emerg] ${dp.child.pid}#0: unknown directive "bogus_directive"`);
      for (let i = 0; i < 20; i++) assert.equal(await get(port), 'old');
      p.conf(conf(port + 1000, 'moved'));
      dp.signal('SIGHUP');
      await waitFor('the new port', async () => (await get(port + 1000).catch(() => '')) === 'moved');
      await waitFor('the old port closed', async () => (await get(port).catch(() => 'closed')) === 'closed');
    } finally {
      await dp.stop();
      p.remove();
    }
  });

  test('QUIT closes idle keep-alive connections, finishes a request in flight, then exits', async () => {
    const port = 22013;
    const { p, dp } = await start(conf(port, 'bye'));
    try {
      const idle = await connect(port);
      idle.write('GET / HTTP/1.1\r\nHost: a\r\n\r\n');
      await waitFor('the first response', () => idle.text.includes('bye'));
      const busy = await connect(port);
      busy.write('GET / HTTP/1.1\r\nHost: a\r\n');
      await new Promise((r) => setTimeout(r, 100));
      dp.signal('SIGQUIT');
      await idle.gone;
      assert.equal(dp.child.exitCode, null);
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(dp.child.exitCode, null, 'the master waits for the request in flight');
      busy.write('\r\n');
      await busy.gone;
      assert.match(busy.text, /^HTTP\/1\.1 200 OK\r\n[^]*Connection: close\r\n\r\nbye$/);
      assert.equal(await dp.exited, 0);
      assert.equal(p.exists('logs/nginx.pid'), false);
    } finally {
      await dp.stop();
      p.remove();
    }
  });

  test('QUIT lets a slow download in flight complete before the worker exits', async () => {
    const port = 22018;
    const p = new Prefix();
    // Larger than loopback socket buffers can absorb (they autotune to several MiB), so the worker is really
    // still sending when QUIT arrives.
    const size = 48 * 1024 * 1024;
    p.write('html/big.bin', Buffer.alloc(size, 'x').toString());
    p.conf(conf(port, 'small').replace('location / {', `location /big.bin { root ${p.path('html')}; }\n        location / {`));
    const dp = new Running(['-p', p.dir]);
    try {
      await waitForFile(p.path('logs/nginx.pid'));
      const s = await connect(port);
      s.write('GET /big.bin HTTP/1.1\r\nHost: a\r\n\r\n');
      await waitFor('the first bytes', () => s.text.length > 0);
      s.pause();
      dp.signal('SIGQUIT');
      await new Promise((r) => setTimeout(r, 500));
      assert.equal(dp.child.exitCode, null, 'the master waits for the download');
      s.resume();
      await s.gone;
      const body = s.text.slice(s.text.indexOf('\r\n\r\n') + 4);
      assert.equal(body.length, size);
      assert.equal(await dp.exited, 0);
    } finally {
      await dp.stop();
      p.remove();
    }
  });

  test('QUIT closes what is still busy after worker_shutdown_timeout', async () => {
    const port = 22017;
    const { p, dp } = await start(conf(port, 'late', 'worker_shutdown_timeout 300ms;'));
    try {
      const busy = await connect(port);
      busy.write('GET / HTTP/1.1\r\nHost: a\r\n');
      await new Promise((r) => setTimeout(r, 100));
      dp.signal('SIGQUIT');
      await busy.gone;
      assert.equal(busy.text, '');
      assert.equal(await dp.exited, 0);
      assert.match(readIfExists(p.path('logs/error.log')), /\[notice\] \d+#\d+: shutdown timeout\n/);
    } finally {
      await dp.stop();
      p.remove();
    }
  });

  test('master_process off serves HTTP from the master thread; TERM closes open connections and exits', async () => {
    const port = 22019;
    const { p, dp } = await start(conf(port, 'solo', 'master_process off;'));
    try {
      const s = await connect(port);
      s.write('GET / HTTP/1.1\r\nHost: a\r\n');
      await new Promise((r) => setTimeout(r, 100));
      dp.signal('SIGTERM');
      await s.gone;
      assert.equal(await dp.exited, 0);
      assert.doesNotMatch(readIfExists(p.path('logs/error.log')), /start worker process/);
    } finally {
      await dp.stop();
      p.remove();
    }
  });

  test('a port in use is a bind() error at start, with no pid file', async () => {
    const port = 22014;
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen({ port, host: '127.0.0.1' }, r));
    const p = new Prefix();
    p.conf(conf(port, 'x'));
    try {
      const r = await run(['-p', p.dir]);
      assert.equal(r.code, 1);
      assert.equal(r.stderr, `nginx: [emerg] bind() to 127.0.0.1:${port} failed (98: Address already in use)\n`);
      assert.equal(p.exists('logs/nginx.pid'), false);
    } finally {
      blocker.close();
      p.remove();
    }
  });

  test('a second instance on the same port fails instead of sharing it', async () => {
    const port = 22015;
    const { p, dp } = await start(conf(port, 'first'));
    const q = new Prefix();
    q.conf(conf(port, 'second'));
    try {
      const r = await run(['-p', q.dir]);
      assert.equal(r.code, 1);
      assert.equal(r.stderr, `nginx: [emerg] bind() to 127.0.0.1:${port} failed (98: Address already in use)\n`);
      for (let i = 0; i < 10; i++) assert.equal(await get(port), 'first');
    } finally {
      await dp.stop();
      p.remove();
      q.remove();
    }
  });

  test('the pid file appears only once the port accepts connections', async () => {
    const port = 22016;
    const p = new Prefix();
    p.conf(conf(port, 'up'));
    const dp = new Running(['-p', p.dir]);
    try {
      await waitForFile(p.path('logs/nginx.pid'));
      assert.equal(await get(port), 'up');
    } finally {
      await dp.stop();
      p.remove();
    }
  });
});

/** connect opens a raw socket that accumulates what it reads; `gone` resolves when the server closes it. */
async function connect(port: number): Promise<net.Socket & { text: string; gone: Promise<void> }> {
  const s = net.connect({ port, host: '127.0.0.1' }) as net.Socket & { text: string; gone: Promise<void> };
  s.text = '';
  s.setEncoding('utf8');
  s.on('data', (d: string) => (s.text += d));
  s.gone = new Promise((r) => s.once('close', () => r()));
  await new Promise((r) => s.once('connect', r));
  return s;
}
