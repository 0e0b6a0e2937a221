// Table-driven routing: Ingress manifests → controller pipeline → the real dataplane (the rendered tree as is) →
// HTTP and HTTPS clients → real backends on loopback that answer with their upstream name; each case names the
// backend that must answer.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import http from 'node:http';
import tls from 'node:tls';
import type net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { request } from 'undici';
import { printConf } from '../../dataplane/core/print.ts';
import type { ConfTree } from '../../dataplane/core/tree.ts';
import type { KubeObject } from '../../controller/model/objects.ts';
import { renderStore } from '../../controller/pipeline.ts';
import { Store } from '../../controller/store.ts';
import { selfSignedCertificate } from '../../controller/tls/selfsigned.ts';
import { startDataplane, type Dataplane } from '../support/dataplane.ts';
import { unknownDirectives } from '../support/dataplane-coverage.ts';
import { ingress, service, slice, testOptions } from '../support/controller-fixtures.ts';
import { freePort } from '../support/upstreams.ts';

// Ports are picked free at start: other worktrees may run these same tests at the same time.
const HTTP_PORT = await freePort();
const HTTPS_PORT = await freePort();
const SERVICES = ['a', 'b', 'c', 'd', 'e', 'w', 'def'];
const BACKEND_PORTS = await Promise.all(SERVICES.map(() => freePort()));
const secure = selfSignedCertificate('secure.example.com');
const fallback = selfSignedCertificate('ingress.local');

function at(ts: string, meta: Record<string, unknown> = {}) {
  return { creationTimestamp: ts, ...meta };
}

function objects(): KubeObject[] {
  const out: KubeObject[] = [];
  SERVICES.forEach((s, i) => {
    out.push(service('default', s), slice('default', s, BACKEND_PORTS[i]!, ['127.0.0.1']));
  });
  out.push(
    ingress('default', 'paths', 'paths.example.com', [
      ['/exact', 'Exact', 'a', 80],
      ['/foo', 'Prefix', 'b', 80],
      ['/foo/bar', 'Prefix', 'c', 80],
      ['/trailing/', 'Prefix', 'd', 80],
      ['/impl', 'ImplementationSpecific', 'e', 80],
      ['/', 'Prefix', 'w', 80],
    ], at('2024-01-01T00:00:00Z')),
    ingress('default', 'prec', 'prec.example.com', [
      ['/api', 'Prefix', 'a', 80],
      ['/api', 'Exact', 'b', 80],
      ['/api/v1', 'Exact', 'c', 80],
      ['/api/v1', 'Prefix', 'd', 80],
    ]),
    ingress('default', 'older', 'merge.example.com', [['/x', 'Prefix', 'a', 80]], at('2024-01-01T00:00:00Z')),
    ingress('default', 'newer', 'merge.example.com', [['/x', 'Prefix', 'b', 80], ['/y', 'Prefix', 'b', 80]], at('2024-06-01T00:00:00Z')),
    ingress('default', 'wild', '*.wild.example.com', [['/', 'Prefix', 'a', 80]]),
    ingress('default', 'exact-wild', 'exact.wild.example.com', [['/', 'Prefix', 'b', 80]]),
    ingress('default', 'nohost', '', [['/nohost', 'Prefix', 'c', 80]]),
    ingress('default', 'withdefault', 'def.example.com', [['/only', 'Prefix', 'a', 80]], {}, { defaultBackend: { service: { name: 'd', port: { number: 80 } } } }),
    ingress('default', 'missing', 'missing.example.com', [['/', 'Prefix', 'nosuch', 80]]),
    ingress('default', 'secure', 'secure.example.com', [['/', 'Prefix', 'a', 80]], { annotations: { 'nginx.ingress.kubernetes.io/ssl-redirect': 'false' } }, { tls: [{ hosts: ['secure.example.com'], secretName: 'secure-tls' }] }),
    ingress('default', 'canary-main', 'canary.example.com', [['/', 'Prefix', 'a', 80]]),
    ingress('default', 'canary-alt', 'canary.example.com', [['/', 'Prefix', 'b', 80]], { annotations: { 'nginx.ingress.kubernetes.io/canary': 'true', 'nginx.ingress.kubernetes.io/canary-by-header': 'X-Canary', 'nginx.ingress.kubernetes.io/canary-by-cookie': 'beta' } }),
    ingress('default', 'heavy-main', 'heavy.example.com', [['/', 'Prefix', 'a', 80]]),
    ingress('default', 'heavy-alt', 'heavy.example.com', [['/', 'Prefix', 'c', 80]], { annotations: { 'nginx.ingress.kubernetes.io/canary': 'true', 'nginx.ingress.kubernetes.io/canary-weight': '100' } }),
    ingress('default', 'badtls', 'badtls.example.com', [['/', 'Prefix', 'b', 80]], {}, { tls: [{ hosts: ['badtls.example.com'], secretName: 'nosuch-tls' }] }),
    { apiVersion: 'v1', kind: 'Secret', type: 'kubernetes.io/tls', metadata: { name: 'secure-tls', namespace: 'default' }, stringData: { 'tls.crt': secure.cert, 'tls.key': secure.key } },
  );
  return out;
}

