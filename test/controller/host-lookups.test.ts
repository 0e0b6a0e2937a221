import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HostLookups, hostsToLookUp } from '../../controller/model/host-lookups.ts';
import { Store } from '../../controller/store.ts';
import type { ModelEvent } from '../../controller/model/types.ts';
import { Reconciler } from '../../controller/reconcile.ts';
import { FakeSink, captureLogger, ingress, service, slice, testOptions } from '../support/controller-fixtures.ts';

test('prepare looks ExternalName hosts up: a name not found is reported, found names and addresses are not', async () => {
  const changes: number[] = [];
  const names = new HostLookups(() => changes.push(1));
  await names.prepare(['nonexistent.invalid', 'localhost', '10.0.0.1']);
  assert.equal(names.found('nonexistent.invalid'), false);
  assert.equal(names.found('localhost'), true);
  assert.equal(names.found('10.0.0.1'), true);
  assert.deepEqual(changes, [], 'answers that a render waited for need no extra render');
});

test('the store lists its ExternalName hosts; a "not found" answer for a name a render counted as found wakes its listeners', async () => {
  const store = new Store();
  store.upsert('Service', service('default', 'ext', 80, { type: 'ExternalName', externalName: 'db.example.invalid' }));
  store.upsert('Service', service('default', 'web', 80));
  assert.deepEqual(hostsToLookUp(store), ['db.example.invalid']);
  const kinds: string[] = [];
  store.onChange((k) => kinds.push(k));
  // A render that did not wait: the name counts as found for now, and its lookup starts.
  assert.equal(store.hostLookups.found('db.example.invalid'), true);
  for (let i = 0; i < 100 && kinds.length === 0; i++) await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(kinds, ['Service']);
  assert.equal(store.hostLookups.found('db.example.invalid'), false);
});

test('an Ingress whose auth-url host is not found is rejected alone; the rest of the tree is applied', async () => {
  const store = new Store();
  const sink = new FakeSink();
  const events: ModelEvent[] = [];
  const r = new Reconciler(store, testOptions, sink, { debounceMs: 5, log: captureLogger().log, events: { record: (e) => events.push(e) } });
  store.upsert('Service', service('default', 'web', 80));
  store.upsert('EndpointSlice', slice('default', 'web', 8080, ['10.0.0.1']));
  const authUrl = { annotations: { 'nginx.ingress.kubernetes.io/auth-url': 'https://nonexistent.invalid/check' } };
  store.upsert('Ingress', ingress('default', 'guarded', 'guarded.example.com', [['/', 'Prefix', 'web', 80]], authUrl));
  store.upsert('Ingress', ingress('default', 'open', 'open.example.com', [['/', 'Prefix', 'web', 80]]));
  assert.deepEqual(hostsToLookUp(store), ['nonexistent.invalid']);
  r.enable();
  await r.run();
  r.stop();
  const tree = JSON.stringify(sink.applied.at(-1));
  assert.ok(tree.includes('open.example.com'));
  assert.ok(!tree.includes('guarded.example.com'), 'the Ingress with the unresolvable auth-url is not rendered');
  assert.ok(events.some((e) => e.reason === 'Rejected' && e.message.includes('auth-url host "nonexistent.invalid" not found')), JSON.stringify(events));
});
