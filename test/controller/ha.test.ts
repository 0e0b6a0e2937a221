// Two controller processes against the fake API server: one leader (by Lease) writes Ingress status with the
// publish address; when it shuts down, the other takes over.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { FakeApiServer, type Obj } from '../support/fake-apiserver.ts';
import { type ControllerProcess, startPortico, waitFor } from '../support/controller-process.ts';
import { ingress, service, slice } from '../support/controller-fixtures.ts';
import { freePort } from '../support/upstreams.ts';

const cleanup: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const c of cleanup.reverse()) await c();
});

function flags(kubeconfig: string, extra: string[] = []): string[] {
  return ['--kubeconfig', kubeconfig, '--watch-ingress-without-class', '--dataplane', 'none', '--lease-duration', '1.5', '--renew-interval', '0.2', '--debounce-ms', '20', '--election-namespace', 'portico', ...extra];
}

test('only the leader writes Ingress status, and the other replica takes over on shutdown', async () => {
  const api = await new FakeApiServer().start();
  cleanup.push(() => api.stop());
  api.apply(service('default', 'web') as Obj);
  api.apply(slice('default', 'web', 8080, ['10.0.0.1']) as Obj);
  api.apply(ingress('default', 'one', 'one.example.com', [['/', 'Prefix', 'web', 80]]) as Obj);
  api.apply(ingress('default', 'broken', 'broken.example.com', [['/', 'Prefix', 'nosuch', 80]]) as Obj);
  const kc = api.writeKubeconfig();
  const a = await startPortico(flags(kc, ['--publish-status-address', '203.0.113.7,lb.example.com']), await freePort(), { POD_NAME: 'replica-a' });
  cleanup.push(() => a.stop());
  await waitFor('a leads', async () => (await a.get('/leader')).text === 'leader\n');
  const b = await startPortico(flags(kc, ['--publish-status-address', '203.0.113.7,lb.example.com']), await freePort(), { POD_NAME: 'replica-b' });
  cleanup.push(() => b.stop());
  await waitFor('b ready', async () => (await b.get('/readyz')).status === 200);

  await waitFor('status written', () => api.get('Ingress', 'default', 'one')?.['status']?.loadBalancer?.ingress?.length === 2);
  assert.deepEqual(api.get('Ingress', 'default', 'one')!['status'].loadBalancer.ingress, [{ ip: '203.0.113.7' }, { hostname: 'lb.example.com' }]);
  api.apply(ingress('default', 'two', 'two.example.com', [['/', 'Prefix', 'web', 80]]) as Obj);
  await waitFor('status of a new Ingress', () => api.get('Ingress', 'default', 'two')?.['status']?.loadBalancer?.ingress?.length === 2);
  assert.equal((await b.get('/leader')).text, 'follower\n');
  const statusWrites = api.writes.filter((w) => w.includes('/status'));
  assert.ok(statusWrites.length >= 2);
  assert.ok(statusWrites.every((w) => w.endsWith('portico-controller/replica-a')), statusWrites.join('\n'));
  assert.equal(api.get('Lease', 'portico', 'portico-leader')!['spec'].holderIdentity, 'replica-a');
  const eventPosts = () => api.writes.filter((w) => w.startsWith('POST /api/v1/namespaces/default/events'));
  await waitFor('event from the leader', () => eventPosts().length > 0);
  assert.ok(eventPosts().every((w) => w.endsWith('replica-a')), eventPosts().join('\n'));

  assert.equal(await a.stop(), 0, 'graceful exit');
  await waitFor('b takes over', async () => (await b.get('/leader')).text === 'leader\n', 15_000);
  assert.equal(api.get('Lease', 'portico', 'portico-leader')!['spec'].holderIdentity, 'replica-b');
  api.apply(ingress('default', 'three', 'three.example.com', [['/', 'Prefix', 'web', 80]]) as Obj);
  await waitFor('status by the new leader', () => api.get('Ingress', 'default', 'three')?.['status']?.loadBalancer?.ingress?.length === 2);
  assert.ok(api.writes.some((w) => w.includes('/ingresses/three/status') && w.endsWith('replica-b')));
  await waitFor('the new leader records the current events again', () => eventPosts().some((w) => w.endsWith('replica-b')));
});

