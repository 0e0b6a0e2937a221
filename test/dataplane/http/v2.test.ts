import assert from 'node:assert/strict';
import http2 from 'node:http2';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { buildCycle } from '../../../dataplane/core/cycle.ts';
import { parseConfString } from '../../../dataplane/core/parse.ts';
import { ConnectionLimiter, ListenerSet } from '../../../dataplane/event/listeners.ts';
import { createRegistry } from '../../../dataplane/modules.ts';
import { TestPki, type Pem } from '../../support/certs.ts';
import { curl } from '../../support/clients.ts';
import { makePrefix, startDataplane, type Dataplane } from '../../support/dataplane.ts';

const TLS = 27201;
const H2C = 27202;
const IDLE = 27203;
const DRAIN = 27204;
const LIMITED = 27205;

/** get sends one request on a session and collects the response. */
function get(session: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders, body?: string) {
  return new Promise<{ headers: http2.IncomingHttpHeaders; body: string }>((resolve, reject) => {
    const req = session.request(headers, { endStream: body === undefined });
    let data = '';
    let h: http2.IncomingHttpHeaders = {};
    req.setEncoding('latin1');
    req.on('response', (x) => (h = x));
    req.on('data', (d: string) => (data += d));
    req.on('end', () => resolve({ headers: h, body: data }));
    req.on('error', reject);
    if (body !== undefined) req.end(body);
  });
}

