import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startDataplane, type Dataplane } from '../../support/dataplane.ts';
import { rawExchange, statuses } from '../../support/raw.ts';

const PORT = 28001;
const H = 'Host: a.test\r\n';

describe('HTTP/1 connection handling', () => {
  let dp: Dataplane;
  before(async () => {
    dp = await startDataplane(`http {
      client_header_timeout 500ms; client_body_timeout 500ms; keepalive_requests 3; keepalive_timeout 5s;
      client_max_body_size 100; large_client_header_buffers 4 1k;
      server {
        listen 127.0.0.1:${PORT}; server_name a.test;
        location / { return 200 "ok $request_method $uri $args\\n"; }
        location /echo { echo_body; }
        location /quiet { server_tokens off; return 404; }
      }
    }`);
  });
  after(() => dp.stop());

  test('keep-alive serves keepalive_requests requests on one connection, then closes', async () => {
    const one = `GET /x HTTP/1.1\r\n${H}\r\n`;
    const res = await rawExchange(PORT, one.repeat(4));
    assert.deepEqual(statuses(res.data), [200, 200, 200]);
    assert.equal(res.closed, true);
    assert.match(res.data, /Connection: close\r\n/);
  });

  test('pipelined requests are answered in order', async () => {
    const res = await rawExchange(PORT, `GET /a HTTP/1.1\r\n${H}\r\nHEAD /b HTTP/1.1\r\n${H}\r\nGET /c?q=1 HTTP/1.1\r\n${H}Connection: close\r\n\r\n`);
    assert.deepEqual(statuses(res.data), [200, 200, 200]);
    const bodies = res.data.split(/HTTP\/1\.1 /).slice(1).map((p) => p.split('\r\n\r\n')[1]);
    assert.deepEqual(bodies, ['ok GET /a \n', '', 'ok GET /c q=1\n']);
    assert.equal(res.closed, true);
  });

  test('HTTP/1.0 closes unless keep-alive is asked for', async () => {
    const plain = await rawExchange(PORT, 'GET / HTTP/1.0\r\n\r\n');
    assert.deepEqual(statuses(plain.data), [200]);
    assert.equal(plain.closed, true);
    const ka = await rawExchange(PORT, 'GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n', { waitMs: 300 });
    assert.match(ka.data, /Connection: keep-alive/);
    assert.equal(ka.closed, false);
  });

  test('HEAD gets the headers and Content-Length without a body', async () => {
    const res = await rawExchange(PORT, `HEAD /h HTTP/1.1\r\n${H}Connection: close\r\n\r\n`);
    assert.match(res.data, /Content-Length: 12\r\n/);
    assert.ok(res.data.endsWith('\r\n\r\n'));
  });

  test('an absolute-form target wins over the Host header', async () => {
    const res = await rawExchange(PORT, 'GET http://A.test:99/abs?x=1 HTTP/1.1\r\nHost: other\r\nConnection: close\r\n\r\n');
    assert.match(res.data, /ok GET \/abs x=1\n$/);
  });

  test('a chunked request body is decoded, and the next pipelined request still works', async () => {
    const body = '5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nTrailer: x\r\n\r\n';
    const res = await rawExchange(PORT, `POST /echo HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n${body}GET /after HTTP/1.1\r\n${H}Connection: close\r\n\r\n`);
    assert.deepEqual(statuses(res.data), [200, 200]);
    assert.match(res.data, /len=11\nhello world/);
    assert.match(res.data, /ok GET \/after/);
  });

  test('an unread request body is discarded and the next pipelined request is answered', async () => {
    const res = await rawExchange(PORT, `POST /x HTTP/1.1\r\n${H}Content-Length: 5\r\n\r\nhelloGET /y HTTP/1.1\r\n${H}Connection: close\r\n\r\n`);
    assert.deepEqual(statuses(res.data), [200, 200]);
    assert.match(res.data, /ok POST \/x \n[\s\S]*ok GET \/y \n$/);
  });

  test('an unread chunked body is discarded up to its end, then the next request is answered', async () => {
    const res = await rawExchange(PORT, `POST /x HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nGET /y HTTP/1.1\r\n${H}Connection: close\r\n\r\n`);
    assert.deepEqual(statuses(res.data), [200, 200]);
  });

  test('Expect: 100-continue gets an interim response before the body is read', async () => {
    const res = await rawExchange(PORT, [`POST /echo HTTP/1.1\r\n${H}Content-Length: 3\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n`, 'abc'], { gapMs: 200 });
    assert.match(res.data, /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 OK/);
    assert.match(res.data, /len=3\nabc$/);
  });

  test('client_max_body_size refuses a large Content-Length with 413 before reading it', async () => {
    const res = await rawExchange(PORT, `POST /echo HTTP/1.1\r\n${H}Content-Length: 101\r\n\r\n`);
    assert.deepEqual(statuses(res.data), [413]);
    assert.equal(res.closed, true);
  });

  test('client_max_body_size refuses a chunked body that grows past it with 413', async () => {
    const chunk = `40\r\n${'x'.repeat(64)}\r\n`;
    const res = await rawExchange(PORT, `POST /echo HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n${chunk}${chunk}0\r\n\r\n`);
    assert.deepEqual(statuses(res.data), [413]);
    assert.equal(res.closed, true);
  });

  test('a request line longer than large_client_header_buffers is 414', async () => {
    const res = await rawExchange(PORT, `GET /${'a'.repeat(1100)} HTTP/1.1\r\n${H}\r\n`);
    assert.deepEqual(statuses(res.data), [414]);
    assert.equal(res.closed, true);
  });

  test('a header line longer than large_client_header_buffers is 400 "Request Header Or Cookie Too Large"', async () => {
    const res = await rawExchange(PORT, `GET / HTTP/1.1\r\n${H}Cookie: ${'c'.repeat(1100)}\r\n\r\n`);
    assert.deepEqual(statuses(res.data), [400]);
    assert.match(res.data, /Request Header Or Cookie Too Large/);
    assert.equal(res.closed, true);
  });

  test('client_header_timeout closes a connection whose head never completes (408 in the log)', async () => {
    const res = await rawExchange(PORT, `GET / HTTP/1.1\r\n${H}`, { waitMs: 3000 });
    assert.equal(res.data, '');
    assert.equal(res.closed, true);
    assert.match(dp.errorLog(), /client timed out while reading client request headers/);
  });

  test('client_body_timeout closes a connection whose body stalls', async () => {
    const res = await rawExchange(PORT, `POST /echo HTTP/1.1\r\n${H}Content-Length: 10\r\n\r\nabc`, { waitMs: 3000 });
    assert.equal(res.data, '');
    assert.equal(res.closed, true);
    assert.match(dp.errorLog(), /client timed out while reading client request body/);
  });

  test('Server and Date headers are sent; server_tokens off hides the version', async () => {
    const on = await rawExchange(PORT, `GET / HTTP/1.1\r\n${H}Connection: close\r\n\r\n`);
    assert.match(on.data, /\r\nServer: portico\/\d+\.\d+\.\d+\r\n/);
    assert.match(on.data, /\r\nDate: \w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT\r\n/);
    const off = await rawExchange(PORT, `GET /quiet HTTP/1.1\r\n${H}Connection: close\r\n\r\n`);
    assert.match(off.data, /\r\nServer: portico\r\n/);
    assert.match(off.data, /<hr><center>portico<\/center>/);
  });

  test('URIs are percent-decoded, slashes merged and dot segments resolved', async () => {
    const cases: [string, string][] = [
      ['/a%20b', '/a b'],
      ['//x///y', '/x/y'],
      ['/a/./b/../c', '/a/c'],
      ['/a/b/..', '/a/'],
      ['/x/%2e%2e%2fy', '/y'],
    ];
    for (const [target, uri] of cases) {
      const res = await rawExchange(PORT, `GET ${target} HTTP/1.1\r\n${H}Connection: close\r\n\r\n`);
      assert.match(res.data, new RegExp(`ok GET ${uri.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\n`), target);
    }
  });
});

