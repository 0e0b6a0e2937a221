import assert from 'node:assert/strict';
import fs from 'node:fs';
import http2 from 'node:http2';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { TestPki, type Pem } from '../../support/certs.ts';
import { startDataplane, type Dataplane } from '../../support/dataplane.ts';
import { startDnsServer, type DnsServer } from '../../support/dns-server.ts';
import { h2Request } from '../../support/h2.ts';
import { waitForLines } from '../../support/wait.ts';

const EDGE = 27301;
const EDGE_H2C = 27302;
const BACKEND = 27303;
const BACKEND_TLS = 27304;
const DEAD = 27305;
const EDGE_LB = 27306;
const BACKEND2 = 27307;
const EDGE_VAR = 27308;
const DNS = 27309;

const PROTO = `syntax = "proto3";
package portico.test;
message Msg { string text = 1; int32 n = 2; }
service Echo {
  rpc Say (Msg) returns (Msg);
  rpc Count (Msg) returns (stream Msg);
  rpc Chat (stream Msg) returns (stream Msg);
  rpc Slow (Msg) returns (Msg);
}`;

type Msg = { text: string; n: number };
type Client = grpc.Client & Record<string, (...args: any[]) => any>;

function loadEcho(dir: string): grpc.ServiceClientConstructor {
  const file = path.join(dir, 'echo.proto');
  fs.writeFileSync(file, PROTO);
  const def = protoLoader.loadSync(file, { defaults: true });
  const pkg = grpc.loadPackageDefinition(def) as any;
  return pkg.portico.test.Echo as grpc.ServiceClientConstructor;
}

/** startBackend runs a gRPC server implementing Echo on `port`. */
async function startBackend(Echo: grpc.ServiceClientConstructor, port: number, creds: grpc.ServerCredentials): Promise<grpc.Server> {
  const server = new grpc.Server();
  server.addService(Echo.service, {
    Say: (call: grpc.ServerUnaryCall<Msg, Msg>, cb: grpc.sendUnaryData<Msg>) => {
      if (call.request.text === 'missing') {
        cb({ code: grpc.status.NOT_FOUND, details: 'no such thing' });
        return;
      }
      if (call.request.text === 'redirect') {
        // The server answers from another location instead (X-Accel-Redirect).
        const md = new grpc.Metadata();
        md.set('x-accel-redirect', '/redirected/elsewhere?from=grpc');
        call.sendMetadata(md);
      }
      const md = call.metadata;
      const trailer = new grpc.Metadata();
      trailer.set('x-trailer', 'tail');
      trailer.set('x-backend', String(port));
      cb(null, { text: `${call.request.text}|${md.get('x-via')[0] ?? ''}|${call.getHost()}|${call.getDeadline() === Infinity ? 'none' : 'deadline'}`, n: call.request.n + 1 }, trailer);
    },
    Count: (call: grpc.ServerWritableStream<Msg, Msg>) => {
      if (call.request.text === 'paced') {
        const md = new grpc.Metadata();
        md.set('x-accel-limit-rate', '2000');
        call.sendMetadata(md);
        for (let i = 0; i < call.request.n; i++) call.write({ text: 'x'.repeat(500), n: i });
        call.end();
        return;
      }
      for (let i = 0; i < call.request.n; i++) call.write({ text: `${call.request.text}${i}`, n: i });
      call.end();
    },
    Chat: (call: grpc.ServerDuplexStream<Msg, Msg>) => {
      call.on('data', (m: Msg) => call.write({ text: m.text.toUpperCase(), n: m.n }));
      call.on('end', () => call.end());
    },
    Slow: (call: grpc.ServerUnaryCall<Msg, Msg>, cb: grpc.sendUnaryData<Msg>) => {
      setTimeout(() => cb(null, call.request), call.request.n);
    },
  });
  await new Promise<void>((resolve, reject) => server.bindAsync(`127.0.0.1:${port}`, creds, (err) => (err ? reject(err) : resolve())));
  return server;
}

const unary = (c: Client, method: string, msg: Msg, opts: grpc.CallOptions = {}) =>
  new Promise<{ res?: Msg; err?: grpc.ServiceError; trailers?: grpc.Metadata }>((resolve) => {
    // The callback and the 'status' event come in either order: answer once both are in.
    let out: { res?: Msg; err?: grpc.ServiceError } | undefined;
    let trailers: grpc.Metadata | undefined;
    const call = c[method]!(msg, new grpc.Metadata(), opts, (err: grpc.ServiceError | null, res: Msg) => {
      out = { res, err: err ?? undefined };
      if (trailers) resolve({ ...out, trailers });
    });
    call.on('status', (s: grpc.StatusObject) => {
      trailers = s.metadata;
      if (out) resolve({ ...out, trailers });
    });
  });