describe('HTTP/2', () => {
  let pki: TestPki;
  let cert: Pem;
  let dp: Dataplane;
  const opts = () => ['--resolve', `h2.test:${TLS}:127.0.0.1`, '--resolve', `h1.test:${TLS}:127.0.0.1`, '--cacert', pki.ca.certFile];

  before(async () => {
    pki = new TestPki();
    cert = pki.server(['h2.test', 'h1.test']);
    dp = await startDataplane(`http {
      large_client_header_buffers 4 4k;
      server {
        listen 127.0.0.1:${TLS} ssl;
        http2 on;
        http2_max_concurrent_streams 7;
        server_name h2.test;
        ssl_certificate ${cert.certFile};
        ssl_certificate_key ${cert.keyFile};
        client_max_body_size 10;
        location / { return 200 "$server_protocol $scheme $host $uri $args $ssl_alpn_protocol $http_x_test\\n"; }
        location /moved { return 302 /there; }
        location /missing { return 404; }
      }
      server {
        listen 127.0.0.1:${TLS} ssl;
        server_name h1.test;
        ssl_certificate ${cert.certFile};
        ssl_certificate_key ${cert.keyFile};
        location / { return 200 "$server_protocol\\n"; }
      }
      server {
        listen 127.0.0.1:${H2C};
        http2 on;
        location / { return 200 "$server_protocol $scheme\\n"; }
      }
      server {
        listen 127.0.0.1:${IDLE};
        http2 on;
        keepalive_timeout 300ms;
        location / { return 204; }
      }
      server {
        listen 127.0.0.1:${LIMITED};
        http2 on;
        keepalive_requests 3;
        location / { return 204; }
      }
    }`);
  });
  after(async () => {
    await dp?.stop();
    pki?.remove();
  });

  test('curl --http2 negotiates h2 by ALPN and runs the same phases and variables', async () => {
    const res = await curl(['--http2', ...opts(), '-H', 'X-Test: yes', `https://h2.test:${TLS}/a/../b?c=1`]);
    assert.equal(res.status, 200);
    assert.equal(res.version, '2');
    assert.equal(res.body, 'HTTP/2.0 https h2.test /b c=1 h2 yes\n');
    assert.match(res.headers.server!, /^portico/);
    assert.ok(res.headers.date);
  });

  test('a server without http2 on the same address stays on HTTP/1.1', async () => {
    const res = await curl(['--http2', ...opts(), `https://h1.test:${TLS}/`]);
    assert.equal(res.version, '1.1');
    assert.equal(res.body, 'HTTP/1.1\n');
  });

  test('redirects and error pages go out as HTTP/2 responses', async () => {
    const moved = await curl(['--http2', ...opts(), `https://h2.test:${TLS}/moved`]);
    assert.equal(moved.status, 302);
    assert.equal(moved.headers.location, `https://h2.test:${TLS}/there`);
    const missing = await curl(['--http2', ...opts(), `https://h2.test:${TLS}/missing`]);
    assert.equal(missing.status, 404);
    assert.match(missing.body, /<title>404 Not Found<\/title>/);
  });

  test('the Node http2 client runs concurrent streams on one session within http2_max_concurrent_streams', async () => {
    const session = http2.connect(`https://h2.test:${TLS}`, { ca: pki.ca.cert, host: '127.0.0.1', servername: 'h2.test', port: TLS } as http2.SecureClientSessionOptions);
    try {
      await new Promise<void>((resolve) => session.once('remoteSettings', () => resolve()));
      assert.equal(session.remoteSettings.maxConcurrentStreams, 7);
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) => get(session, { ':path': `/s${i}?n=${i}`, ':authority': 'h2.test' })),
      );
      results.forEach((r, i) => {
        assert.equal(r.headers[':status'], 200);
        assert.equal(r.body, `HTTP/2.0 https h2.test /s${i} n=${i} h2 \n`);
      });
      const head = await get(session, { ':path': '/x', ':method': 'HEAD', ':authority': 'h2.test' });
      assert.equal(head.headers[':status'], 200);
      assert.ok(Number(head.headers['content-length']) > 0);
      assert.equal(head.body, '');
    } finally {
      session.close();
    }
  });

  test('a too large request body and a too large header are refused per stream', async () => {
    const session = http2.connect(`https://127.0.0.1:${TLS}`, { ca: pki.ca.cert, servername: 'h2.test' });
    try {
      const big = await get(session, { ':path': '/', ':method': 'POST', ':authority': 'h2.test', 'content-length': '100' }, 'x'.repeat(100));
      assert.equal(big.headers[':status'], 413);
      const huge = await get(session, { ':path': '/', ':authority': 'h2.test', 'x-big': 'y'.repeat(5000) });
      assert.equal(huge.headers[':status'], 400);
      assert.match(huge.body, /Request Header Or Cookie Too Large/);
      const ok = await get(session, { ':path': '/after', ':authority': 'h2.test' });
      assert.equal(ok.headers[':status'], 200);
    } finally {
      session.close();
    }
  });

  test('cleartext HTTP/2 with prior knowledge and HTTP/1.1 share a port', async () => {
    const h2 = await curl(['--http2-prior-knowledge', `http://127.0.0.1:${H2C}/`]);
    assert.equal(h2.version, '2');
    assert.equal(h2.body, 'HTTP/2.0 http\n');
    const h1 = await curl(['--http1.1', `http://127.0.0.1:${H2C}/`]);
    assert.equal(h1.version, '1.1');
    assert.equal(h1.body, 'HTTP/1.1 http\n');
  });

  test('an idle session is closed with GOAWAY after keepalive_timeout', async () => {
    const session = http2.connect(`http://127.0.0.1:${IDLE}`);
    const res = await get(session, { ':path': '/' });
    assert.equal(res.headers[':status'], 204);
    const code = await new Promise<number>((resolve) => session.once('goaway', (c: number) => resolve(c)));
    assert.equal(code, http2.constants.NGHTTP2_NO_ERROR);
    session.destroy();
  });

  test('keepalive_requests ends a session with GOAWAY after that many streams, all answered', async () => {
    const session = http2.connect(`http://127.0.0.1:${LIMITED}`);
    const goaway = new Promise<number>((resolve) => session.once('goaway', (c: number) => resolve(c)));
    try {
      for (let i = 0; i < 3; i++) assert.equal((await get(session, { ':path': `/${i}` })).headers[':status'], 204);
      assert.equal(await goaway, http2.constants.NGHTTP2_NO_ERROR);
      assert.ok(session.closed || session.destroyed);
    } finally {
      session.destroy();
    }
  });
});

describe('HTTP/2 graceful shutdown', () => {
  test('draining a worker sends GOAWAY and lets the open stream finish', async () => {
    // In-process: the listener set is the API under test (a worker's graceful shutdown calls drain()).
    const prefix = makePrefix();
    const conf = `events {} http { server { listen 127.0.0.1:${DRAIN}; http2 on; location / { return 200 "done\\n"; } } }`;
    const cycle = buildCycle({ tree: parseConfString(conf, path.join(prefix, 'nginx.conf'), { confPrefix: prefix }), registry: createRegistry(), prefix, confFile: path.join(prefix, 'nginx.conf') });
    const set = new ListenerSet(new ConnectionLimiter(100));
    await set.apply(cycle.listening);
    const session = http2.connect(`http://127.0.0.1:${DRAIN}`);
    try {
      const first = await get(session, { ':path': '/' });
      assert.equal(first.body, 'done\n');
      const goaway = new Promise<number>((resolve) => session.once('goaway', (c: number) => resolve(c)));
      const closed = new Promise<void>((resolve) => session.once('close', () => resolve()));
      const left = set.drain();
      assert.ok(left <= 1);
      assert.equal(await goaway, http2.constants.NGHTTP2_NO_ERROR);
      await closed;
    } finally {
      session.destroy();
      set.close();
    }
  });
});
