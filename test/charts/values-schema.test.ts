// values.schema.json: complete for values.yaml, and strict enough that helm refuses typos and wrong values.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Ajv } from 'ajv';
import { parse } from 'yaml';
import { CHART, templateError } from './support/helm.ts';

const schema = JSON.parse(readFileSync(join(CHART, 'values.schema.json'), 'utf8'));
const values = parse(readFileSync(join(CHART, 'values.yaml'), 'utf8'));

type Node = { properties?: Record<string, Node>; $ref?: string; additionalProperties?: unknown };

function resolve(n: Node): Node {
  return n.$ref ? resolve(schema.definitions[n.$ref.replace('#/definitions/', '')]) : n;
}

describe('values.schema.json', () => {
  it('accepts values.yaml (checked by ajv, independently of helm)', () => {
    const validate = new Ajv({ strict: false, allErrors: true }).compile(schema);
    assert.ok(validate(values), JSON.stringify(validate.errors));
  });

  it('declares every key of values.yaml down to the pass-through Kubernetes objects', () => {
    const undeclared: string[] = [];
    const visit = (v: unknown, n: Node, path: string): void => {
      const node = resolve(n);
      if (!node.properties || v === null || typeof v !== 'object' || Array.isArray(v)) return;
      for (const [k, child] of Object.entries(v)) {
        const s = node.properties[k];
        if (!s) undeclared.push(`${path}${k}`);
        else visit(child, s, `${path}${k}.`);
      }
    };
    visit(values, schema, '');
    assert.deepEqual(undeclared, []);
  });

  const typos: Array<[Record<string, unknown>, RegExp]> = [
    [{ controler: { replicaCount: 2 } }, /Additional property controler is not allowed/],
    [{ controller: { replicaCont: 2 } }, /controller: Additional property replicaCont is not allowed/],
    [{ controller: { service: { tpye: 'NodePort' } } }, /controller\.service: Additional property tpye is not allowed/],
    [{ controller: { metrics: { serviceMonitor: { enable: true } } } }, /controller\.metrics\.serviceMonitor: Additional property enable is not allowed/],
    [{ controller: { ingressClassResource: { isDefault: true } } }, /controller\.ingressClassResource: Additional property isDefault is not allowed/],
    [{ controller: { autoscaling: { targetCPU: 80 } } }, /controller\.autoscaling: Additional property targetCPU is not allowed/],
  ];
  for (const [set, expected] of typos) {
    it(`makes helm refuse the typo in ${JSON.stringify(set)}`, () => {
      assert.match(templateError(set), expected);
    });
  }

  const wrong: Array<[Record<string, unknown>, RegExp]> = [
    [{ controller: { kind: 'Daemonset' } }, /controller\.kind: controller\.kind must be one of the following: "Deployment", "DaemonSet"/],
    [{ controller: { service: { type: 'Loadbalancer' } } }, /controller\.service\.type must be one of the following/],
    [{ controller: { service: { externalTrafficPolicy: 'local' } } }, /controller\.service\.externalTrafficPolicy must be one of the following/],
    [{ controller: { workerProcesses: 'four' } }, /controller\.workerProcesses/],
    [{ controller: { replicaCount: '2' } }, /controller\.replicaCount: Invalid type\. Expected: integer, given: string/],
    [{ controller: { containerPort: { http: 0 } } }, /controller\.containerPort\.http: Must be greater than or equal to 1/],
    [{ controller: { image: { digest: 'latest' } } }, /controller\.image\.digest: Does not match pattern/],
    [{ controller: { metrics: { serviceMonitor: { interval: '30 seconds' } } } }, /controller\.metrics\.serviceMonitor\.interval: Does not match pattern/],
    [{ controller: { mailPorts: [{ name: 'smtp' }] } }, /controller\.mailPorts\.0: port is required/],
  ];
  for (const [set, expected] of wrong) {
    it(`makes helm refuse the wrong value in ${JSON.stringify(set)}`, () => {
      assert.match(templateError(set), expected);
    });
  }
});
