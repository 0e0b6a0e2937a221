/**
 * The Master as an in-process API (how the controller embeds it): apply() swaps trees in every worker or
 * reports the error with the old tree still serving, and a worker thread that dies is replaced.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { request } from 'undici';
import { directive as d, type ConfTree } from '../../../dataplane/core/tree.ts';
import { Master } from '../../../dataplane/process/master.ts';
import { Prefix, readIfExists, waitFor } from '../../support/dataplane.ts';

function tree(port: number, body: string, workers = 2): ConfTree {
  return [
    d('worker_processes', [String(workers)]),
    d('error_log', ['logs/error.log', 'notice']),
    d('events', [], []),
    d('http', [], [d('server', [], [d('listen', [`127.0.0.1:${port}`]), d('location', ['/'], [d('return', ['200', body])])])]),
  ];
}

async function get(port: number): Promise<string> {
  const res = await request(`http://127.0.0.1:${port}/`, { reset: true });
  return `${res.statusCode} ${await res.body.text()}`;
}

async function withMaster(port: number, body: string, fn: (m: Master, p: Prefix) => Promise<void>): Promise<void> {
  const p = new Prefix();
  const m = await Master.start({ prefix: p.dir, confFile: p.path('conf/nginx.conf'), tree: tree(port, body) });
  try {
    await fn(m, p);
  } finally {
    await m.stop();
    p.remove();
  }
}

describe('embedded master', () => {
  test('apply swaps the tree in every worker before it resolves', () =>
    withMaster(22021, 'a', async (m) => {
      assert.equal(await get(22021), '200 a');
      assert.deepEqual(await m.apply(tree(22021, 'b')), { ok: true });
      const bodies = await Promise.all(Array.from({ length: 20 }, () => get(22021)));
      assert.deepEqual(new Set(bodies), new Set(['200 b']));
      assert.equal(m.workers.length, 2);
    }));

  test('apply of an identical tree is a no-op', () =>
    withMaster(22022, 'same', async (m) => {
      const before = m.currentTree;
      const threads = [...m.workers];
      assert.deepEqual(await m.apply(tree(22022, 'same')), { ok: true });
      assert.equal(m.currentTree, before);
      assert.deepEqual(m.workers, threads);
    }));

  test('apply of a broken tree reports the error and keeps the old tree serving', () =>
    withMaster(22023, 'kept', async (m, p) => {
      const broken = [...tree(22023, 'lost'), d('bogus', ['1'])];
      const r = await m.apply(broken);
      assert.deepEqual(r, { ok: false, error: 'unknown directive "bogus"' });
      assert.equal(await get(22023), '200 kept');
      assert.match(readIfExists(p.path('logs/error.log')), /\[emerg\] \d+#0: unknown directive "bogus"\n/);
    }));

  test('apply of a tree whose new port is taken fails with the bind error and changes nothing', () =>
    withMaster(22024, 'here', async (m) => {
      const q = new Prefix();
      const other = await Master.start({ prefix: q.dir, confFile: q.path('conf/nginx.conf'), tree: tree(22025, 'other', 1), pidFile: false });
      try {
        const r = await m.apply(tree(22025, 'moved'));
        assert.deepEqual(r, { ok: false, error: 'bind() to 127.0.0.1:22025 failed (98: Address already in use)' });
        assert.equal(await get(22024), '200 here');
        assert.equal(await get(22025), '200 other');
      } finally {
        await other.stop();
        q.remove();
      }
    }));

  test('apply of a tree whose error log cannot be opened keeps the old tree in every worker', () =>
    withMaster(22028, 'logged', async (m, p) => {
      const t = tree(22028, 'unlogged');
      t[1] = d('error_log', ['missing/error.log', 'notice']);
      const r = await m.apply(t);
      assert.deepEqual(r, { ok: false, error: `open() "${p.path('missing/error.log')}" failed (2: No such file or directory)` });
      for (let i = 0; i < 10; i++) assert.equal(await get(22028), '200 logged');
    }));

  test('metrics gathers one snapshot per worker, counting the requests served', () =>
    withMaster(22029, 'counted', async (m) => {
      for (let i = 0; i < 12; i++) assert.equal(await get(22029), '200 counted');
      const snaps = await m.metrics();
      assert.deepEqual(snaps.map((s) => s.worker).sort(), [0, 1]);
      assert.equal(snaps.reduce((n, s) => n + s.requestsTotal, 0), 12);
      assert.equal(snaps.reduce((n, s) => n + s.connectionsAccepted, 0), 12);
    }));

  test('worker_processes changes start and retire worker threads', () =>
    withMaster(22026, 'n', async (m) => {
      assert.deepEqual(await m.apply(tree(22026, 'three', 3)), { ok: true });
      assert.equal(m.workers.length, 3);
      assert.equal(await get(22026), '200 three');
      const three = [...m.workers];
      assert.deepEqual(await m.apply(tree(22026, 'one', 1)), { ok: true });
      assert.equal(m.workers.length, 1);
      // Retired threads close their SO_REUSEPORT sockets; a connection queued on one as it closes is reset by
      // the kernel (unless net.ipv4.tcp_migrate_req=1), so traffic is checked once they are gone.
      const retired = three.filter((t) => !m.workers.includes(t));
      assert.equal(retired.length, 2);
      await waitFor('the retired threads to exit', () => retired.every((t) => t.threadId === -1));
      assert.equal(await get(22026), '200 one');
    }));

  test('a worker thread that dies is logged as [alert] and replaced', () =>
    withMaster(22027, 'alive', async (m, p) => {
      const [victim, survivor] = m.workers;
      const id = victim!.threadId;
      await victim!.terminate();
      await waitFor('a replacement', () => m.workers.length === 2 && !m.workers.includes(victim!));
      assert.ok(m.workers.includes(survivor!));
      const log = readIfExists(p.path('logs/error.log'));
      assert.match(log, new RegExp(`\\[alert\\] \\d+#0: worker process ${id} exited with code 1\\n`));
      await waitFor('the replacement to be announced', () => /start worker process/g.test(readIfExists(p.path('logs/error.log')).split('[alert]')[1] ?? ''));
      for (let i = 0; i < 10; i++) assert.equal(await get(22027), '200 alive');
    }));
});
