// The portico.dev CRDs: generated files are current, the CRDs are valid and structural, the chart ships them
// unchanged, and the schemas (with their CEL rules) accept the examples and reject each kind of mistake with
// the message a user would see from the API server.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { isAlias, parse, parseAllDocuments, parseDocument, visit } from 'yaml';
import { staleFiles } from '../../scripts/generate.ts';
import { openAPIV3Schema, structuralErrors, validateCustom } from './support/crd.ts';
import { type K8sObject, ROOT, renderChart } from './support/helm.ts';
import { validateManifest } from './support/k8s.ts';

function load(path: string): Record<string, any> {
  const docs = parseAllDocuments(readFileSync(join(ROOT, path), 'utf8'));
  assert.equal(docs.length, 1, `${path} holds one document`);
  return docs[0].toJS();
}

const MAILPROXY_CRD = load('crds/portico.dev_mailproxies.yaml');
const POLICY_CRD = load('crds/portico.dev_httproutepolicies.yaml');
const MAILPROXY = parse(readFileSync(join(ROOT, 'examples/crds/mailproxy.yaml'), 'utf8'));
const POLICY = parse(readFileSync(join(ROOT, 'examples/crds/httproutepolicy.yaml'), 'utf8'));

// A copy of obj changed by edit, so each case starts from a valid object and breaks one thing.
function changed(obj: Record<string, any>, edit: (o: Record<string, any>) => void): Record<string, any> {
  const copy = structuredClone(obj);
  edit(copy);
  return copy;
}

describe('CRD files', () => {
  it('are what scripts/generate.ts produces', () => {
    assert.deepEqual(staleFiles(), []);
  });

  for (const crd of [MAILPROXY_CRD, POLICY_CRD]) {
    const name = crd.metadata.name as string;

    it(`${name} is a valid apiextensions.k8s.io/v1 CustomResourceDefinition`, async () => {
      assert.deepEqual(await validateManifest(crd as K8sObject), []);
    });

    it(`${name} has a structural schema`, () => {
      assert.deepEqual(structuralErrors(openAPIV3Schema(crd)), []);
    });

    it(`${name} serves portico.dev/v1alpha1 with a status subresource and condition columns`, () => {
      assert.equal(crd.spec.group, 'portico.dev');
      assert.equal(crd.spec.scope, 'Namespaced');
      const [v] = crd.spec.versions;
      assert.deepEqual([v.name, v.served, v.storage, v.subresources], ['v1alpha1', true, true, { status: {} }]);
      const columns = v.additionalPrinterColumns.map((c: { name: string; jsonPath: string }) => `${c.name}=${c.jsonPath}`);
      assert.ok(columns.includes('Accepted=.status.conditions[?(@.type=="Accepted")].status'));
      assert.ok(columns.includes('Programmed=.status.conditions[?(@.type=="Programmed")].status'));
    });
  }

  it('are shipped by the chart unchanged apart from labels and the keep annotation', () => {
    const rendered = renderChart().filter((o) => o.kind === 'CustomResourceDefinition');
    for (const crd of [MAILPROXY_CRD, POLICY_CRD]) {
      const mine = rendered.find((o) => o.metadata.name === crd.metadata.name);
      assert.ok(mine, `${crd.metadata.name} is rendered`);
      assert.deepEqual(mine.spec, crd.spec);
    }
  });

  it('are plain YAML without anchors or aliases', () => {
    for (const path of ['crds/portico.dev_mailproxies.yaml', 'crds/portico.dev_httproutepolicies.yaml']) {
      let aliases = 0;
      visit(parseDocument(readFileSync(join(ROOT, path), 'utf8')), { Node: (_, n) => { if (isAlias(n)) aliases++; } });
      assert.equal(aliases, 0, path);
    }
  });

  it('use no property name that YAML 1.1 parsers (kubectl, Helm) read as a boolean or null', () => {
    const words = /^(y|yes|n|no|on|off|true|false|null|~)$/i;
    const bad: string[] = [];
    const visit = (n: Record<string, any>, path: string): void => {
      for (const [k, p] of Object.entries(n.properties ?? {})) {
        if (words.test(k)) bad.push(`${path}.${k}`);
        visit(p as Record<string, any>, `${path}.${k}`);
      }
      if (n.items) visit(n.items, `${path}[]`);
    };
    for (const crd of [MAILPROXY_CRD, POLICY_CRD]) visit(openAPIV3Schema(crd), crd.spec.names.kind);
    assert.deepEqual(bad, []);
  });

  it('bound every string a CEL rule could read (the API server estimates rule cost from maxLength)', () => {
    const unbounded: string[] = [];
    const visit = (n: Record<string, any>, path: string): void => {
      if (n.type === 'string' && n.maxLength === undefined && path.includes('.spec')) unbounded.push(path);
      for (const [k, p] of Object.entries(n.properties ?? {})) visit(p as Record<string, any>, `${path}.${k}`);
      if (n.items) visit(n.items, `${path}[]`);
      if (typeof n.additionalProperties === 'object') visit(n.additionalProperties, `${path}{}`);
    };
    for (const crd of [MAILPROXY_CRD, POLICY_CRD]) visit(openAPIV3Schema(crd), crd.spec.names.kind);
    assert.deepEqual(unbounded, []);
  });

  it('structural check catches a node without a type and properties beside additionalProperties', () => {
    const broken = changed(MAILPROXY_CRD, (c) => {
      const spec = openAPIV3Schema(c).properties!.spec as Record<string, any>;
      delete spec.properties.serverName.type;
      spec.properties.proxy.additionalProperties = { type: 'string' };
    });
    assert.deepEqual(structuralErrors(openAPIV3Schema(broken)), [
      '.spec.serverName: type must be specified',
      '.spec.proxy: properties and additionalProperties are mutually exclusive',
    ]);
  });
});

