// The Kubernetes source against the fake API server over loopback: informers of @kubernetes/client-node feed the
// store; the reconciler renders only after every informer synced; watch loss, 410 and outages keep the last config.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Reconciler } from '../../controller/reconcile.ts';
import { KubeApi, loadKubeConfig } from '../../controller/sources/kubeapi.ts';
import { KubeSource } from '../../controller/sources/kube.ts';
import { Store } from '../../controller/store.ts';
import { FakeApiServer, type Obj } from '../support/fake-apiserver.ts';
import { FakeSink, captureLogger, ingress, service, slice, testOptions } from '../support/controller-fixtures.ts';

const stops: (() => Promise<void>)[] = [];
after(async () => {
  for (const s of stops) await s();
});

async function until(what: string, fn: () => boolean, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

async function setup(api: FakeApiServer, namespaces: string[] = []) {
  const store = new Store();
  const sink = new FakeSink();
  const { log, lines } = captureLogger();
  const source = new KubeSource(new KubeApi(loadKubeConfig(api.writeKubeconfig())), store, { namespaces, log, retryMs: 100 });
  const rec = new Reconciler(store, testOptions, sink, { debounceMs: 10, log });
  stops.push(() => source.stop());
  const started = source.start().then(() => rec.enable());
  const text = () => JSON.stringify(sink.applied.at(-1) ?? []);
  return { store, sink, source, rec, started, text, lines };
}

function seed(api: FakeApiServer, hosts: string[]) {
  api.apply(service('default', 'web') as Obj);
  api.apply(slice('default', 'web', 8080, ['10.0.0.1']) as Obj);
  for (const h of hosts) api.apply(ingress('default', h, `${h}.example.com`, [['/', 'Prefix', 'web', 80]]) as Obj);
}

test('the first render waits for every informer to sync and contains the whole cluster state', async () => {
  const api = await new FakeApiServer().start();
  stops.push(() => api.stop());
  seed(api, ['a', 'b', 'c']);
  const { sink, started, text } = await setup(api);
  await started;
  await until('first apply', () => sink.applied.length > 0);
  assert.equal(sink.applied.length, 1, 'one apply, not one per object');
  for (const h of ['a', 'b', 'c']) assert.match(text(), new RegExp(`${h}\\.example\\.com`));
  assert.match(text(), /10\.0\.0\.1:8080/);
});

test('nothing renders while the API server is unreachable at start; it renders once it comes up', async () => {
  const api = await new FakeApiServer().start();
  const port = api.port;
  seed(api, ['late']);
  await api.stop();
  const { sink, started, text } = await setup(api);
  await sleep(300);
  assert.equal(sink.applied.length, 0);
  await api.start(port);
  stops.push(() => api.stop());
  await started;
  await until('apply after the API server came up', () => /late\.example\.com/.test(text()));
});

test('watch events add, change and delete routes', async () => {
  const api = await new FakeApiServer().start();
  stops.push(() => api.stop());
  seed(api, ['a']);
  const { started, text, sink } = await setup(api);
  await started;
  api.apply(ingress('default', 'b', 'b.example.com', [['/', 'Prefix', 'web', 80]]) as Obj);
  await until('b added', () => /b\.example\.com/.test(text()));
  api.apply(slice('default', 'web', 8080, ['10.0.0.1', '10.0.0.7']) as Obj);
  await until('endpoint added through the peers fast path', () => JSON.stringify(sink.peers.at(-1) ?? {}).includes('10.0.0.7:8080'));
  api.remove('Ingress', 'default', 'a');
  await until('a deleted', () => !/"a\.example\.com"/.test(text()));
});

test('an expired resourceVersion (410 Gone) relists and picks up changes made while disconnected', async () => {
  const api = await new FakeApiServer().start();
  stops.push(() => api.stop());
  seed(api, ['keep', 'gone']);
  const { started, text } = await setup(api);
  await started;
  await until('first apply', () => /gone\.example\.com/.test(text()));
  const listsBefore = api.requests.filter((r) => r === 'GET /apis/networking.k8s.io/v1/ingresses').length;
  api.dropWatches();
  api.remove('Ingress', 'default', 'gone');
  api.apply(ingress('default', 'new', 'new.example.com', [['/', 'Prefix', 'web', 80]]) as Obj);
  api.compact();
  await until('relist applied', () => !/gone\.example\.com/.test(text()) && /new\.example\.com/.test(text()));
  assert.ok(/keep\.example\.com/.test(text()));
  const listsAfter = api.requests.filter((r) => r === 'GET /apis/networking.k8s.io/v1/ingresses').length;
  assert.equal(listsAfter, listsBefore + 1, 'exactly one relist of Ingresses');
});

test('a dropped watch resumes from its resourceVersion without relisting', async () => {
  const api = await new FakeApiServer().start();
  stops.push(() => api.stop());
  seed(api, ['a']);
  const { started, text } = await setup(api);
  await started;
  const lists = () => api.requests.filter((r) => r.startsWith('GET') && !r.endsWith('?watch')).length;
  const before = lists();
  api.dropWatches();
  api.apply(ingress('default', 'during', 'during.example.com', [['/', 'Prefix', 'web', 80]]) as Obj);
  await until('event from the drop window replayed', () => /during\.example\.com/.test(text()));
  assert.equal(lists(), before);
  api.bookmark();
  api.apply(ingress('default', 'after', 'after.example.com', [['/', 'Prefix', 'web', 80]]) as Obj);
  await until('later event', () => /after\.example\.com/.test(text()));
});

test('an unreachable API server keeps the last configuration, and changes flow again when it returns', async () => {
  const api = await new FakeApiServer().start();
  seed(api, ['a', 'b']);
  const { sink, started, text, lines } = await setup(api);
  await started;
  await until('first apply', () => /b\.example\.com/.test(text()));
  const port = api.port;
  const applies = sink.applied.length;
  await api.stop();
  await sleep(700);
  assert.equal(sink.applied.length, applies, 'no new tree while the API server is away');
  assert.ok(lines.some((l) => l['msg'] === 'watch failed; keeping the last known objects and retrying'));
  await api.start(port);
  stops.push(() => api.stop());
  api.apply(ingress('default', 'c', 'c.example.com', [['/', 'Prefix', 'web', 80]]) as Obj);
  await until('change after the outage', () => /c\.example\.com/.test(text()), 20_000);
  assert.match(text(), /a\.example\.com/);
});

test('a missing CRD does not block the sync; --watch-namespace limits what is seen', async () => {
  const api = await new FakeApiServer().start();
  stops.push(() => api.stop());
  api.uninstalled.add('mailproxies');
  seed(api, ['a']);
  api.apply(ingress('team-b', 'other', 'other.example.com', [['/', 'Prefix', 'web', 80]]) as Obj);
  const { started, text, lines } = await setup(api, ['default']);
  await started;
  await until('first apply', () => /a\.example\.com/.test(text()));
  assert.doesNotMatch(text(), /other\.example\.com/);
  assert.ok(lines.some((l) => l['msg'] === 'CustomResourceDefinition not installed; not watching this kind' && l['kind'] === 'MailProxy'));
  assert.ok(api.requests.includes('GET /apis/networking.k8s.io/v1/namespaces/default/ingresses'));
  assert.ok(!api.requests.some((r) => r.startsWith('GET /api/v1/configmaps')), 'no ConfigMaps watched without --configmap');
});

test('the fake API server speaks the status subresource (PUT, merge PATCH), conflicts and auth like the real one', async () => {
  const api = await new FakeApiServer().start();
  stops.push(() => api.stop());
  const k = new KubeApi(loadKubeConfig(api.writeKubeconfig()));
  api.apply(ingress('default', 'a', 'a.example.com', [['/', 'Prefix', 'web', 80]]) as Obj);
  const path = '/apis/networking.k8s.io/v1/namespaces/default/ingresses/a';
  const got = await k.request('GET', path);
  const put = await k.request('PUT', `${path}/status`, { ...got.body, spec: { rules: [] }, status: { loadBalancer: { ingress: [{ ip: '192.0.2.1' }] } } });
  assert.equal(put.status, 200);
  assert.equal(put.body.spec.rules.length, 1, 'a status write does not change spec');
  const patch = await k.request('PATCH', `${path}/status`, { status: { loadBalancer: { ingress: [{ hostname: 'lb' }] } } }, 'application/merge-patch+json');
  assert.deepEqual(patch.body.status.loadBalancer.ingress, [{ hostname: 'lb' }]);
  const stale = await k.request('PUT', path, got.body);
  assert.equal(stale.status, 409, 'an old resourceVersion conflicts');
  assert.equal((await k.request('GET', '/apis/networking.k8s.io/v1/namespaces/default/ingresses/nope')).status, 404);
  const anon = await fetch(`${api.url}${path}`);
  assert.equal(anon.status, 401);
});
