import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ExternalNames, externalNamesOf } from '../../controller/model/external-names.ts';
import { Store } from '../../controller/store.ts';
import { service } from '../support/controller-fixtures.ts';

test('prepare looks ExternalName hosts up: a name not found is reported, found names and addresses are not', async () => {
  const changes: number[] = [];
  const names = new ExternalNames(() => changes.push(1));
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
  assert.deepEqual(externalNamesOf(store), ['db.example.invalid']);
  const kinds: string[] = [];
  store.onChange((k) => kinds.push(k));
  // A render that did not wait: the name counts as found for now, and its lookup starts.
  assert.equal(store.externalNames.found('db.example.invalid'), true);
  for (let i = 0; i < 100 && kinds.length === 0; i++) await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(kinds, ['Service']);
  assert.equal(store.externalNames.found('db.example.invalid'), false);
});
