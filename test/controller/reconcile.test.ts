import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Reconciler, type ReconcileResult } from '../../controller/reconcile.ts';
import { Store } from '../../controller/store.ts';
import type { ModelEvent } from '../../controller/model/types.ts';
import { FakeSink, captureLogger, ingress, service, slice, testOptions } from '../support/controller-fixtures.ts';

function setup(debounceMs = 20) {
  const store = new Store();
  const sink = new FakeSink();
  const results: ReconcileResult[] = [];
  const events: ModelEvent[] = [];
  const { log, lines } = captureLogger();
  const r = new Reconciler(store, testOptions, sink, { debounceMs, log, events: { record: (e) => events.push(e) }, onResult: (x) => results.push(x) });
  return { store, sink, results, events, r, lines };
}

async function settle(_r: Reconciler, ms = 80) {
  await sleep(ms); // longer than the debounce: the scheduled pass has run
}

test('nothing is rendered before the sources enable the reconciler (sync before render)', async () => {
  const { store, sink, r } = setup();
  store.upsert('Ingress', ingress('default', 'a', 'a.example.com', [['/', 'Prefix', 'web', 80]]));
  await sleep(60);
  assert.equal(sink.applied.length, 0);
  r.enable();
  await sleep(60);
  assert.equal(sink.applied.length, 1);
  assert.ok(r.ready);
});

test('a burst of changes is coalesced into one apply', async () => {
  const { store, sink, r } = setup(30);
  r.enable();
  for (let i = 0; i < 50; i++) store.upsert('Ingress', ingress('default', `i${i}`, `h${i}.example.com`, [['/', 'Prefix', 'web', 80]]));
  await sleep(150);
  assert.equal(sink.applied.length, 1);
  assert.equal(JSON.stringify(sink.applied[0]).match(/server_name/g)?.length, 51);
});

test('an unchanged tree is not pushed again', async () => {
  const { store, sink, results, r } = setup();
  r.enable();
  store.upsert('Service', service('default', 'web'));
  await settle(r);
  store.upsert('Secret', { kind: 'Secret', metadata: { name: 'unused', namespace: 'default' }, data: {} }); // renders the same tree
  await settle(r);
  assert.equal(sink.applied.length, 1);
  assert.equal(results.at(-1)!.action, 'unchanged');
});

test('an endpoint-only change takes the peers fast path', async () => {
  const { store, sink, results, r } = setup();
  store.upsert('Service', service('default', 'web'));
  store.upsert('EndpointSlice', slice('default', 'web', 8080, ['10.0.0.1']));
  store.upsert('Ingress', ingress('default', 'a', 'a.example.com', [['/', 'Prefix', 'web', 80]]));
  r.enable();
  await settle(r);
  store.upsert('EndpointSlice', slice('default', 'web', 8080, ['10.0.0.1', '10.0.0.2']));
  await settle(r);
  assert.equal(sink.applied.length, 1);
  assert.equal(results.at(-1)!.action, 'peers');
  assert.deepEqual(sink.peers.at(-1), { default_web_80: [{ name: 'server', args: ['10.0.0.1:8080'] }, { name: 'server', args: ['10.0.0.2:8080'] }] });
  // Losing every endpoint changes the location (503), so that is a full apply.
  store.upsert('EndpointSlice', slice('default', 'web', 8080, []));
  await settle(r);
  assert.equal(results.at(-1)!.action, 'applied');
  assert.match(JSON.stringify(sink.applied.at(-1)), /"return","args":\["503"\]/);
});

test('a rejected tree is reported and the last good tree stays current', async () => {
  const { store, sink, results, events, r, lines } = setup();
  r.enable();
  store.upsert('Ingress', ingress('default', 'a', 'a.example.com', [['/', 'Prefix', 'web', 80]]));
  await settle(r);
  const good = r.current;
  sink.reject = 'unknown directive "ewma" in portico:12';
  store.upsert('Ingress', ingress('default', 'b', 'b.example.com', [['/', 'Prefix', 'web', 80]]));
  await settle(r);
  assert.equal(results.at(-1)!.action, 'rejected');
  assert.equal(r.current, good);
  assert.ok(events.some((e) => e.reason === 'RELOAD' && e.message.includes('unknown directive "ewma"')));
  assert.ok(lines.some((l) => l['level'] === 50 && String(l['error']).includes('ewma')));
});

test('a rejected first tree is retried with backoff, so a transient failure does not wait for the next change', async () => {
  const { store, sink, results, r } = setup();
  sink.reject = 'bind() to 127.0.0.1:8080 failed (98: Address already in use)';
  r.enable();
  store.upsert('Ingress', ingress('default', 'a', 'a.example.com', [['/', 'Prefix', 'web', 80]]));
  await settle(r);
  assert.equal(results.at(-1)!.action, 'rejected');
  assert.equal(r.ready, false);
  sink.reject = undefined; // the port is free again; nothing in the store changes
  await sleep(1200);
  assert.equal(results.at(-1)!.action, 'applied');
  assert.ok(r.ready);
  assert.equal(sink.applied.length, 1);
  r.stop();
});

test('model events are recorded once, not on every render', async () => {
  const { store, events, r } = setup();
  r.enable();
  store.upsert('Ingress', ingress('default', 'a', 'a.example.com', [['/', 'Prefix', 'missing', 80]]));
  await settle(r);
  store.upsert('Ingress', ingress('default', 'b', 'b.example.com', [['/', 'Prefix', 'web', 80]]));
  await settle(r);
  assert.equal(events.filter((e) => e.object.name === 'a' && e.reason === 'BackendUnavailable').length, 1);
});

test('secret data never reaches the log', async () => {
  const { log, lines } = captureLogger();
  log.info({ secret: { data: { 'tls.key': 'PRIVATE' }, stringData: { auth: 'alice:hash' } } }, 'x');
  assert.ok(!JSON.stringify(lines).includes('PRIVATE'));
  assert.ok(!JSON.stringify(lines).includes('alice:hash'));
});