describe('gRPC proxying (grpc_pass)', () => {
  let pki: TestPki;
  let edge: Pem;
  let Echo: grpc.ServiceClientConstructor;
  let backend: grpc.Server;
  let backendTls: grpc.Server;
  let backend2: grpc.Server;
  let dp: Dataplane;
  let dns: DnsServer;
  let client: Client;
  let plainClient: Client;

  before(async () => {
    pki = new TestPki();
    edge = pki.server(['grpc.test']);
    const upstreamCert = pki.server(['backend.test']);
    Echo = loadEcho(pki.dir);
    backend = await startBackend(Echo, BACKEND, grpc.ServerCredentials.createInsecure());
    backend2 = await startBackend(Echo, BACKEND2, grpc.ServerCredentials.createInsecure());
    dns = await startDnsServer(DNS, { 'echo.test': { a: ['127.0.0.1'] } });
    backendTls = await startBackend(Echo, BACKEND_TLS, grpc.ServerCredentials.createSsl(null, [{ cert_chain: Buffer.from(upstreamCert.cert), private_key: Buffer.from(upstreamCert.key) }]));
    dp = await startDataplane(`http {
      server {
        listen 127.0.0.1:${EDGE} ssl;
        http2 on;
        server_name grpc.test;
        ssl_certificate ${edge.certFile};
        ssl_certificate_key ${edge.keyFile};
        location /portico.test.Echo/Slow { grpc_pass grpc://127.0.0.1:${BACKEND}; grpc_read_timeout 200ms; }
        location /redirected/ { return 200 "redirected $uri $args $request_method\n"; }
        location /portico.test.Echo/ {
          grpc_pass grpc://127.0.0.1:${BACKEND};
          grpc_set_header X-Via "portico $server_protocol";
        }
      }
      server {
        listen 127.0.0.1:${EDGE_H2C};
        http2 on;
        location / {
          grpc_pass grpcs://127.0.0.1:${BACKEND_TLS};
          grpc_ssl_verify on;
          grpc_ssl_server_name on;
          grpc_ssl_name backend.test;
          grpc_ssl_trusted_certificate ${pki.ca.certFile};
          grpc_set_header Host backend.test;
        }
        location /dead/ { grpc_pass grpc://127.0.0.1:${DEAD}; }
      }
      upstream echo_var { server 127.0.0.1:${BACKEND2}; }
      upstream echo {
        server 127.0.0.1:${DEAD};
        server 127.0.0.1:${BACKEND};
        server 127.0.0.1:${BACKEND2};
      }
      log_format ups '$upstream_addr|$upstream_status|$status';
      server {
        listen 127.0.0.1:${EDGE_VAR};
        http2 on;
        location / { resolver 127.0.0.1:${DNS} ipv6=off; grpc_pass $http_x_target; }
      }
      server {
        listen 127.0.0.1:${EDGE_LB};
        http2 on;
        access_log upstream.log ups;
        location / { grpc_pass grpc://echo; }
      }
    }`);
    client = new Echo(`127.0.0.1:${EDGE}`, grpc.credentials.createSsl(Buffer.from(pki.ca.cert)), {
      'grpc.ssl_target_name_override': 'grpc.test',
      'grpc.default_authority': 'grpc.test',
    }) as unknown as Client;
    plainClient = new Echo(`127.0.0.1:${EDGE_H2C}`, grpc.credentials.createInsecure()) as unknown as Client;
  });

  after(async () => {
    client?.close();
    plainClient?.close();
    await dp?.stop();
    backend?.forceShutdown();
    backendTls?.forceShutdown();
    backend2?.forceShutdown();
    await dns?.stop();
    pki?.remove();
  });

  test('a unary call goes through with headers set by grpc_set_header and trailers passed back', async () => {
    const { res, err, trailers } = await unary(client, 'Say', { text: 'hi', n: 41 });
    assert.equal(err, undefined);
    assert.equal(res!.n, 42);
    assert.equal(res!.text, `hi|portico HTTP/2.0|127.0.0.1:${BACKEND}|none`);
    assert.equal(trailers!.get('x-trailer')[0], 'tail');
  });

  test('a client deadline reaches the backend as grpc-timeout', async () => {
    const { res } = await unary(client, 'Say', { text: 'd', n: 0 }, { deadline: Date.now() + 5000 });
    assert.match(res!.text, /\|deadline$/);
  });

  test('a backend error status comes back in the trailers', async () => {
    const { err } = await unary(client, 'Say', { text: 'missing', n: 0 });
    assert.equal(err!.code, grpc.status.NOT_FOUND);
    assert.equal(err!.details, 'no such thing');
  });

  test('a server-streaming call delivers every message', async () => {
    const got: Msg[] = [];
    await new Promise<void>((resolve, reject) => {
      const call = client.Count!({ text: 'm', n: 50 });
      call.on('data', (m: Msg) => got.push(m));
      call.on('end', () => resolve());
      call.on('error', reject);
    });
    assert.equal(got.length, 50);
    assert.deepEqual(got[49], { text: 'm49', n: 49 });
  });

  test('X-Accel-Limit-Rate from the backend paces the response and is not passed on', async () => {
    const got: Msg[] = [];
    let headers: grpc.Metadata | undefined;
    const start = performance.now();
    await new Promise<void>((resolve, reject) => {
      const call = client.Count!({ text: 'paced', n: 12 });
      call.on('metadata', (md: grpc.Metadata) => (headers = md));
      call.on('data', (m: Msg) => got.push(m));
      call.on('end', () => resolve());
      call.on('error', reject);
    });
    const seconds = (performance.now() - start) / 1000;
    assert.equal(got.length, 12);
    // 12 messages of ~510 bytes at 2000 bytes/s, less the first second's allowance nginx grants up front: ~2 s.
    assert.ok(seconds > 1.5, `the stream took ${seconds.toFixed(2)} s`);
    assert.deepEqual(headers!.get('x-accel-limit-rate'), []);
  });

  test('X-Accel-Redirect from the backend answers from the named URI instead', async () => {
    const session = http2.connect(`https://127.0.0.1:${EDGE}`, { ca: pki.ca.cert, servername: 'grpc.test' });
    try {
      const text = Buffer.from('redirect');
      const msg = Buffer.concat([Buffer.from([0x0a, text.length]), text]);
      const frame = Buffer.concat([Buffer.from([0, 0, 0, 0, msg.length]), msg]);
      const a = await h2Request(session, { ':method': 'POST', ':path': '/portico.test.Echo/Say', 'content-type': 'application/grpc', te: 'trailers' }, frame);
      assert.equal(a.headers[':status'], 200);
      assert.equal(a.headers['x-accel-redirect'], undefined);
      assert.equal(a.text, 'redirected /redirected/elsewhere from=grpc GET\n');
    } finally {
      session.close();
    }
  });

  test('grpc_pass with variables reaches an address, an upstream{} or a name the resolver finds', async () => {
    const varClient = new Echo(`127.0.0.1:${EDGE_VAR}`, grpc.credentials.createInsecure()) as unknown as Client;
    try {
      const via = async (target: string) => {
        const md = new grpc.Metadata();
        md.set('x-target', target);
        return new Promise<{ err: grpc.ServiceError | null; backend?: string }>((resolve) => {
          let err: grpc.ServiceError | null = null;
          const call = varClient.Say!({ text: 'hi', n: 1 }, md, (e: grpc.ServiceError | null) => (err = e));
          call.on('status', (st: grpc.StatusObject) => resolve({ err, backend: st.metadata.get('x-backend')[0] as string | undefined }));
        });
      };
      assert.equal((await via(`grpc://127.0.0.1:${BACKEND}`)).backend, String(BACKEND));
      // No scheme is plain gRPC, as in nginx; the name is looked up with the location's resolver.
      assert.equal((await via(`echo.test:${BACKEND2}`)).backend, String(BACKEND2));
      assert.ok(dns.queries.includes('A echo.test'), dns.queries.join(','));
      assert.equal((await via('grpc://echo_var')).backend, String(BACKEND2));
      const missing = await via('grpc://missing.test:1');
      assert.equal(missing.err?.code, grpc.status.UNAVAILABLE);
      assert.match(dp.errorLog(), /missing\.test could not be resolved \(3: Host not found\)/);
      const bad = await via('http://127.0.0.1:1');
      assert.notEqual(bad.err, null);
      assert.match(dp.errorLog(), /invalid URL prefix in "http:\/\/127\.0\.0\.1:1"/);
    } finally {
      varClient.close();
    }
  });

  test('a bidirectional stream echoes messages as they are sent', async () => {
    const call = client.Chat!();
    const got: string[] = [];
    const done = new Promise<void>((resolve, reject) => {
      call.on('data', (m: Msg) => {
        got.push(m.text);
        if (got.length < 5) call.write({ text: `w${got.length}`, n: got.length });
        else call.end();
      });
      call.on('end', () => resolve());
      call.on('error', reject);
    });
    call.write({ text: 'w0', n: 0 });
    await done;
    assert.deepEqual(got, ['W0', 'W1', 'W2', 'W3', 'W4']);
  });

  test('grpcs upstreams are verified and named as configured, over a cleartext h2c edge', async () => {
    const { res, err } = await unary(plainClient, 'Say', { text: 'tls', n: 1 });
    assert.equal(err, undefined);
    assert.equal(res!.text, 'tls||backend.test|none');
  });

  test('grpc_read_timeout turns a slow backend into DEADLINE_EXCEEDED (504)', async () => {
    const { err } = await unary(client, 'Slow', { text: 's', n: 1500 });
    assert.equal(err!.code, grpc.status.DEADLINE_EXCEEDED);
    assert.match(dp.errorLog(), /upstream timed out .* while reading response header from upstream/);
  });

  test('an unreachable backend is UNAVAILABLE (502)', async () => {
    const dead = new Echo(`127.0.0.1:${EDGE_H2C}`, grpc.credentials.createInsecure()) as unknown as Client;
    try {
      const { err } = await new Promise<{ err?: grpc.ServiceError }>((resolve) => {
        // A generic client call lets the path be chosen: /dead/ is proxied to a port nobody listens on.
        dead.makeUnaryRequest('/dead/Say', (m: Msg) => Buffer.from(JSON.stringify(m)), (b: Buffer) => b, { text: 'x', n: 0 }, (e) => resolve({ err: e ?? undefined }));
      });
      assert.equal(err!.code, grpc.status.UNAVAILABLE);
    } finally {
      dead.close();
    }
  });

  test('an upstream block balances calls over its peers and passes over a dead one', async () => {
    const lb = new Echo(`127.0.0.1:${EDGE_LB}`, grpc.credentials.createInsecure()) as unknown as Client;
    try {
      const seen = new Set<string>();
      for (let i = 0; i < 6; i++) {
        const { res, err, trailers } = await unary(lb, 'Say', { text: `lb${i}`, n: i });
        assert.equal(err, undefined);
        assert.equal(res!.text, `lb${i}||echo|none`);
        seen.add(String(trailers!.get('x-backend')[0]));
      }
      assert.deepEqual([...seen].sort(), [String(BACKEND), String(BACKEND2)]);
      assert.match(dp.errorLog(), new RegExp(`upstream: "grpc://127\\.0\\.0\\.1:${DEAD}"`));
      const lines = await waitForLines(path.join(dp.prefix, 'upstream.log'), 6);
      // The dead peer is tried once, then skipped while it counts as failed (max_fails=1, fail_timeout=10s).
      assert.ok(lines.includes(`127.0.0.1:${DEAD}, 127.0.0.1:${BACKEND}|502, 200|200`) || lines.includes(`127.0.0.1:${DEAD}, 127.0.0.1:${BACKEND2}|502, 200|200`), lines.join('\n'));
    } finally {
      lb.close();
    }
  });

  test('the 502 is a trailers-only grpc-status 14 for gRPC clients and nginx page for others', async () => {
    const session = http2.connect(`http://127.0.0.1:${EDGE_H2C}`);
    try {
      const ask = async (headers: http2.OutgoingHttpHeaders) => {
        const a = await h2Request(session, { ':method': 'POST', ':path': '/dead/x', ...headers }, '');
        return { h: a.headers, body: a.text };
      };
      const g = await ask({ 'content-type': 'application/grpc', te: 'trailers' });
      assert.equal(g.h[':status'], 200);
      assert.equal(g.h['grpc-status'], '14');
      assert.equal(g.body, '');
      const page = await ask({ 'content-type': 'text/plain' });
      assert.equal(page.h[':status'], 502);
      assert.match(page.body, /502 Bad Gateway/);
    } finally {
      session.close();
    }
  });
});

describe('grpc_pass configuration errors', () => {
  const fails = async (conf: string, message: RegExp) => {
    await assert.rejects(startDataplane(conf), (err: Error) => {
      assert.match(err.message, message);
      return true;
    });
  };

  test('a foreign scheme is refused', async () => {
    await fails(`http { server { listen 127.0.0.1:27310; location / { grpc_pass http://127.0.0.1:1; } } }`, /invalid URL prefix in "http:\/\/127\.0\.0\.1:1"/);
  });

  test('grpc_pass is not allowed at server level', async () => {
    await fails(`http { server { listen 127.0.0.1:27310; grpc_pass grpc://127.0.0.1:1; } }`, /"grpc_pass" directive is not allowed here/);
  });
});
