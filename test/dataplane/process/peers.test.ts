/**
 * Master.applyPeers, the endpoint fast path: upstream `server` lines change in every worker without a reload,
 * so servers, client connections, idle upstream connections and the state of unchanged peers stay. Bad lines
 * are refused in nginx's words with the old peers serving. Ports 24500-24519.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { Client } from 'undici';
import { directive as d, type ConfDirective, type ConfTree } from '../../../dataplane/core/tree.ts';
import { Master } from '../../../dataplane/process/master.ts';
import { Prefix } from '../../support/dataplane.ts';
import { httpUpstream, rawUpstream, type TestUpstream } from '../../support/upstreams.ts';

const upstreams: TestUpstream[] = [];
after(async () => {
  for (const u of upstreams) await u.close();
});

async function started(u: Promise<TestUpstream>): Promise<TestUpstream> {
  upstreams.push(await u);
  return upstreams.at(-1)!;
}

const server = (port: number, ...params: string[]): ConfDirective => d('server', [`127.0.0.1:${port}`, ...params]);

function tree(port: number, app: ConfDirective[], other: ConfDirective[], opts: { workers?: string; extra?: ConfDirective[] } = {}): ConfTree {
  return [
    ...(opts.workers === 'off' ? [d('master_process', ['off'])] : [d('worker_processes', [opts.workers ?? '2'])]),
    d('events', [], []),
    d('http', [], [
      d('access_log', ['off']),
      // Upstream keep-alive as nginx needs it: HTTP/1.1 and no `Connection: close`.
      d('proxy_http_version', ['1.1']),
      d('proxy_set_header', ['Connection', '']),
      d('upstream', ['app'], [d('keepalive', ['8']), ...app]),
      d('upstream', ['other'], [d('keepalive', ['8']), ...other]),
      d('server', [], [
        d('listen', [`127.0.0.1:${port}`]),
        d('location', ['/'], [d('proxy_pass', ['http://app'])]),
        d('location', ['/other'], [d('proxy_pass', ['http://other'])]),
        ...(opts.extra ?? []),
      ]),
    ]),
  ];
}

async function withMaster(t: ConfTree, fn: (m: Master) => Promise<void>): Promise<void> {
  const p = new Prefix();
  const m = await Master.start({ prefix: p.dir, confFile: p.path('conf/nginx.conf'), tree: t, errorLog: p.path('logs/error.log') });
  try {
    await fn(m);
  } finally {
    await m.stop();
    p.remove();
  }
}

/** get sends one request on `client` (one keep-alive connection, so one worker) and returns the body. */
async function get(client: Client, path: string): Promise<string> {
  const r = await client.request({ method: 'GET', path });
  return `${r.statusCode} ${await r.body.text()}`;
}

/** fresh sends one request on a new connection (any worker). */
async function fresh(port: number, path = '/'): Promise<string> {
  const c = new Client(`http://127.0.0.1:${port}`);
  try {
    return await get(c, path);
  } finally {
    await c.close();
  }
}

function appServers(m: Master): string[][] {
  const http = m.currentTree.find((x) => x.name === 'http')!;
  const app = http.block!.find((x) => x.name === 'upstream' && x.args[0] === 'app')!;
  return app.block!.filter((x) => x.name === 'server').map((x) => x.args);
}