/** CASES: [host, path, expected upstream or HTTP status]. */
const CASES: [string, string, string | number][] = [
  ['paths.example.com', '/exact', 'a'],
  ['paths.example.com', '/exact/', 'w'],
  ['paths.example.com', '/exactly', 'w'],
  ['paths.example.com', '/foo', 'b'],
  ['paths.example.com', '/foo/', 'b'],
  ['paths.example.com', '/foo/x', 'b'],
  ['paths.example.com', '/foobar', 'w'],
  ['paths.example.com', '/foo/bar', 'c'],
  ['paths.example.com', '/foo/bar/baz', 'c'],
  ['paths.example.com', '/foo/barbaz', 'b'],
  ['paths.example.com', '/trailing', 'd'],
  ['paths.example.com', '/trailing/x', 'd'],
  ['paths.example.com', '/impl', 'e'],
  ['paths.example.com', '/implementation', 'e'],
  ['paths.example.com', '/', 'w'],
  ['paths.example.com', '/other?q=/foo', 'w'],
  ['PATHS.Example.COM', '/foo', 'b'],
  [`paths.example.com:${HTTP_PORT}`, '/foo/bar', 'c'],
  ['prec.example.com', '/api', 'b'],
  ['prec.example.com', '/api/', 'a'],
  ['prec.example.com', '/api/v1', 'c'],
  ['prec.example.com', '/api/v1/x', 'd'],
  ['prec.example.com', '/api/v2', 'a'],
  ['prec.example.com', '/', 'def'],
  ['merge.example.com', '/x', 'a'],
  ['merge.example.com', '/x/y', 'a'],
  ['merge.example.com', '/y', 'b'],
  ['a.wild.example.com', '/', 'a'],
  ['exact.wild.example.com', '/', 'b'],
  ['a.b.wild.example.com', '/', 'def'],
  ['wild.example.com', '/', 'def'],
  ['unknown.example.com', '/nohost/z', 'c'],
  ['unknown.example.com', '/anything', 'def'],
  ['def.example.com', '/only', 'a'],
  ['def.example.com', '/else', 'd'],
  ['missing.example.com', '/', 503],
  ['secure.example.com', '/', 'a'],
  ['badtls.example.com', '/', 308], // TLS host: HTTP redirects to HTTPS (ssl-redirect defaults to true)
];

function httpsGet(servername: string, pathname: string): Promise<{ der: Buffer; body: string }> {
  return new Promise((resolve, reject) => {
    const sock = tls.connect({ host: '127.0.0.1', port: HTTPS_PORT, servername, rejectUnauthorized: false }, () => {
      const der = sock.getPeerCertificate().raw;
      sock.write(`GET ${pathname} HTTP/1.1\r\nHost: ${servername}\r\nConnection: close\r\n\r\n`);
      let text = '';
      sock.on('data', (c) => (text += c));
      sock.on('end', () => resolve({ der, body: text.slice(text.indexOf('\r\n\r\n') + 4) }));
    });
    sock.on('error', reject);
  });
}

