// Model rules that the golden files do not isolate: class membership, endpoint conditions, certificate checks.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { test } from 'node:test';
import { buildModel } from '../../controller/model/build.ts';
import { certificateFromSecret } from '../../controller/model/certificates.ts';
import type { KubeObject } from '../../controller/model/objects.ts';
import { Store } from '../../controller/store.ts';
import { selfSignedCertificate } from '../../controller/tls/selfsigned.ts';
import { ingress, service, slice, testOptions } from '../support/controller-fixtures.ts';

function model(objs: KubeObject[], opts: Partial<typeof testOptions> = {}) {
  const store = new Store();
  for (const o of objs) store.upsert(o.kind as never, o);
  return buildModel(store, { ...testOptions, ...opts });
}

function hosts(objs: KubeObject[], opts: Partial<typeof testOptions> = {}): string[] {
  return model(objs, opts).servers.filter((s) => !s.isDefault).map((s) => s.host);
}

const cls = (name: string, controller: string, isDefault = false): KubeObject => ({
  apiVersion: 'networking.k8s.io/v1', kind: 'IngressClass', metadata: { name, annotations: isDefault ? { 'ingressclass.kubernetes.io/is-default-class': 'true' } : {} }, spec: { controller },
});
const ing = (name: string, spec: Record<string, unknown> = {}, annotations: Record<string, string> = {}) => ingress('default', name, `${name}.example.com`, [['/', 'Prefix', 'web', 80]], { annotations }, spec);
const strict = { watchWithoutClass: false };

test('class: ingressClassName selects by the IngressClass controller, or by name when no IngressClass exists', () => {
  assert.deepEqual(hosts([cls('mine', 'portico.dev/ingress-controller'), cls('theirs', 'k8s.io/ingress-nginx'), ing('a', { ingressClassName: 'mine' }), ing('b', { ingressClassName: 'theirs' }), ing('c', { ingressClassName: 'portico' }), ing('d', { ingressClassName: 'nope' })], strict), ['a.example.com', 'c.example.com']);
});

test('class: the legacy annotation must equal --ingress-class; no class needs the flag or a default class of ours', () => {
  assert.deepEqual(hosts([ing('a', {}, { 'kubernetes.io/ingress.class': 'portico' }), ing('b', {}, { 'kubernetes.io/ingress.class': 'nginx' }), ing('c')], strict), ['a.example.com']);
  assert.deepEqual(hosts([ing('c'), cls('mine', 'portico.dev/ingress-controller', true)], strict), ['c.example.com']);
  assert.deepEqual(hosts([ing('c'), cls('theirs', 'k8s.io/ingress-nginx', true)], strict), []);
  assert.deepEqual(hosts([ing('c')], { watchWithoutClass: true }), ['c.example.com']);
});

test('--watch-namespace limits the Ingresses served', () => {
  const other = ingress('team', 'x', 'x.example.com', [['/', 'Prefix', 'web', 80]]);
  assert.deepEqual(hosts([ing('a'), other], { watchNamespaces: ['team'] }), ['x.example.com']);
});

test('endpoints: not-ready and terminating addresses are left out; serving-terminating ones only when nothing is ready', () => {
  const s = slice('default', 'web', 8080, []);
  s['endpoints'] = [
    { addresses: ['10.0.0.1'], conditions: { ready: true } },
    { addresses: ['10.0.0.2'], conditions: { ready: false } },
    { addresses: ['10.0.0.3'], conditions: { ready: false, serving: true, terminating: true } },
  ];
  assert.deepEqual(model([service('default', 'web'), s, ing('a')]).upstreams[0]!.peers, ['10.0.0.1:8080']);
  s['endpoints'] = (s['endpoints'] as object[]).slice(1);
  assert.deepEqual(model([service('default', 'web'), s, ing('a')]).upstreams[0]!.peers, ['10.0.0.3:8080']);
});