describe('MailProxy schema', () => {
  it('accepts examples/crds/mailproxy.yaml', () => {
    assert.deepEqual(validateCustom(MAILPROXY_CRD, MAILPROXY), []);
  });

  it('accepts a status with Accepted and Programmed conditions', () => {
    const withStatus = changed(MAILPROXY, (o) => {
      o.status = {
        observedGeneration: 2,
        conditions: [
          { type: 'Accepted', status: 'True', reason: 'Accepted', message: '', lastTransitionTime: '2026-01-02T03:04:05Z', observedGeneration: 2 },
          { type: 'Programmed', status: 'False', reason: 'SecretNotFound', message: 'secret mail/x not found', lastTransitionTime: '2026-01-02T03:04:05Z' },
        ],
      };
    });
    assert.deepEqual(validateCustom(MAILPROXY_CRD, withStatus), []);
    const bad = changed(withStatus, (o) => { o.status.conditions[0].status = 'Yes'; });
    assert.match(validateCustom(MAILPROXY_CRD, bad).join('\n'), /\/status\/conditions\/0\/status: must be equal to one of the allowed values/);
  });

  const cases: Array<[string, (o: Record<string, any>) => void, RegExp]> = [
    ['an unknown protocol', (o) => { o.spec.listeners[0].protocol = 'smtps'; }, /\/spec\/listeners\/0\/protocol: must be equal to one of the allowed values/],
    ['a port above 65535', (o) => { o.spec.listeners[0].port = 70000; }, /\/spec\/listeners\/0\/port: must be <= 65535/],
    ['a misspelt field', (o) => { o.spec.listener = []; }, /\/spec: must NOT have additional properties \(listener\)/],
    ['no listeners', (o) => { o.spec.listeners = []; }, /\/spec\/listeners: must NOT have fewer than 1 items/],
    ['no auth', (o) => { delete o.spec.auth; }, /\/spec: must have required property 'auth'/],
    ['TLS without a secret', (o) => { delete o.spec.listeners[0].tls.secretRef; }, /\/spec\/listeners\/0\/tls: must have required property 'secretRef'/],
    ['an unknown TLS mode', (o) => { o.spec.listeners[0].tls.mode = 'ssl'; }, /\/spec\/listeners\/0\/tls\/mode: must be equal to one of the allowed values/],
    ['a timeout without a unit', (o) => { o.spec.auth.timeout = '5'; }, /\/spec\/auth\/timeout: must match pattern/],
    ['a Secret name with capitals', (o) => { o.spec.listeners[1].tls.secretRef.name = 'Mail'; }, /\/spec\/listeners\/1\/tls\/secretRef\/name: must match pattern/],
    ['two listeners on one port', (o) => { o.spec.listeners[1].port = 587; }, /^\.spec\.listeners: listener ports must be unique$/m],
    ['apop on IMAP', (o) => { o.spec.listeners[1].authMethods = ['apop']; }, /^\.spec\.listeners\[1\]: apop is only valid with protocol pop3$/m],
    ['login on POP3', (o) => { o.spec.listeners[2].authMethods = ['login']; }, /^\.spec\.listeners\[2\]: login is not valid with protocol pop3$/m],
    ['relay without auth outside SMTP', (o) => { o.spec.listeners[1].authMethods = ['none']; }, /^\.spec\.listeners\[1\]: none is only valid with protocol smtp$/m],
    ['both an auth Service and a URL', (o) => { o.spec.auth.url = 'http://auth.example.com/auth'; }, /^\.spec\.auth: exactly one of service or url must be set$/m],
    ['neither an auth Service nor a URL', (o) => { delete o.spec.auth.service; }, /^\.spec\.auth: exactly one of service or url must be set$/m],
    ['an auth port by number and name', (o) => { o.spec.auth.service.port.name = 'http'; }, /^\.spec\.auth\.service\.port: exactly one of number or name must be set$/m],
    ['an auth URL that is not http', (o) => { delete o.spec.auth.service; o.spec.auth.url = 'ftp://auth'; }, /\/spec\/auth\/url: must match pattern/],
    ['an invalid auth header name', (o) => { o.spec.auth.headers[0].name = 'X Bad'; }, /\/spec\/auth\/headers\/0\/name: must match pattern/],
  ];
  for (const [what, edit, expected] of cases) {
    it(`rejects ${what}`, () => {
      const errors = validateCustom(MAILPROXY_CRD, changed(MAILPROXY, edit));
      assert.match(errors.join('\n'), expected);
    });
  }
});