function upstreamOf(name: string): string {
  return `default_${name}_80`;
}

describe('Ingress routing table (manifests → controller → dataplane → HTTP)', () => {
  let dp: Dataplane;
  const backends: http.Server[] = [];
  let tree: ConfTree;

  before(async () => {
    const store = new Store();
    for (const o of objects()) store.upsert(o.kind as never, o);
    const r = renderStore(store, { ...testOptions, defaultCertificate: fallback, httpPort: HTTP_PORT, httpsPort: HTTPS_PORT, listenAddress: '127.0.0.1', defaultBackendService: 'default/def' });
    tree = r.tree;
    assert.deepEqual(unknownDirectives(tree), []);
    for (const [i, s] of SERVICES.entries()) {
      const srv = http.createServer((_req, res) => res.end(upstreamOf(s)));
      await new Promise<void>((ok, fail) => (srv.once('error', fail), srv.listen(BACKEND_PORTS[i], '127.0.0.1', () => ok())));
      backends.push(srv);
    }
    dp = await startDataplane(printConf(tree));
  });
  after(async () => {
    await dp?.stop();
    for (const b of backends) await new Promise((ok) => (b.closeAllConnections(), b.close(ok)));
  });

  test(`the table has at least 30 cases (${CASES.length})`, () => assert.ok(CASES.length >= 30));

  for (const [host, path, expected] of CASES) {
    test(`Host ${host} ${path} → ${typeof expected === 'number' ? expected : `service ${expected}`}`, async () => {
      const res = await request(`http://127.0.0.1:${HTTP_PORT}${path}`, { headers: { host } });
      const body = await res.body.text();
      if (typeof expected === 'number') {
        assert.equal(res.statusCode, expected);
        if (expected === 308) assert.equal(res.headers.location, `https://${host}:${HTTPS_PORT}${path}`);
        return;
      }
      assert.equal(res.statusCode, 200, body);
      assert.equal(body, upstreamOf(expected), `${host}${path}`);
    });
  }

  test('TLS hosts get their Secret\'s certificate by SNI; a missing Secret falls back to the default one', () => {
    const httpBlock = tree.find((d) => d.name === 'http')!.block!;
    const certOf = (host: string) => httpBlock.find((s) => s.name === 'server' && s.block!.some((d) => d.name === 'server_name' && d.args.includes(host)))!.block!.find((d) => d.name === 'ssl_certificate')?.args[0];
    assert.equal(certOf('secure.example.com'), `data:${secure.cert}`);
    assert.equal(certOf('badtls.example.com'), `data:${fallback.cert}`);
    assert.equal(certOf('paths.example.com'), undefined);
  });

  for (const [sni, cert, expected] of [
    ['secure.example.com', 'secure', 'a'],
    ['badtls.example.com', 'fallback', 'b'],
    ['paths.example.com', 'fallback', 'def'],
  ] as const) {
    test(`HTTPS with SNI ${sni} presents the ${cert} certificate and routes to service ${expected}`, async () => {
      const { der, body } = await httpsGet(sni, '/');
      assert.equal(der.toString('base64'), new crypto.X509Certificate((cert === 'secure' ? secure : fallback).cert).raw.toString('base64'));
      assert.equal(body, upstreamOf(expected));
    });
  }

  test('canary by header, by cookie, and by weight 100 reach the canary; never and no signal reach the main backend', async () => {
    const ask = async (headers: Record<string, string>) => (await (await request(`http://127.0.0.1:${HTTP_PORT}/`, { headers: { host: 'canary.example.com', ...headers } })).body.text());
    assert.equal(await ask({}), upstreamOf('a'));
    assert.equal(await ask({ 'x-canary': 'always' }), upstreamOf('b'));
    assert.equal(await ask({ 'x-canary': 'never', cookie: 'beta=always' }), upstreamOf('a'));
    assert.equal(await ask({ cookie: 'beta=always' }), upstreamOf('b'));
    assert.equal(await (await request(`http://127.0.0.1:${HTTP_PORT}/`, { headers: { host: 'heavy.example.com' } })).body.text(), upstreamOf('c'));
  });

});