test('endpoints: named ports pick the matching EndpointSlice port; several slices merge; IPv6 is bracketed', () => {
  const svc = service('default', 'web', 80, { ports: [{ name: 'http', port: 80 }, { name: 'admin', port: 81 }] });
  const a = slice('default', 'web', 0, ['10.0.0.1'], 'web-a');
  a['ports'] = [{ name: 'http', port: 8080 }, { name: 'admin', port: 9090 }];
  const b = slice('default', 'web', 0, ['fd00::2'], 'web-b');
  b['ports'] = [{ name: 'http', port: 8080 }];
  const m = model([svc, a, b, ingress('default', 'a', 'a.example.com', [['/', 'Prefix', 'web', 81]])]);
  assert.deepEqual(m.upstreams[0]!.peers, ['10.0.0.1:9090']);
  const m2 = model([svc, a, b, ing('a')]);
  assert.deepEqual(m2.upstreams[0]!.peers, ['10.0.0.1:8080', '[fd00::2]:8080']);
});

test('ExternalName Services proxy to the external name; resource backends are 503 with a reason', () => {
  const m = model([service('default', 'web', 80, { type: 'ExternalName', externalName: 'api.example.net' }), ing('a')]);
  assert.deepEqual(m.upstreams[0]!.peers, ['api.example.net:80']);
  const r = model([{ ...ing('r'), spec: { rules: [{ host: 'r.example.com', http: { paths: [{ path: '/', pathType: 'Prefix', backend: { resource: { kind: 'Bucket', name: 'b' } } }] } }] } }]);
  assert.match(r.events[0]!.message, /resource backends \(Bucket\/b\) are not supported/);
});

test('certificates: key mismatch, wrong host, expiry and wrong type are each reported', () => {
  const a = selfSignedCertificate('a.example.com');
  const b = selfSignedCertificate('b.example.com');
  const secret = (crt: string, key: string, type = 'kubernetes.io/tls'): KubeObject => ({ kind: 'Secret', type, metadata: { name: 's', namespace: 'default' }, data: { 'tls.crt': Buffer.from(crt).toString('base64'), 'tls.key': Buffer.from(key).toString('base64') } });
  assert.equal(typeof certificateFromSecret(secret(a.cert, a.key), 'default/s', 'a.example.com'), 'object');
  assert.match(certificateFromSecret(secret(a.cert, b.key), 'default/s', 'a.example.com') as string, /tls.key does not match tls.crt/);
  assert.match(certificateFromSecret(secret(a.cert, a.key), 'default/s', 'b.example.com') as string, /does not cover host b.example.com/);
  assert.match(certificateFromSecret(secret(a.cert, a.key, 'Opaque'), 'default/s', 'a.example.com') as string, /has type Opaque/);
  assert.match(certificateFromSecret(secret('garbage', a.key), 'default/s', 'a.example.com') as string, /tls.crt is not a PEM certificate/);
  const old = selfSignedCertificate('a.example.com', -1);
  assert.match(certificateFromSecret(secret(old.cert, old.key), 'default/s', 'a.example.com') as string, /expired/);
});

test('the generated default certificate is a valid self-signed ECDSA certificate', () => {
  const c = selfSignedCertificate();
  const x = new crypto.X509Certificate(c.cert);
  assert.ok(x.verify(x.publicKey));
  assert.equal(x.publicKey.asymmetricKeyType, 'ec');
  assert.ok(x.checkPrivateKey(crypto.createPrivateKey(c.key)));
});

test('one invalid Ingress never changes the others\' routes', () => {
  const good = [service('default', 'web'), slice('default', 'web', 8080, ['10.0.0.1']), ing('a')];
  const base = model(good);
  const withBad = model([...good, ing('b', {}, { 'nginx.ingress.kubernetes.io/limit-rps': 'lots' })]);
  assert.deepEqual(withBad.servers, base.servers);
  assert.equal(withBad.events[0]!.reason, 'Rejected');
});