describe('HTTPRoutePolicy schema', () => {
  it('accepts examples/crds/httproutepolicy.yaml', () => {
    assert.deepEqual(validateCustom(POLICY_CRD, POLICY), []);
  });

  it('accepts hosts (exact and wildcard) instead of an Ingress when every rule has backends or a redirect', () => {
    const byHost = changed(POLICY, (o) => {
      delete o.spec.targetRef;
      o.spec.hosts = ['shop.example.com', '*.shop.example.com'];
      o.spec.rules = o.spec.rules.filter((r: { name: string }) => r.name !== 'login');
    });
    assert.deepEqual(validateCustom(POLICY_CRD, byHost), []);
  });

  const cases: Array<[string, (o: Record<string, any>) => void, RegExp]> = [
    ['both targetRef and hosts', (o) => { o.spec.hosts = ['shop.example.com']; }, /^\.spec: exactly one of targetRef or hosts must be set$/m],
    ['neither targetRef nor hosts', (o) => { delete o.spec.targetRef; }, /^\.spec: exactly one of targetRef or hosts must be set$/m],
    ['a target that is not an Ingress', (o) => { o.spec.targetRef.kind = 'Service'; }, /\/spec\/targetRef\/kind: must be equal to one of the allowed values/],
    ['a host with a wildcard in the middle', (o) => { delete o.spec.targetRef; o.spec.hosts = ['shop.*.com']; }, /\/spec\/hosts\/0: must match pattern/],
    ['a rule for hosts with neither backends nor a redirect', (o) => { delete o.spec.targetRef; o.spec.hosts = ['shop.example.com']; }, /^\.spec: with hosts, every rule needs backends or a redirect$/m],
    ['a redirect with backends', (o) => { o.spec.rules[3].backends = o.spec.rules[0].backends; }, /^\.spec\.rules\[3\]: redirect cannot be combined with backends or rewrite$/m],
    ['a redirect status that is not a redirect', (o) => { o.spec.rules[3].redirect.statusCode = 305; }, /\/spec\/rules\/3\/redirect\/statusCode: must be equal to one of the allowed values/],
    ['only zero weights', (o) => { for (const b of o.spec.rules[0].backends) b.weight = 0; }, /^\.spec\.rules\[0\]\.backends: at least one backend must have a weight above 0$/m],
    ['a weight above 1000', (o) => { o.spec.rules[0].backends[0].weight = 1001; }, /\/spec\/rules\/0\/backends\/0\/weight: must be <= 1000/],
    ['a Service name with a dot', (o) => { o.spec.rules[0].backends[0].service.name = 'shop.v2'; }, /\/spec\/rules\/0\/backends\/0\/service\/name: must match pattern/],
    ['a Prefix path without a leading slash', (o) => { o.spec.rules[2].matches[0].path.value = 'api'; }, /^\.spec\.rules\[2\]\.matches\[0\]\.path: Exact and Prefix paths must start with \/$/m],
    ['ReplacePrefixMatch under an Exact path', (o) => { o.spec.rules[2].matches[0].path.type = 'Exact'; }, /^\.spec\.rules\[2\]: ReplacePrefixMatch needs every match to have a Prefix path$/m],
    ['an unknown method', (o) => { o.spec.rules[1].matches[0].method = 'FETCH'; }, /\/spec\/rules\/1\/matches\/0\/method: must be equal to one of the allowed values/],
    ['an invalid header name', (o) => { o.spec.rules[0].matches[0].headers[0].name = 'X Beta'; }, /\/spec\/rules\/0\/matches\/0\/headers\/0\/name: must match pattern/],
    ['two rules with one name', (o) => { o.spec.rules[1].name = 'beta-testers'; }, /^\.spec\.rules: rule names must be unique$/m],
    ['hash balancing without a key', (o) => { o.spec.policy.loadBalancing.algorithm = 'hash'; }, /^\.spec\.policy\.loadBalancing: hashKey is required with algorithm hash and only allowed with it$/m],
    ['a hash key without hash balancing', (o) => { o.spec.policy.loadBalancing.hashKey = '$request_uri'; }, /^\.spec\.policy\.loadBalancing: hashKey is required/m],
    ['consistent without hash', (o) => { o.spec.policy.loadBalancing.consistent = true; }, /^\.spec\.policy\.loadBalancing: consistent is only allowed with algorithm hash$/m],
    ['an unknown balancer', (o) => { o.spec.policy.loadBalancing.algorithm = 'weighted'; }, /\/spec\/policy\/loadBalancing\/algorithm: must be equal to one of the allowed values/],
    ['a per-second and a per-minute rate', (o) => { o.spec.rules[1].policy.rateLimit.requestsPerSecond = 5; }, /^\.spec\.rules\[1\]\.policy\.rateLimit: set requestsPerSecond or requestsPerMinute, not both$/m],
    ['a rate limit with no limit', (o) => { o.spec.rules[1].policy.rateLimit = { burst: 5 }; }, /^\.spec\.rules\[1\]\.policy\.rateLimit: a rate limit needs requestsPerSecond, requestsPerMinute or connections$/m],
    ['an unknown retry condition', (o) => { o.spec.policy.retry.conditions = ['http_418']; }, /\/spec\/policy\/retry\/conditions\/0: must be equal to one of the allowed values/],
    ['more than 10 attempts', (o) => { o.spec.policy.retry.attempts = 11; }, /\/spec\/policy\/retry\/attempts: must be <= 10/],
    ['a timeout in words', (o) => { o.spec.policy.timeouts.read = 'thirty seconds'; }, /\/spec\/policy\/timeouts\/read: must match pattern/],
    ['a misspelt field in a rule', (o) => { o.spec.rules[0].backend = []; }, /\/spec\/rules\/0: must NOT have additional properties \(backend\)/],
  ];
  for (const [what, edit, expected] of cases) {
    it(`rejects ${what}`, () => {
      const errors = validateCustom(POLICY_CRD, changed(POLICY, edit));
      assert.match(errors.join('\n'), expected);
    });
  }
});
