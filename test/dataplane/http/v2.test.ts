import assert from 'node:assert/strict';
import http2 from 'node:http2';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { buildCycle } from '../../../dataplane/core/cycle.ts';
import { parseConfString } from '../../../dataplane/core/parse.ts';
import { ConnectionLimiter, ListenerSet } from '../../../dataplane/event/listeners.ts';
import { MODULES } from '../../../dataplane/modules.ts';
import { Registry } from '../../../dataplane/core/registry.ts';
import { echoModule } from '../../support/echo-module.ts';
import { TestPki, type Pem } from '../../support/certs.ts';
import { curl } from '../../support/clients.ts';
import { makePrefix, startDataplane, type Dataplane } from '../../support/dataplane.ts';
import { h2Request } from '../../support/h2.ts';

const TLS = 27201;
const H2C = 27202;
const IDLE = 27203;
const DRAIN = 27204;
const LIMITED = 27205;

/** get sends one request on a session and collects the response. */
async function get(session: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders, body?: string) {
  const a = await h2Request(session, headers, body);
  return { headers: a.headers, body: a.text };
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
        location / { return 200 "$server_protocol $scheme $host $uri $args $ssl_alpn_protocol $http_x_test $http2\\n"; }
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
        location / { return 200 "$server_protocol $scheme $http2\\n"; }
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
    assert.equal(res.body, 'HTTP/2.0 https h2.test /b c=1 h2 yes h2\n');
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
        assert.equal(r.body, `HTTP/2.0 https h2.test /s${i} n=${i} h2  h2\n`);
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
    assert.equal(h2.body, 'HTTP/2.0 http h2c\n');
    const h1 = await curl(['--http1.1', `http://127.0.0.1:${H2C}/`]);
    assert.equal(h1.version, '1.1');
    assert.equal(h1.body, 'HTTP/1.1 http \n');
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
  // In-process: the listener set is the API under test (a worker's graceful shutdown calls drain(), a reload
  // that drops an address calls apply() without it).
  const serve = async () => {
    const prefix = makePrefix();
    const conf = `events {} http { server { listen 127.0.0.1:${DRAIN}; http2 on; location / { return 200 "done\\n"; } location /echo { echo_body; } } }`;
    const file = path.join(prefix, 'nginx.conf');
    const cycle = buildCycle({ tree: parseConfString(conf, file, { confPrefix: prefix }), registry: new Registry([...MODULES, echoModule]), prefix, confFile: file });
    const set = new ListenerSet(new ConnectionLimiter(100), false);
    await set.apply(cycle.listening);
    return set;
  };

  for (const [what, stop] of [
    ['draining a worker', (set: ListenerSet) => set.drain()],
    ['a reload that drops the address', (set: ListenerSet) => set.apply([])],
  ] as const) {
    test(`${what} sends GOAWAY and lets the open stream finish`, async () => {
      const set = await serve();
      const session = http2.connect(`http://127.0.0.1:${DRAIN}`);
      try {
        assert.equal((await get(session, { ':path': '/' })).body, 'done\n');
        // A request whose body is still coming is in flight when the worker starts draining.
        const req = session.request({ ':method': 'POST', ':path': '/echo' });
        req.write('first;');
        await new Promise((r) => setTimeout(r, 50));
        const goaway = new Promise<number>((resolve) => session.once('goaway', (c: number) => resolve(c)));
        const closed = new Promise<void>((resolve) => session.once('close', () => resolve()));
        await stop(set);
        assert.equal(await goaway, http2.constants.NGHTTP2_NO_ERROR);
        const answer = new Promise<string>((resolve, reject) => {
          let b = '';
          req.setEncoding('latin1');
          req.on('data', (d: string) => (b += d));
          req.on('end', () => resolve(b));
          req.on('error', reject);
        });
        req.end('second');
        assert.equal(await answer, 'len=12\nfirst;second');
        await closed;
      } finally {
        session.destroy();
        set.close();
      }
    });
  }
});
