// HTTPRoutePolicy rendered by the controller and evaluated by the real dataplane: rule matches on headers, query,
// method and path (maps) and redirects (if + return). Backends are substituted by their upstream names until the
// dataplane proxies (so limits, which run after the substituted `return`, are checked in the golden files only).
// Ports 21220-21229.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { request } from 'undici';
import { printConf } from '../../dataplane/core/print.ts';
import type { KubeObject } from '../../controller/model/objects.ts';
import { renderStore } from '../../controller/pipeline.ts';
import { Store } from '../../controller/store.ts';
import { selfSignedCertificate } from '../../controller/tls/selfsigned.ts';
import { startDataplane, type Dataplane } from '../support/dataplane.ts';
import { substitute } from '../support/dataplane-coverage.ts';
import { ingress, service, slice, testOptions } from '../support/controller-fixtures.ts';

const PORT = 21221;

function objects(): KubeObject[] {
  return [
    service('shop', 'web'), slice('shop', 'web', 8080, ['10.0.0.1']),
    service('shop', 'v2'), slice('shop', 'v2', 8080, ['10.0.1.1']),
    ingress('shop', 'shop', 'shop.example.com', [['/', 'Prefix', 'web', 80]]),
    {
      apiVersion: 'portico.dev/v1alpha1', kind: 'HTTPRoutePolicy', metadata: { name: 'routes', namespace: 'shop' },
      spec: {
        targetRef: { kind: 'Ingress', name: 'shop' },
        rules: [
          { matches: [{ headers: [{ name: 'X-Beta', value: 'yes' }] }, { queryParams: [{ name: 'beta', value: '1' }] }], backends: [{ service: { name: 'v2', port: { number: 80 } } }] },
          { matches: [{ path: { type: 'Prefix', value: '/api' }, method: 'DELETE' }], backends: [{ service: { name: 'nosuch', port: { number: 80 } } }] },
          { matches: [{ path: { type: 'RegularExpression', value: '^/old/.*\\.html$' } }], redirect: { scheme: 'https', host: 'www.example.com', path: '/new', statusCode: 301 } },
        ],
      },
    },
  ];
}

describe('HTTPRoutePolicy through the dataplane', () => {
  let dp: Dataplane;
  before(async () => {
    const store = new Store();
    for (const o of objects()) store.upsert(o.kind as never, o);
    const { tree, model } = renderStore(store, { ...testOptions, defaultCertificate: selfSignedCertificate(), httpPort: PORT, httpsPort: PORT + 1, listenAddress: '127.0.0.1' });
    assert.deepEqual(model.conditions.map((c) => c.accepted), [true]);
    dp = await startDataplane(printConf(substitute(tree)));
  });
  after(() => dp?.stop());

  const get = async (host: string, path: string, init: { method?: string; headers?: Record<string, string> } = {}) => {
    const r = await request(`http://127.0.0.1:${PORT}${path}`, { method: (init.method ?? 'GET') as 'GET', headers: { host, ...init.headers } });
    return { status: r.statusCode, body: await r.body.text(), location: r.headers.location };
  };

  test('no rule matches: the Ingress backend answers', async () => {
    assert.equal((await get('shop.example.com', '/x')).body, 'shop_web_80');
  });
  test('a header match selects the rule backend', async () => {
    assert.equal((await get('shop.example.com', '/x', { headers: { 'x-beta': 'yes' } })).body, 'shop_routes_r0');
    assert.equal((await get('shop.example.com', '/x', { headers: { 'x-beta': 'no' } })).body, 'shop_web_80');
  });
  test('a query parameter match (the second match of the rule) selects it too', async () => {
    assert.equal((await get('shop.example.com', '/x?beta=1')).body, 'shop_routes_r0');
  });
  test('path and method must both hold; a rule backend without endpoints answers 503', async () => {
    assert.equal((await get('shop.example.com', '/api/items', { method: 'DELETE' })).status, 503);
    assert.equal((await get('shop.example.com', '/api/items')).body, 'shop_web_80');
    assert.equal((await get('shop.example.com', '/apix', { method: 'DELETE' })).body, 'shop_web_80');
  });
  test('a regex path rule redirects', async () => {
    const r = await get('shop.example.com', '/old/page.html');
    assert.equal(r.status, 301);
    assert.equal(r.location, 'https://www.example.com/new');
  });
});
