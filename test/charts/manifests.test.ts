// Every object the chart renders, with every value set, is valid against the Kubernetes schemas (types,
// required fields, enums, and no unknown fields).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { renderChart } from './support/helm.ts';
import { validateManifest } from './support/k8s.ts';
import { VALUE_SETS } from './support/value-sets.ts';

describe('rendered manifests', () => {
  for (const [name, values] of Object.entries(VALUE_SETS)) {
    it(`are valid Kubernetes objects with the ${name} values`, async () => {
      const objs = renderChart(values);
      assert.ok(objs.length >= 10, `only ${objs.length} objects rendered`);
      const errors = (await Promise.all(objs.map(validateManifest))).flat();
      assert.deepEqual(errors, []);
    });
  }

  it('are checked strictly: a misspelt field, a wrong type and a missing field are each reported', async () => {
    const [deployment] = renderChart().filter((o) => o.kind === 'Deployment');
    const c = deployment.spec.template.spec.containers[0];
    c.readinessprobe = c.readinessProbe;
    c.ports[0].containerPort = 'eighty';
    delete deployment.spec.selector;
    const errors = (await validateManifest(deployment)).join('\n');
    assert.match(errors, /containers\[0\]\.readinessprobe: unknown field in V1Container/);
    assert.match(errors, /containerPort must be integer/);
    assert.match(errors, /data\/spec must have required property selector/);
    const monitor = renderChart(VALUE_SETS.monitoring).find((o) => o.kind === 'ServiceMonitor')!;
    monitor.spec.endpoints[0].interval = 30;
    assert.match((await validateManifest(monitor)).join('\n'), /interval must be string/);
  });
});
