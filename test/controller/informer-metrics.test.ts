/**
 * The informer metrics of a real controller process watching the fake API server: watch events by kind and
 * type, relists after 410 Gone, read from /metrics and checked against the labels docs/metrics.md documents.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, test } from 'node:test';
import { FakeApiServer, type Obj } from '../support/fake-apiserver.ts';
import { startPortico, waitFor } from '../support/controller-process.ts';
import { ingress, service, slice } from '../support/controller-fixtures.ts';

const HEALTHZ = 21510;
const cleanup: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const c of cleanup.reverse()) await c();
});

/** series returns every sample of `name` as its labels and value. */
function series(text: string, name: string): Array<{ labels: Record<string, string>; value: number }> {
  const out = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith(name + '{')) continue;
    const labels = Object.fromEntries([...line.slice(name.length + 1, line.lastIndexOf('}')).matchAll(/([a-z_]+)="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]));
    out.push({ labels, value: Number(line.slice(line.lastIndexOf(' ') + 1)) });
  }
  return out;
}

function value(text: string, name: string, want: Record<string, string>): number {
  const s = series(text, name).find((x) => Object.entries(want).every(([k, v]) => x.labels[k] === v));
  return s?.value ?? 0;
}

/** documentedLabels reads a metric's label names from its row in docs/metrics.md (`kind`, `type` = A, B → kind, type). */
function documentedLabels(name: string): string[] {
  const row = readFileSync(new URL('../../docs/metrics.md', import.meta.url), 'utf8').split('\n').find((l) => l.startsWith(`| \`${name}\` |`));
  assert.ok(row, `${name} is documented`);
  return [...row.split('|')[3]!.matchAll(/`([a-z_]+)`/g)].map((m) => m[1]!);
}

test('watch events count by kind and type, a 410 Gone relist counts once per kind, and list results are not events', async () => {
  const api = await new FakeApiServer().start();
  cleanup.push(() => api.stop());
  api.apply(service('default', 'web') as Obj);
  api.apply(slice('default', 'web', 8080, ['10.0.0.1']) as Obj);
  api.apply(ingress('default', 'a', 'a.example.com', [['/', 'Prefix', 'web', 80]]) as Obj);
  const c = await startPortico(['--kubeconfig', api.writeKubeconfig(), '--watch-ingress-without-class', '--dataplane', 'none', '--debounce-ms', '20', '--election-namespace', 'portico'], HEALTHZ, { POD_NAME: 'metrics' });
  cleanup.push(() => c.stop());
  await c.ready();
  const metrics = async () => (await c.get('/metrics')).text;
  const ing = (type: string) => async () => value(await metrics(), 'portico_informer_events_total', { kind: 'Ingress', type });

  let text = await metrics();
  assert.equal(value(text, 'portico_informer_events_total', { kind: 'Ingress' }), 0, 'the first list is not a watch event');
  assert.equal(value(text, 'portico_informer_relists_total', { kind: 'Ingress' }), 0);

  api.apply(ingress('default', 'b', 'b.example.com', [['/', 'Prefix', 'web', 80]]) as Obj);
  await waitFor('ADDED', async () => (await ing('ADDED')()) === 1);
  api.apply(ingress('default', 'b', 'b.example.com', [['/x', 'Prefix', 'web', 80]]) as Obj);
  await waitFor('MODIFIED', async () => (await ing('MODIFIED')()) === 1);
  api.remove('Ingress', 'default', 'b');
  await waitFor('DELETED', async () => (await ing('DELETED')()) === 1);
  api.apply(slice('default', 'web', 8080, ['10.0.0.1', '10.0.0.2']) as Obj);
  await waitFor('EndpointSlice MODIFIED', async () => value(await metrics(), 'portico_informer_events_total', { kind: 'EndpointSlice', type: 'MODIFIED' }) === 1);

  // Lose every watch, change things meanwhile, and forget history: each informer's watch gets 410 and relists.
  api.dropWatches();
  api.apply(ingress('default', 'during', 'during.example.com', [['/', 'Prefix', 'web', 80]]) as Obj);
  api.compact();
  await waitFor('Ingress relist', async () => value(await metrics(), 'portico_informer_relists_total', { kind: 'Ingress' }) === 1);
  await waitFor('the relisted Ingress reaches the configuration', async () => (await c.get('/conf')).text.includes('during.example.com'));
  text = await metrics();
  assert.equal(value(text, 'portico_informer_events_total', { kind: 'Ingress', type: 'ADDED' }), 1, 'objects from the relist are not watch events');
  assert.equal(value(text, 'portico_informer_relists_total', { kind: 'Service' }), 1, 'every kind whose watch expired relists');

  // The exported labels are the documented ones (plus the process-wide constant labels every metric carries).
  const constant = new Set(Object.keys(series(text, 'nginx_ingress_controller_leader_election_status')[0]?.labels ?? {}));
  constant.delete('name');
  for (const name of ['portico_informer_events_total', 'portico_informer_relists_total']) {
    const keys = Object.keys(series(text, name)[0]!.labels).filter((k) => !constant.has(k));
    assert.deepEqual(keys.sort(), documentedLabels(name).sort(), name);
  }
  const types = new Set(series(text, 'portico_informer_events_total').map((s) => s.labels['type']));
  assert.deepEqual([...types].sort(), ['ADDED', 'DELETED', 'MODIFIED']);
});
