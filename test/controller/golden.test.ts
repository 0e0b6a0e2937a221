// Golden tests: each test/controller/golden/NAME.yaml (manifests) renders to NAME.conf (nginx.conf text, with the
// model's events as leading comments). UPDATE_GOLDEN=1 rewrites the .conf files; review the diff before committing.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { printConf } from '../../dataplane/core/print.ts';
import { type PipelineOptions, renderStore } from '../../controller/pipeline.ts';
import { redactTree } from '../../controller/render/peers.ts';
import { scanManifests } from '../../controller/sources/folder.ts';
import { Store } from '../../controller/store.ts';

const DIR = path.join(import.meta.dirname, 'golden');

/** goldenOptions are the fixed flags every golden case renders with. */
export const goldenOptions: PipelineOptions = {
  ingressClass: 'portico',
  controllerClass: 'portico.dev/ingress-controller',
  watchWithoutClass: true,
  defaultCertificate: { id: 'default', cert: '<default certificate>', key: '<default key>' },
  httpPort: 80,
  httpsPort: 443,
  configMap: 'portico/portico-settings',
};

for (const file of fs.readdirSync(DIR).filter((f) => f.endsWith('.yaml')).sort()) {
  const name = file.slice(0, -5);
  test(`golden ${name}: manifests render to the expected nginx.conf`, () => {
    const scan = scanManifests(path.join(DIR, file));
    assert.deepEqual(scan.errors, []);
    const store = new Store();
    store.replaceAll(scan.objects);
    const header = (fs.readFileSync(path.join(DIR, file), 'utf8').match(/^# options: (.*)$/m)?.[1]) ?? '{}';
    const { model, tree } = renderStore(store, { ...goldenOptions, ...JSON.parse(header) });
    const events = model.events.map((e) => `# ${e.type} ${e.reason} ${e.object.kind} ${e.object.namespace ?? ''}/${e.object.name}: ${e.message}\n`).join('');
    const conditions = model.conditions.map((c) => `# Condition ${c.object.kind} ${c.object.namespace}/${c.object.name} Accepted=${c.accepted ? 'True' : 'False'} ${c.reason}: ${c.message}\n`).join('');
    const text = events + conditions + printConf(redactTree(tree));
    const expected = path.join(DIR, `${name}.conf`);
    if (process.env['UPDATE_GOLDEN']) fs.writeFileSync(expected, text);
    assert.equal(text, fs.readFileSync(expected, 'utf8'));
  });
}
