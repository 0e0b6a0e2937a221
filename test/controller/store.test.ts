import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Store } from '../../controller/store.ts';
import { ingress, service } from '../support/controller-fixtures.ts';

test('a status-only or resourceVersion-only update of an Ingress does not wake the reconciler; a spec change does', () => {
  const store = new Store();
  const changes: string[] = [];
  store.onChange((k) => changes.push(k));
  const ing = ingress('default', 'a', 'a.example.com', [['/', 'Prefix', 'web', 80]]);
  store.upsert('Ingress', ing);
  store.upsert('Ingress', { ...ing, metadata: { ...ing.metadata, resourceVersion: '9' }, status: { loadBalancer: { ingress: [{ ip: '1.2.3.4' }] } } });
  assert.deepEqual(changes, ['Ingress']);
  assert.equal(store.get('Ingress', 'default', 'a')!.status.loadBalancer.ingress[0].ip, '1.2.3.4', 'the copy is still updated');
  store.upsert('Ingress', { ...ing, metadata: { ...ing.metadata, annotations: { 'nginx.ingress.kubernetes.io/limit-rps': '5' } } });
  assert.deepEqual(changes, ['Ingress', 'Ingress']);
});

test('a Service status change (load balancer address) does wake listeners', () => {
  const store = new Store();
  const changes: string[] = [];
  store.onChange((k) => changes.push(k));
  store.upsert('Service', service('default', 'web'));
  store.upsert('Service', { ...service('default', 'web'), status: { loadBalancer: { ingress: [{ ip: '1.2.3.4' }] } } });
  assert.equal(changes.length, 2);
});

test('list is sorted by namespace/name and stays valid until the next write', () => {
  const store = new Store();
  store.upsert('Service', service('b', 'x'));
  store.upsert('Service', service('a', 'y'));
  const l = store.list('Service');
  assert.deepEqual(l.map((s) => `${s.metadata.namespace}/${s.metadata.name}`), ['a/y', 'b/x']);
  assert.equal(store.list('Service'), l);
  store.delete('Service', service('a', 'y'));
  assert.deepEqual(store.list('Service').map((s) => s.metadata.name), ['x']);
});