describe('Master.applyPeers', () => {
  test('moves traffic to the new peers in every worker without rebuilding servers or dropping connections', async () => {
    const a = await started(httpUpstream('A'));
    const b = await started(httpUpstream('B'));
    const c = await started(httpUpstream('C'));
    const PORT = 24501;
    await withMaster(tree(PORT, [server(a.port)], [server(c.port)]), async (m) => {
      const client = new Client(`http://127.0.0.1:${PORT}`, { pipelining: 1 });
      try {
        assert.equal(await get(client, '/'), '200 A');
        assert.equal(await get(client, '/other'), '200 C');
        assert.equal(c.connections, 1);
        assert.deepEqual(await m.applyPeers({ app: [server(b.port)] }), { ok: true });
        // The client's keep-alive connection goes on; its worker kept the idle connection to the unchanged upstream.
        assert.equal(await get(client, '/'), '200 B');
        assert.equal(await get(client, '/other'), '200 C');
        assert.equal(c.connections, 1, 'the idle upstream connection of an untouched upstream is reused');
        const bodies = await Promise.all(Array.from({ length: 10 }, () => fresh(PORT)));
        assert.deepEqual(new Set(bodies), new Set(['200 B']), 'every worker uses the new peers');
        assert.deepEqual(appServers(m), [[`127.0.0.1:${b.port}`]]);
        // The control: a full apply rebuilds the groups, so the same connection needs a new upstream connection.
        assert.deepEqual(await m.apply(tree(PORT, [server(b.port)], [server(c.port)], { extra: [d('location', ['/x'], [d('return', ['204'])])] })), { ok: true });
        assert.equal(await get(client, '/other'), '200 C');
        assert.equal(c.connections, 2);
      } finally {
        await client.close();
      }
    });
  });

  test('an unchanged peer keeps its state: a peer marked failed stays failed', async () => {
    const a = await started(httpUpstream('A'));
    const b = await started(httpUpstream('B'));
    const c = await started(httpUpstream('C'));
    // Accepts and resets: an `error` for proxy_next_upstream, so the peer is marked failed (max_fails=1).
    const bad = await started(rawUpstream((s) => s.resetAndDestroy()));
    const PORT = 24502;
    const dead = server(bad.port, 'fail_timeout=60s');
    await withMaster(tree(PORT, [server(a.port), dead], [server(c.port)]), async (m) => {
      for (let i = 0; i < 20 && bad.connections === 0; i++) assert.equal(await fresh(PORT), '200 A');
      assert.ok(bad.connections > 0, 'the failing peer was tried');
      const tried = bad.connections;
      assert.deepEqual(await m.applyPeers({ app: [server(b.port), dead] }), { ok: true });
      const bodies = await Promise.all(Array.from({ length: 10 }, () => fresh(PORT)));
      assert.deepEqual(new Set(bodies), new Set(['200 B']));
      assert.equal(bad.connections, tried, 'the failed peer was not tried again within fail_timeout');
    });
  });

  test('a bad server line is refused in nginx\'s words and the old peers keep serving', async () => {
    const a = await started(httpUpstream('A'));
    const b = await started(httpUpstream('B'));
    const PORT = 24503;
    await withMaster(tree(PORT, [server(a.port)], [server(a.port)]), async (m) => {
      const before = m.currentTree;
      assert.deepEqual(await m.applyPeers({ app: [server(b.port, 'weight=0')] }), { ok: false, error: 'invalid parameter "weight=0" in upstream "app"' });
      assert.deepEqual(await m.applyPeers({ app: [d('server', ['127.0.0.1:99999'])] }), { ok: false, error: 'invalid host in upstream "127.0.0.1:99999"' });
      assert.deepEqual(await m.applyPeers({ app: [] }), { ok: false, error: 'no servers are inside upstream "app"' });
      // All or nothing: a good upstream beside a bad one is not applied either.
      assert.deepEqual(await m.applyPeers({ other: [server(b.port)], nope: [server(b.port)] }), { ok: false, error: 'upstream "nope" not found' });
      assert.equal(m.currentTree, before);
      const bodies = await Promise.all(Array.from({ length: 6 }, () => fresh(PORT)));
      assert.deepEqual(new Set(bodies), new Set(['200 A']));
      assert.equal(await fresh(PORT, '/other'), '200 A');
    });
  });

  test('the new lines become the current tree: applying it again is a no-op, a worker started later serves them', async () => {
    const a = await started(httpUpstream('A'));
    const b = await started(httpUpstream('B'));
    const PORT = 24504;
    await withMaster(tree(PORT, [server(a.port)], [server(a.port)], { workers: '1' }), async (m) => {
      assert.deepEqual(await m.applyPeers({ app: [server(b.port)] }), { ok: true });
      const threads = [...m.workers];
      assert.deepEqual(await m.apply(tree(PORT, [server(b.port)], [server(a.port)], { workers: '1' })), { ok: true });
      assert.deepEqual(m.workers, threads, 'identical to the current tree: nothing to do');
      // A worker that dies is replaced from the current tree, which has the new peers.
      await threads[0]!.terminate();
      for (let i = 0; i < 100 && (m.workers.length === 0 || m.workers[0] === threads[0]); i++) await new Promise((r) => setTimeout(r, 20));
      const end = Date.now() + 5000;
      let body = '';
      while (Date.now() < end && body !== '200 B') body = await fresh(PORT).catch((e: Error) => e.message);
      assert.equal(body, '200 B');
    });
  });

  test('a worker that cannot take the new peers makes the master fall back to a full reload, and says so', async () => {
    const a = await started(httpUpstream('A'));
    const b = await started(httpUpstream('B'));
    const PORT = 24506;
    await withMaster(tree(PORT, [server(a.port)], [server(a.port)]), async (m) => {
      const [doomed] = m.workers;
      const pending = m.applyPeers({ app: [server(b.port)] });
      // Ends before the message reaches it (the master posts on the next microtask): that worker never answers.
      void doomed!.terminate();
      const r = await pending;
      assert.equal(r.ok, true);
      assert.match(r.fallback ?? '', /^worker process \d+ could not update upstream peers \(worker process \d+ exited\), reloading$/);
      assert.deepEqual(appServers(m), [[`127.0.0.1:${b.port}`]]);
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(m.workers.length, 2, 'the dead worker was replaced once');
      assert.ok(!m.workers.includes(doomed!));
      const bodies = await Promise.all(Array.from({ length: 10 }, () => fresh(PORT)));
      assert.deepEqual(new Set(bodies), new Set(['200 B']));
    });
  });

  test('with master_process off the master\'s own serving cycle gets the new peers', async () => {
    const a = await started(httpUpstream('A'));
    const b = await started(httpUpstream('B'));
    const PORT = 24505;
    await withMaster(tree(PORT, [server(a.port)], [server(a.port)], { workers: 'off' }), async (m) => {
      assert.equal(await fresh(PORT), '200 A');
      assert.deepEqual(await m.applyPeers({ app: [server(b.port)] }), { ok: true });
      assert.equal(await fresh(PORT), '200 B');
      assert.deepEqual(await m.applyPeers({ app: [server(b.port, 'weight=x')] }), { ok: false, error: 'invalid parameter "weight=x" in upstream "app"' });
      assert.equal(await fresh(PORT), '200 B');
    });
  });
});
