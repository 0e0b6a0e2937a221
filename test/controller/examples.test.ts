// The shipped folder-mode example renders without errors or warnings, and its backends answer.
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { request } from 'undici';
import { startBackends } from '../../examples/backends.ts';
import { renderStore } from '../../controller/pipeline.ts';
import { scanManifests } from '../../controller/sources/folder.ts';
import { Store } from '../../controller/store.ts';
import { testOptions } from '../support/controller-fixtures.ts';

const BASE = 24401;

test('examples/manifests render cleanly: no manifest errors, no model events, the demo routes exist', () => {
  const scan = scanManifests(path.join(import.meta.dirname, '../../examples/manifests'));
  assert.deepEqual([scan.errors, scan.warnings], [[], []]);
  const store = new Store();
  store.replaceAll(scan.objects);
  const { model } = renderStore(store, { ...testOptions, watchWithoutClass: false });
  assert.deepEqual(model.events, []);
  const demo = model.servers.find((s) => s.host === 'demo.localhost')!;
  assert.deepEqual(demo.locations.map((l) => `${l.match} ${l.path} ${l.backend.upstream}`), ['= /api demo_api_80', '= /old demo_web_80', ' / demo_web_80', ' /api/ demo_api_80']);
  assert.equal(demo.locations[0]!.canary?.backend.upstream, 'demo_api-v2_80');
});

test('examples/backends.ts answers with the service name', async () => {
  // A fixed range of this file's own: three ports from freePort() could race with other files' listeners.
  const servers = await startBackends('127.0.0.1', BASE - 9001);
  try {
    const r = await request(`http://127.0.0.1:${BASE + 1}/x`);
    assert.equal((await r.body.json() as { service: string }).service, 'api');
  } finally {
    for (const s of servers) s.close();
  }
});
