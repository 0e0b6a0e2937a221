import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { request } from 'undici';
import WebSocket from 'ws';
import { WebSocketServer } from 'ws';
import { startDataplane, type Dataplane } from '../../support/dataplane.ts';
import { httpUpstream, rawUpstream, type TestUpstream } from '../../support/upstreams.ts';

const PORT = 26201;
const base = `http://127.0.0.1:${PORT}`;

describe('proxy_pass', () => {
  let dp: Dataplane;
  let echo: TestUpstream;
  let fail502: TestUpstream;
  let silent: TestUpstream;
  let reset: TestUpstream;
  let invalid: TestUpstream;
  let midReset: TestUpstream;
  let wss: WebSocketServer;
  let wsPort: number;
  before(async () => {
    echo = await httpUpstream('echo', (req, res, body) => {
      if (req.url!.startsWith('/x/go')) {
        res.writeHead(302, { location: `http://${req.headers.host}/x/landing` });
        res.end();
        return;
      }
      res.setHeader('content-type', 'application/json');
      res.setHeader('x-upstream', 'yes');
      res.end(JSON.stringify({ url: req.url, method: req.method, headers: req.headers, body }));
    });
    fail502 = await httpUpstream('bad', (_req, res) => {
      res.statusCode = 502;
      res.end('bad gateway from upstream');
    });
    silent = await rawUpstream(() => {});
    reset = await rawUpstream((s) => s.resetAndDestroy());
    invalid = await rawUpstream((s) => s.end('HTTP/1.1 200 OK\r\nBad Header Line\r\n\r\nhello'));
    midReset = await rawUpstream((s) => {
      s.write('HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n' + 'x'.repeat(1000));
      setTimeout(() => s.resetAndDestroy(), 50);
    });
    wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    wss.on('connection', (ws) => ws.on('message', (m, isBinary) => ws.send(isBinary ? m : `echo: ${m}`)));
    await new Promise((r) => wss.once('listening', r));
    wsPort = (wss.address() as net.AddressInfo).port;
    const e = echo.port;
    dp = await startDataplane(`http {
      upstream echo { server 127.0.0.1:${e}; keepalive 8; }
      upstream retry502 { server 127.0.0.1:${fail502.port}; server 127.0.0.1:${e}; }
      upstream pass502 { server 127.0.0.1:${fail502.port} max_fails=0; server 127.0.0.1:${e} max_fails=0; }
      upstream silentfirst { server 127.0.0.1:${silent.port} max_fails=0; server 127.0.0.1:${e} max_fails=0; }
      upstream silentposts { server 127.0.0.1:${silent.port} max_fails=0; server 127.0.0.1:${e} max_fails=0; }
      upstream resetfirst { server 127.0.0.1:${reset.port}; server 127.0.0.1:${e}; }
      server { listen 127.0.0.1:${PORT}; server_name test;
        location /plain { proxy_pass http://echo; }
        location /a/ { proxy_pass http://echo/x/; }
        location /b { proxy_pass http://echo/y; }
        location ~ ^/re/(.*)$ { proxy_pass http://echo; }
        location /rw/ { rewrite ^/rw/(.*)$ /changed/$1 break; proxy_pass http://echo/x/; }
        location /rwlast/ { rewrite ^/rwlast/(.*)$ /a/$1 last; }
        location /vars/ { proxy_pass http://127.0.0.1:${e}/v$request_uri; }
        location /kept { proxy_pass http://echo; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for; }
        location /redir/ { proxy_pass http://echo/x/; }
        location /refused { proxy_pass http://127.0.0.1:1; }
        location /slow { proxy_pass http://127.0.0.1:${silent.port}; proxy_read_timeout 300ms; }
        location /invalid { proxy_pass http://127.0.0.1:${invalid.port}; }
        location /midreset { proxy_pass http://127.0.0.1:${midReset.port}; proxy_buffering off; }
        location /retry502 { proxy_pass http://retry502; proxy_next_upstream error timeout http_502; }
        location /no502 { proxy_pass http://pass502; }
        location /silentfirst { proxy_pass http://silentfirst; proxy_read_timeout 200ms; }
        location /posts { proxy_pass http://silentposts; proxy_read_timeout 200ms; }
        location /nonidem { proxy_pass http://silentfirst; proxy_read_timeout 200ms; proxy_next_upstream error timeout non_idempotent; }
        location /resetfirst { proxy_pass http://resetfirst; }
        location /ws { proxy_pass http://127.0.0.1:${wsPort}; proxy_http_version 1.1; proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection "upgrade"; proxy_read_timeout 2s; }
      } }`);
  });
  after(async () => {
    await dp.stop();
    for (const u of [echo, fail502, silent, reset, invalid, midReset]) await u.close();
    wss.close();
  });

  async function upstreamSaw(path: string, init: { method?: string; body?: string; headers?: Record<string, string> } = {}): Promise<{ url: string; method: string; headers: Record<string, string>; body: string }> {
    const res = await request(`${base}${path}`, { method: (init.method ?? 'GET') as 'GET', body: init.body, headers: init.headers });
    assert.equal(res.statusCode, 200, path);
    return (await res.body.json()) as never;
  }

  test('the URI is replaced by nginx rules', async () => {
    const table: [string, string][] = [
      ['/plain/p%20q?x=1', '/plain/p%20q?x=1'],
      ['/a/b/c?q=2', '/x/b/c?q=2'],
      ['/a/', '/x/'],
      ['/b/c', '/y/c'],
      ['/bc', '/yc'],
      ['/re/z?k=v', '/re/z?k=v'],
      ['/vars/w?k=1', '/v/vars/w?k=1'],
      // After rewrite … break the URI part is ignored and the whole changed URI is sent (nginx docs).
      ['/rw/p?q=1', '/changed/p?q=1'],
      // A rewrite … last lands in /a/ whose URI part replaces the location prefix as usual.
      ['/rwlast/z', '/x/z'],
    ];
    for (const [from, to] of table) assert.equal((await upstreamSaw(from)).url, to, from);
  });

  test('a proxy_pass with a URI part in a regex location is refused', async () => {
    await assert.rejects(
      startDataplane(`http { server { listen 127.0.0.1:${PORT + 1}; location ~ /x { proxy_pass http://127.0.0.1:9/y; } } }`),
      /"proxy_pass" cannot have URI part in location given by regular expression/,
    );
  });

  test('default request headers are Host $proxy_host and Connection close; the client headers pass', async () => {
    const seen = await upstreamSaw('/plain', { headers: { 'x-client': 'c1', host: 'test' } });
    assert.equal(seen.headers.host, 'echo');
    assert.equal(seen.headers.connection, 'close');
    assert.equal(seen.headers['x-client'], 'c1');
  });

  test('proxy_set_header overrides defaults and $proxy_add_x_forwarded_for appends the client', async () => {
    const seen = await upstreamSaw('/kept', { headers: { 'x-forwarded-for': '10.0.0.1' } });
    assert.equal(seen.headers.connection, undefined);
    assert.equal(seen.headers['x-forwarded-for'], '10.0.0.1, 127.0.0.1');
  });

  test('response headers pass through except hidden ones; Server and Date are our own', async () => {
    const res = await request(`${base}/plain`);
    assert.equal(res.headers['x-upstream'], 'yes');
    assert.equal(res.headers['content-type'], 'application/json');
    assert.match(String(res.headers.server), /^portico/);
    await res.body.dump();
  });

  test('request bodies are passed with their length', async () => {
    const seen = await upstreamSaw('/plain', { method: 'POST', body: 'hello body' });
    assert.equal(seen.body, 'hello body');
    assert.equal(seen.headers['content-length'], '10');
  });

  test('proxy_redirect default rewrites Location back to the location', async () => {
    const res = await request(`${base}/redir/go`);
    assert.equal(res.statusCode, 302);
    assert.equal(res.headers.location, `http://127.0.0.1:${PORT}/redir/landing`);
    await res.body.dump();
  });

  test('a refused connection is 502 with nginx error log wording', async () => {
    const res = await request(`${base}/refused/q`);
    assert.equal(res.statusCode, 502);
    await res.body.dump();
    assert.match(dp.errorLog(), /\[error\].*connect\(\) failed \(111: Connection refused\) while connecting to upstream, client: 127\.0\.0\.1, server: test, request: "GET \/refused\/q HTTP\/1\.1", upstream: "http:\/\/127\.0\.0\.1:1\/refused\/q"/);
  });

  test('a silent upstream is 504 after proxy_read_timeout', async () => {
    const res = await request(`${base}/slow`);
    assert.equal(res.statusCode, 504);
    await res.body.dump();
    assert.match(dp.errorLog(), /upstream timed out \(110: Connection timed out\) while reading response header from upstream/);
  });

  test('an invalid response header is 502', async () => {
    const res = await request(`${base}/invalid`);
    assert.equal(res.statusCode, 502);
    await res.body.dump();
    assert.match(dp.errorLog(), /upstream sent invalid header while reading response header from upstream/);
  });

  test('a reset in the middle of a response cuts the client connection', async () => {
    const res = await request(`${base}/midreset`);
    assert.equal(res.statusCode, 200);
    await assert.rejects(res.body.text());
  });

  test('http_502 in proxy_next_upstream moves a GET to the next peer; without it the 502 is passed', async () => {
    assert.equal((await upstreamSaw('/retry502/1')).url, '/retry502/1');
    const before = echo.seen.length;
    let sawBad = false;
    for (let i = 0; i < 2; i++) {
      const res = await request(`${base}/no502/x`);
      const text = await res.body.text();
      if (res.statusCode === 502) {
        sawBad = true;
        assert.equal(text, 'bad gateway from upstream');
      }
    }
    assert.ok(sawBad);
    assert.equal(echo.seen.length - before, 1);
  });

  test('a POST whose peer resets after receiving it is not retried; a GET is', async () => {
    const resetsBefore = reset.connections;
    const echoBefore = echo.seen.filter((s) => s.url.startsWith('/resetfirst')).length;
    const results: number[] = [];
    for (let i = 0; i < 2; i++) {
      const res = await request(`${base}/resetfirst/p`, { method: 'POST', body: 'once' });
      results.push(res.statusCode);
      await res.body.dump();
    }
    const posts = echo.seen.filter((s) => s.url.startsWith('/resetfirst') && s.method === 'POST').length;
    const resets = reset.connections - resetsBefore;
    // Each POST reached exactly one peer: those that hit the resetting one got 502 and were not repeated.
    assert.equal(posts + resets, 2);
    assert.equal(results.filter((s) => s === 502).length, resets);
    const g = await request(`${base}/resetfirst/g`);
    assert.equal(g.statusCode, 200);
    await g.body.dump();
    void echoBefore;
  });

  test('a WebSocket upgrade is tunnelled both ways', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${PORT}/ws`);
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    const got = new Promise<string>((resolve) => ws.once('message', (m) => resolve(String(m))));
    ws.send('ping');
    assert.equal(await got, 'echo: ping');
    const big = Buffer.alloc(300_000, 7);
    const gotBig = new Promise<Buffer>((resolve) => ws.once('message', (m) => resolve(m as Buffer)));
    ws.send(big);
    assert.equal(Buffer.compare(await gotBig, big), 0);
    ws.close();
  });

  test('a large buffered body goes through a temp file and is sent again on a retry', async () => {
    const big = Buffer.alloc(300_000);
    for (let i = 0; i < big.length; i++) big[i] = 97 + (i % 26);
    for (let i = 0; i < 2; i++) {
      const res = await request(`${base}/resetfirst/put`, { method: 'PUT', body: big });
      assert.equal(res.statusCode, 200);
      const seen = (await res.body.json()) as { body: string; headers: Record<string, string> };
      assert.equal(seen.headers['content-length'], String(big.length));
      assert.equal(seen.body, big.toString('latin1'));
    }
  });

  test('a timed-out GET moves to the next peer; a timed-out POST is 504 and reaches no other peer unless non_idempotent', async () => {
    const count = (p: string, m: string) => echo.seen.filter((x) => x.url === p && x.method === m).length;
    for (let i = 0; i < 2; i++) {
      const res = await request(`${base}/silentfirst`);
      assert.equal(res.statusCode, 200);
      await res.body.dump();
    }
    assert.equal(count('/silentfirst', 'GET'), 2, 'each GET reached the answering peer once');
    // Equal weights alternate strictly: one POST goes to the silent peer, one to the answering peer.
    const silentBefore = silent.connections;
    const statuses: number[] = [];
    for (let i = 0; i < 2; i++) {
      const res = await request(`${base}/posts`, { method: 'POST', body: 'x' });
      statuses.push(res.statusCode);
      await res.body.dump();
    }
    assert.deepEqual(statuses.sort(), [200, 504]);
    assert.equal(count('/posts', 'POST'), 1, 'the timed-out POST was not repeated on the other peer');
    assert.equal(silent.connections - silentBefore, 1);
    for (let i = 0; i < 2; i++) {
      const res = await request(`${base}/nonidem`, { method: 'POST', body: 'y' });
      assert.equal(res.statusCode, 200);
      await res.body.dump();
    }
    assert.equal(count('/nonidem', 'POST'), 2, 'with non_idempotent each POST reached the answering peer exactly once');
    assert.match(dp.errorLog(), /upstream timed out \(110: Connection timed out\) while reading response header from upstream.*request: "POST \/posts/);
  });
});