describe('malformed requests: status and close', () => {
  let dp: Dataplane;
  before(async () => {
    dp = await startDataplane(`http { server { listen 127.0.0.1:${PORT + 1}; location / { return 200 ok; } location /echo { echo_body; } } }`);
  });
  after(() => dp.stop());

  const cases: [string, string, number][] = [
    ['missing Host on HTTP/1.1', 'GET / HTTP/1.1\r\n\r\n', 400],
    ['two Host headers', 'GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n', 400],
    ['an invalid Host', 'GET / HTTP/1.1\r\nHost: a/b\r\n\r\n', 400],
    ['Content-Length and Transfer-Encoding together', 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 400],
    ['two Content-Length headers', 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc', 400],
    ['a non-numeric Content-Length', 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +3\r\n\r\nabc', 400],
    ['a Content-Length list', 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 3\r\n\r\nabc', 400],
    ['Transfer-Encoding on HTTP/1.0', 'POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 400],
    ['an unknown Transfer-Encoding', 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n', 501],
    ['two Transfer-Encoding headers', 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n', 400],
    ['a space before the colon', 'GET / HTTP/1.1\r\nHost: a\r\nContent-Length : 3\r\n\r\n', 400],
    ['obsolete line folding', 'GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n  2\r\n\r\n', 400],
    ['a bare CR inside a header value', 'GET / HTTP/1.1\r\nHost: a\r\nX: 1\r2\r\n\r\n', 400],
    ['a bad method', 'G@T / HTTP/1.1\r\nHost: a\r\n\r\n', 400],
    ['a bad version', 'GET / HTTP/x.y\r\nHost: a\r\n\r\n', 400],
    ['HTTP/2.0 on an HTTP/1 port', 'GET / HTTP/2.0\r\nHost: a\r\n\r\n', 505],
    ['a bad percent escape', 'GET /a%zz HTTP/1.1\r\nHost: a\r\n\r\n', 400],
    ['an encoded NUL', 'GET /a%00 HTTP/1.1\r\nHost: a\r\n\r\n', 400],
    ['dot segments above the root', 'GET /../etc/passwd HTTP/1.1\r\nHost: a\r\n\r\n', 400],
    ['encoded dot segments above the root', 'GET /a/%2e%2e/%2e%2e/x HTTP/1.1\r\nHost: a\r\n\r\n', 400],
    ['a control character in the target', 'GET /a\x01b HTTP/1.1\r\nHost: a\r\n\r\n', 400],
    ['a target that is neither origin- nor absolute-form', 'GET a/b HTTP/1.1\r\nHost: a\r\n\r\n', 400],
    ['a bad chunk size', 'POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n', 400],
    ['a chunk size that overflows', 'POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\n', 400],
    ['chunk data longer than its size', 'POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhello\r\n0\r\n\r\n', 400],
    ['an empty Host', 'GET / HTTP/1.1\r\nHost: \r\n\r\n', 400],
    ['an absolute-form HTTP/1.1 request without a Host header', 'GET http://x.test/ HTTP/1.1\r\n\r\n', 400],
    ['a bad chunk in a body the handler discards', 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', 400],
    ['a negative chunk size', 'POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\nx\r\n0\r\n\r\n', 400],
  ];
  for (const [what, bytes, status] of cases) {
    test(`${what} is ${status} and closes`, async () => {
      const res = await rawExchange(PORT + 1, bytes + 'GET / HTTP/1.1\r\nHost: a\r\n\r\n');
      assert.deepEqual(statuses(res.data), [status], res.data);
      assert.match(res.data, /Connection: close\r\n/);
      assert.equal(res.closed, true);
    });
  }
});

describe('request line and header leniency shared with nginx', () => {
  let dp: Dataplane;
  before(async () => {
    dp = await startDataplane(`http { server { listen 127.0.0.1:${PORT + 3}; location / { return 200 "uri=$uri host=$host proto=$server_protocol\\n"; } } }`);
  });
  after(() => dp.stop());

  const cases: [string, string, string][] = [
    ['several spaces between fields', 'GET  /a  HTTP/1.1\r\nHost: h\r\n\r\n', 'uri=/a host=h proto=HTTP/1.1'],
    ['trailing spaces after the version', 'GET /a HTTP/1.1  \r\nHost: h\r\n\r\n', 'uri=/a host=h proto=HTTP/1.1'],
    ['empty lines before the request line', '\r\n\r\nGET /a HTTP/1.1\r\nHost: h\r\n\r\n', 'uri=/a host=h proto=HTTP/1.1'],
    ['a header line without a colon', 'GET /a HTTP/1.1\r\nHost: h\r\nNoColon\r\n\r\n', 'uri=/a host=h proto=HTTP/1.1'],
    ['a Host port that is not a number', 'GET /a HTTP/1.1\r\nHost: h:x\r\n\r\n', 'uri=/a host=h proto=HTTP/1.1'],
    ['a minor version above 1', 'GET /a HTTP/1.10\r\nHost: h\r\n\r\n', 'uri=/a host=h proto=HTTP/1.10'],
    ['an absolute-form target of any scheme', 'GET ftp://t.test/a HTTP/1.1\r\nHost: h\r\n\r\n', 'uri=/a host=t.test proto=HTTP/1.1'],
    ['bare LF line ends', 'GET /a HTTP/1.1\nHost: h\n\n', 'uri=/a host=h proto=HTTP/1.1'],
    ['a percent-encoded UTF-8 path', 'GET /%C3%A9t%C3%A9 HTTP/1.1\r\nHost: h\r\n\r\n', 'uri=/été host=h proto=HTTP/1.1'],
  ];
  for (const [what, bytes, body] of cases) {
    test(`${what} is accepted`, async () => {
      const res = await rawExchange(PORT + 3, bytes, { until: /\n$/ });
      assert.deepEqual(statuses(res.data), [200], res.data);
      assert.equal(Buffer.from(res.data.slice(res.data.indexOf('\r\n\r\n') + 4), 'latin1').toString('utf8'), body + '\n');
    });
  }
});

describe('Expect: 100-continue answered without reading the body; keepalive_timeout 0', () => {
  let dp: Dataplane;
  before(async () => {
    dp = await startDataplane(`http { server { listen 127.0.0.1:${PORT + 2}; location / { return 200 ok; } location /nokeep { keepalive_timeout 0; return 200 ok; } } }`);
  });

  test('keepalive_timeout 0 closes after every response', async () => {
    const res = await rawExchange(PORT + 2, 'GET /nokeep HTTP/1.1\r\nHost: a\r\n\r\nGET /nokeep HTTP/1.1\r\nHost: a\r\n\r\n');
    assert.deepEqual(statuses(res.data), [200]);
    assert.match(res.data, /Connection: close\r\n/);
    assert.equal(res.closed, true);
  });

  after(() => dp.stop());

  test('gets the final response without 100 Continue and the connection closes', async () => {
    const res = await rawExchange(PORT + 2, 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n', { waitMs: 1000 });
    assert.deepEqual(statuses(res.data), [200]);
    assert.match(res.data, /Connection: close\r\n/);
    assert.equal(res.closed, true);
  });
});

describe('timeouts in the access log', () => {
  let dp: Dataplane;
  before(async () => {
    dp = await startDataplane(`http {
      log_format st '$status $request_method|$request|$request_uri|$uri';
      access_log logs/st.log st;
      client_header_timeout 300ms; client_body_timeout 300ms;
      server { listen 127.0.0.1:${PORT + 4}; location /echo { echo_body; } location / { return 200 ok; } }
    }`);
  });
  after(() => dp.stop());

  test('heads that never complete, a body that stalls and refused heads are logged as nginx logs them', async () => {
    const head = await rawExchange(PORT + 4, 'GET / HTTP/1.1\r\nHost: a\r\n', { waitMs: 2000 });
    assert.equal(head.closed, true);
    await rawExchange(PORT + 4, 'GET /pa', { waitMs: 2000 });
    await rawExchange(PORT + 4, 'GET / HTTP/1.1\r\nHost: a/b\r\n\r\n');
    await rawExchange(PORT + 4, 'GET /x%zz HTTP/1.1\r\nHost: a\r\n\r\n');
    const body = await rawExchange(PORT + 4, 'POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc', { waitMs: 2000 });
    assert.equal(body.closed, true);
    const deadline = Date.now() + 2000;
    let log = '';
    while (Date.now() < deadline && log.split('\n').length < 6) {
      log = fs.existsSync(path.join(dp.prefix, 'logs/st.log')) ? fs.readFileSync(path.join(dp.prefix, 'logs/st.log'), 'utf8') : '';
      await new Promise((r) => setTimeout(r, 50));
    }
    // The same lines nginx 1.22 writes for these exchanges (checked against a reference nginx).
    assert.deepEqual(log.trim().split('\n'), [
      '408 GET|GET / HTTP/1.1|/|/',
      '408 -|GET /pa|-|-',
      '400 GET|GET / HTTP/1.1|/|/',
      '400 GET|GET /x%zz HTTP/1.1|-|',
      '408 POST|POST /echo HTTP/1.1|/echo|/echo',
    ]);
  });
});
