// ExternalName Services through the controller into the real Master: the name is looked up at each apply
// (one peer per address, as nginx does). The controller looks the name up first: a Service naming a host that
// is not found is rendered without endpoints (503 and a warning), so it cannot hold back the whole tree.
// Ports 21430-21439.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { request } from 'undici';
import { MasterSink } from '../../controller/master-sink.ts';
import { Reconciler, type ReconcileResult } from '../../controller/reconcile.ts';
import { Store } from '../../controller/store.ts';
import type { ModelEvent } from '../../controller/model/types.ts';
import { selfSignedCertificate } from '../../controller/tls/selfsigned.ts';
import { waitFor } from '../support/dataplane.ts';
import { captureLogger, ingress, service, testOptions } from '../support/controller-fixtures.ts';
import { httpUpstream, type TestUpstream } from '../support/upstreams.ts';

const HTTP = 21430;
const APP = 21433;

const ups: TestUpstream[] = [];
before(async () => {
  // localhost may also be ::1 elsewhere: answer there too.
  ups.push(await httpUpstream('ext', undefined, { host: '127.0.0.1', port: APP }));
  ups.push(await httpUpstream('ext', undefined, { host: '::1', port: APP }));
});
after(async () => {
  for (const u of ups) await u.close();
});

test('an ExternalName Service is served by its name\'s addresses; a name not found gets 503, the rest of the tree still applies', async () => {
  const store = new Store();
  const sink = new MasterSink();
  const results: ReconcileResult[] = [];
  const events: ModelEvent[] = [];
  const r = new Reconciler(store, { ...testOptions, defaultCertificate: selfSignedCertificate('ingress.local'), httpPort: HTTP, httpsPort: HTTP + 2, listenAddress: '127.0.0.1' }, sink, { debounceMs: 10, log: captureLogger().log, events: { record: (e) => events.push(e) }, onResult: (x) => results.push(x) });
  const ext = (name: string) => service('default', 'ext', APP, { type: 'ExternalName', externalName: name });
  try {
    store.upsert('Service', ext('localhost'));
    store.upsert('Ingress', ingress('default', 'a', 'ext.test', [['/', 'Prefix', 'ext', APP]]));
    r.enable();
    await waitFor('the first apply', () => results.some((x) => x.action === 'applied'), 30_000).catch((err: Error) => {
      throw new Error(`${err.message}: ${JSON.stringify(results)}`);
    });
    const get = async () => {
      const res = await request(`http://127.0.0.1:${HTTP}/`, { headers: { host: 'ext.test' } });
      return { status: res.statusCode, body: await res.body.text() };
    };
    assert.deepEqual(await get(), { status: 200, body: 'ext' });

    store.upsert('Service', ext('nonexistent.invalid'));
    store.upsert('Service', service('default', 'other', APP, { type: 'ExternalName', externalName: '127.0.0.1' }));
    store.upsert('Ingress', ingress('default', 'b', 'other.test', [['/', 'Prefix', 'other', APP]]));
    await waitFor('the other Ingress served', async () => {
      const res = await request(`http://127.0.0.1:${HTTP}/`, { headers: { host: 'other.test' } });
      return (await res.body.text()) === 'ext' && res.statusCode === 200;
    }, 30_000);
    assert.equal((await get()).status, 503);
    assert.equal(results.filter((x) => x.action === 'rejected').length, 0, 'the dataplane never saw the missing name');
    assert.ok(events.some((e) => e.reason === 'BackendUnavailable' && e.message.includes('ExternalName host "nonexistent.invalid" not found')), JSON.stringify(events));
  } finally {
    r.stop();
    await sink.quit();
  }
});