test('--publish-service copies the Service load balancer address into Ingress status', async () => {
  const api = await new FakeApiServer().start();
  cleanup.push(() => api.stop());
  api.apply({ ...service('portico', 'portico-controller'), status: { loadBalancer: { ingress: [{ ip: '198.51.100.9' }] } } } as unknown as Obj);
  api.apply(ingress('default', 'pub', 'pub.example.com', [['/', 'Prefix', 'web', 80]]) as Obj);
  const c: ControllerProcess = await startPortico(flags(api.writeKubeconfig(), ['--publish-service', 'portico/portico-controller']), await freePort(), { POD_NAME: 'solo' });
  cleanup.push(() => c.stop());
  await waitFor('status from the Service', () => api.get('Ingress', 'default', 'pub')?.['status']?.loadBalancer?.ingress?.[0]?.ip === '198.51.100.9');
  // The missing backend is reported as a Kubernetes Event on the Ingress.
  await waitFor('event', () => api.list('Event').some((e) => e['involvedObject']?.name === 'pub' && e['reason'] === 'BackendUnavailable'));
});

test('MailProxy status conditions say Accepted/Programmed, with the reason when not accepted', async () => {
  const api = await new FakeApiServer().start();
  cleanup.push(() => api.stop());
  api.apply({ kind: 'MailProxy', apiVersion: 'portico.dev/v1alpha1', metadata: { name: 'good', namespace: 'mail', generation: 3 }, spec: { listeners: [{ name: 's', port: 21125, protocol: 'smtp' }], auth: { url: 'http://127.0.0.1:9/auth' } } } as unknown as Obj);
  api.apply({ kind: 'MailProxy', apiVersion: 'portico.dev/v1alpha1', metadata: { name: 'bad', namespace: 'mail' }, spec: { listeners: [{ name: 's', port: 21126, protocol: 'smtp' }], auth: { service: { name: 'nosuch', port: { number: 80 } } } } } as unknown as Obj);
  api.apply({ kind: 'HTTPRoutePolicy', apiVersion: 'portico.dev/v1alpha1', metadata: { name: 'orphan', namespace: 'mail' }, spec: { targetRef: { kind: 'Ingress', name: 'nosuch' } } } as unknown as Obj);
  const c = await startPortico(flags(api.writeKubeconfig()), await freePort(), { POD_NAME: 'mail' });
  cleanup.push(() => c.stop());
  const cond = (name: string, type: string) => (api.get('MailProxy', 'mail', name)?.['status']?.conditions ?? []).find((x: { type: string }) => x.type === type);
  await waitFor('conditions written', () => cond('good', 'Programmed') !== undefined && cond('bad', 'Accepted') !== undefined);
  assert.deepEqual({ ...cond('good', 'Accepted'), lastTransitionTime: undefined }, { type: 'Accepted', status: 'True', reason: 'Accepted', message: '1 listener(s)', observedGeneration: 3, lastTransitionTime: undefined });
  assert.equal(cond('good', 'Programmed').status, 'True');
  assert.equal(cond('bad', 'Accepted').status, 'False');
  assert.equal(cond('bad', 'Accepted').reason, 'InvalidAuth');
  assert.match(cond('bad', 'Accepted').message, /auth service mail\/nosuch not found/);
  const policy = () => (api.get('HTTPRoutePolicy', 'mail', 'orphan')?.['status']?.conditions ?? []).find((x: { type: string }) => x.type === 'Accepted');
  await waitFor('policy condition', () => policy() !== undefined);
  assert.equal(policy().reason, 'TargetNotFound');
  const writes = api.writes.filter((w) => w.includes('mailproxies'));
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(api.writes.filter((w) => w.includes('mailproxies')).length, writes.length, 'unchanged conditions are not rewritten');
});
