import assert from 'node:assert/strict';
import net from 'node:net';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { request } from 'undici';
import { startDataplane, type Dataplane } from '../../support/dataplane.ts';
import { httpUpstream, rawUpstream, type TestUpstream } from '../../support/upstreams.ts';

const PORT = 26401;
const base = `http://127.0.0.1:${PORT}`;

describe('proxy features', () => {
  let dp: Dataplane;
  let app: TestUpstream;
  let closer: TestUpstream;
  let dead: TestUpstream;
  let stale: TestUpstream;
  let hang: net.Server;
  let hangClosed = 0;
  let hangOpened = 0;
  before(async () => {
    app = await httpUpstream('app', (req, res, body) => {
      if (req.url === '/hdr') {
        res.setHeader('x-secret', 's');
        res.setHeader('server', 'app-server');
        res.setHeader('x-accel-redirect', '/internal/nope');
        res.end('hdr');
      } else if (req.url === '/accel2') {
        res.setHeader('x-accel-redirect', '/err500');
        res.end();
      } else if (req.url === '/accel') {
        res.setHeader('x-accel-redirect', '/internal/target');
        res.end('ignored');
      } else if (req.url!.startsWith('/chunked')) {
        res.write('part1-');
        setTimeout(() => res.end('part2'), 20);
      } else if (req.url === '/teapot') {
        res.statusCode = 418;
        res.end('teapot');
      } else if (req.url === '/err500') {
        res.statusCode = 500;
        res.end('upstream 500 page');
      } else res.end(`${req.method} ${req.url} ${body}`);
    });
    // Answers one request as keep-alive, then closes the idle connection shortly after (as servers with a
    // short keep-alive timeout do).
    closer = await rawUpstream((s) => {
      s.write('HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\ncloser');
      setTimeout(() => s.end(), 50);
    });
    dead = await rawUpstream((s) => s.destroy());
    // Answers the first request of each connection as keep-alive, then drops the connection when the next
    // request arrives on it (the race with an upstream that closes idle connections).
    stale = await rawUpstream((s) => {
      s.write('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfresh');
      s.once('data', () => s.destroy());
    });
    hang = net.createServer((s) => {
      hangOpened++;
      s.resume();
      s.on('close', () => hangClosed++);
      s.on('error', () => {});
    });
    await new Promise<void>((r) => hang.listen(0, '127.0.0.1', r));
    const hangPort = (hang.address() as net.AddressInfo).port;
    dp = await startDataplane(`http {
      upstream app { server 127.0.0.1:${app.port}; keepalive 4; }
      upstream stale { server 127.0.0.1:${stale.port}; keepalive 4; }
      upstream closer { server 127.0.0.1:${closer.port}; keepalive 4; }
      upstream mixed { server 127.0.0.1:${dead.port} max_fails=0; server 127.0.0.1:${app.port} max_fails=0; }
      server { listen 127.0.0.1:${PORT};
        location / { proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection ""; }
        location /internal/ { internal; return 200 "internal page for $uri\\n"; }
        location /stream { proxy_pass http://app; proxy_request_buffering off; proxy_http_version 1.1; proxy_set_header Connection ""; }
        location /err500 { proxy_pass http://app; proxy_intercept_errors on; error_page 500 = @report; }
        location /mixed { proxy_pass http://mixed; proxy_intercept_errors on; error_page 502 = @report; proxy_next_upstream off; }
        location /mixed2 { proxy_pass http://mixed/err500; proxy_intercept_errors on; error_page 500 = @report; }
        location @report { return 200 "addr=$upstream_addr status=$upstream_status\\n"; }
        location /closer { proxy_pass http://closer; proxy_http_version 1.1; proxy_set_header Connection ""; }
        location /stale { proxy_pass http://stale; proxy_http_version 1.1; proxy_set_header Connection ""; }
        location /hang { proxy_pass http://127.0.0.1:${hangPort}; }
        location /hdr { proxy_pass http://app; proxy_hide_header X-Secret; proxy_pass_header Server; proxy_ignore_headers X-Accel-Redirect; }
        location /tries { proxy_pass http://mixed; proxy_next_upstream_tries 1; error_page 502 = @report; }
      } }`);
  });
  after(async () => {
    await dp.stop();
    await app.close();
    await closer.close();
    await dead.close();
    await stale.close();
    hang.close();
  });

  test('X-Accel-Redirect continues the request in an internal location', async () => {
    const res = await request(`${base}/accel`);
    assert.equal(res.statusCode, 200);
    assert.equal(await res.body.text(), 'internal page for /internal/target\n');
  });

  test('a chunked upstream response is passed on whole', async () => {
    const res = await request(`${base}/chunked`);
    assert.equal(await res.body.text(), 'part1-part2');
  });

  test('statuses nginx does not intercept pass through with their body', async () => {
    const res = await request(`${base}/teapot`);
    assert.equal(res.statusCode, 418);
    assert.equal(await res.body.text(), 'teapot');
  });

  test('proxy_intercept_errors hands an upstream 500 to error_page', async () => {
    const res = await request(`${base}/err500`);
    assert.equal(res.statusCode, 200);
    assert.match(await res.body.text(), new RegExp(`^addr=127\\.0\\.0\\.1:${app.port} status=500`));
  });

  test('$upstream_addr lists every try with ", "', async () => {
    let text = '';
    for (let i = 0; i < 2 && !text.includes(', '); i++) {
      const res = await request(`${base}/mixed2`);
      text = await res.body.text();
      assert.equal(res.statusCode, 200);
    }
    assert.equal(text, `addr=127.0.0.1:${dead.port}, 127.0.0.1:${app.port} status=502, 500\n`);
  });

  test('proxy_next_upstream_tries 1 stops after the first failed peer', async () => {
    const texts: string[] = [];
    for (let i = 0; i < 2; i++) texts.push(await (await request(`${base}/tries`)).body.text());
    const failed = texts.find((t) => t.startsWith('addr='));
    assert.ok(failed, texts.join('|'));
    assert.equal(failed, `addr=127.0.0.1:${dead.port} status=502\n`);
  });

  test('a streamed chunked request body reaches the upstream', async () => {
    const body = Readable.from((async function* () {
      yield Buffer.from('one,');
      await new Promise((r) => setTimeout(r, 20));
      yield Buffer.from('two');
    })());
    const res = await request(`${base}/stream`, { method: 'POST', body });
    assert.equal(await res.body.text(), 'POST /stream one,two');
  });

  test('keep-alive upstream connections are reused', async () => {
    await (await request(`${base}/warm`)).body.text();
    const before = app.seen.length;
    const connsBefore = app.connections;
    for (let i = 0; i < 5; i++) await (await request(`${base}/k${i}`)).body.text();
    assert.equal(app.seen.length - before, 5);
    assert.equal(app.connections, connsBefore, 'no new upstream connection for sequential requests');
  });

  test('an upstream closing idle keep-alive connections costs no request', async () => {
    for (let i = 0; i < 3; i++) {
      const res = await request(`${base}/closer`);
      assert.equal(res.statusCode, 200);
      assert.equal(await res.body.text(), 'closer');
      await new Promise((r) => setTimeout(r, 250));
    }
    assert.equal(closer.connections, 3);
  });

  test('a client that goes away is logged as 499 and the upstream connection is closed too', async () => {
    const sock = net.connect(PORT, '127.0.0.1');
    sock.write('GET /hang HTTP/1.1\r\nHost: x\r\n\r\n');
    const until = Date.now() + 3000;
    while (hangOpened === 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    assert.equal(hangOpened, 1, "upstream connection opened");
    sock.destroy();
    while (hangClosed === 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    assert.equal(hangClosed, 1, "upstream connection closed");
    assert.match(dp.errorLog(), /client prematurely closed connection, so upstream connection is closed too while reading response header from upstream.*\/hang/);
  });

  test('proxy_hide_header, proxy_pass_header and proxy_ignore_headers shape the response', async () => {
    const res = await request(`${base}/hdr`);
    assert.equal(await res.body.text(), 'hdr');
    assert.equal(res.headers['x-secret'], undefined);
    assert.equal(res.headers.server, 'app-server');
    assert.equal(res.headers['x-accel-redirect'], undefined);
  });

  test('$upstream_* variables separate upstream groups with " : " after X-Accel-Redirect', async () => {
    const res = await request(`${base}/accel2`);
    assert.equal(await res.body.text(), `addr=127.0.0.1:${app.port} : 127.0.0.1:${app.port} status=200 : 500\n`);
  });

  test('a cached connection the upstream dropped is retried on a fresh one for GET, not for POST', async () => {
    const before = stale.connections;
    for (let i = 0; i < 3; i++) {
      const res = await request(`${base}/stale`);
      assert.equal(res.statusCode, 200);
      assert.equal(await res.body.text(), 'fresh');
    }
    assert.equal(stale.connections - before, 3, 'each reuse attempt fell back to one new connection');
    const post = await request(`${base}/stale`, { method: 'POST', body: 'p' });
    await post.body.dump();
    assert.equal(post.statusCode, 502, 'a POST already sent is not repeated');
  });
});
