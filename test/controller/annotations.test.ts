import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { annotationsDoc } from '../../controller/annotations/doc.ts';
import { parseAnnotations, parseGlobalSettings } from '../../controller/annotations/parse.ts';

const N = 'nginx.ingress.kubernetes.io/';

test('docs/annotations.md is generated from the current table', () => {
  const file = path.join(import.meta.dirname, '../../docs/annotations.md');
  assert.equal(fs.readFileSync(file, 'utf8'), annotationsDoc(), 'run: node controller/annotations/doc.ts > docs/annotations.md');
});

test('valid annotations parse into typed values', () => {
  const r = parseAnnotations({ [`${N}proxy-read-timeout`]: '30', [`${N}limit-rps`]: '7', [`${N}whitelist-source-range`]: '10.0.0.0/8, ::1', [`${N}ssl-redirect`]: 'false' });
  assert.ok(r.ok);
  assert.deepEqual(r.value, { proxyReadTimeout: '30s', limitRps: 7, allowSourceRange: ['10.0.0.0/8', '::1'], sslRedirect: false });
});

test('the portico.dev prefix wins over the nginx prefix', () => {
  const r = parseAnnotations({ [`${N}proxy-body-size`]: '1m', 'portico.dev/proxy-body-size': '2m' });
  assert.ok(r.ok && r.value.proxyBodySize === '2m');
});

const invalid: [string, string, RegExp][] = [
  ['proxy-body-size', '10 m', /is not a size/],
  ['limit-rps', '-1', /outside/],
  ['limit-rate', '100k', /"100k" is not an integer/],
  ['whitelist-source-range', '10.0.0.0/33', /prefix length/],
  ['auth-realm', 'a $secret', /"\$" is not allowed/],
  ['auth-url', 'ftp://x', /not an http or https URL/],
  ['rewrite-target', '/x;return 200', /not allowed in a path/],
  ['backend-protocol', 'FCGI', /not one of HTTP, HTTPS, GRPC, GRPCS/],
  ['upstream-hash-by', '$host;', /not a key made of nginx variables/],
  ['proxy-next-upstream', 'error sometimes', /"sometimes" is not one of/],
  ['session-cookie-name', 'a b', /not a valid name/],
  ['server-alias', 'bad_host!', /not a valid host name/],
  ['ssl-redirect', 'yes', /not true or false/],
  ['proxy-cookie-domain', 'one', /is not "off" or "from to"/],
  ['proxy-cookie-domain', '~*x.example.com y', /domain regexes are always case-insensitive/],
  ['proxy-cookie-path', '~(unclosed /$1', /is not a valid regular expression/],
  ['proxy-cookie-path', '/a $host', /may only use \$1..\$9/],
];
for (const [key, value, message] of invalid) {
  test(`an invalid ${key} ("${value}") rejects with a clear message`, () => {
    const r = parseAnnotations({ [N + key]: value });
    assert.equal(r.ok, false);
    assert.match(r.ok ? '' : r.errors.join('\n'), message);
    assert.match(r.ok ? '' : r.errors.join('\n'), new RegExp(`annotation ${N}${key}: invalid value`));
  });
}

test('snippet annotations are refused under both prefixes', () => {
  for (const key of [`${N}server-snippet`, 'portico.dev/configuration-snippet']) {
    const r = parseAnnotations({ [key]: 'return 200;' });
    assert.equal(r.ok, false);
    assert.match(r.ok ? '' : r.errors[0]!, /configuration snippets are not supported/);
  }
});

test('unknown annotations under our prefixes only warn; foreign prefixes are ignored', () => {
  const r = parseAnnotations({ [`${N}made-up`]: 'x', 'example.com/foo': 'bar' });
  assert.ok(r.ok);
  assert.deepEqual(r.warnings, [`annotation ${N}made-up is not supported and was ignored`]);
});

test('auth-type basic without auth-secret is rejected', () => {
  const r = parseAnnotations({ [`${N}auth-type`]: 'basic' });
  assert.equal(r.ok, false);
});

test('global settings accept only global keys and report bad ones', () => {
  const g = parseGlobalSettings({ 'proxy-read-timeout': '90', 'limit-rps': '5', 'proxy-body-size': 'huge' });
  assert.deepEqual(g.value, { proxyReadTimeout: '90s' });
  assert.equal(g.errors.length, 2);
});

test('ConfigMap access-log-path and disable-access-log', () => {
  assert.deepEqual(parseGlobalSettings({ 'access-log-path': '/var/log/portico/access.log' }).directives, [{ context: 'http', name: 'access_log', args: ['/var/log/portico/access.log'] }]);
  assert.deepEqual(parseGlobalSettings({ 'disable-access-log': 'true' }).directives, [{ context: 'http', name: 'access_log', args: ['off'] }]);
  assert.deepEqual(parseGlobalSettings({ 'access-log-path': 'logs/a.log', 'disable-access-log': 'no' }).errors, [
    'ConfigMap key access-log-path: invalid value: "logs/a.log" is not an absolute file path',
    'ConfigMap key disable-access-log: invalid value: "no" is not true or false',
  ]);
});

test('ConfigMap settings become directives, each value validated', () => {
  const g = parseGlobalSettings({ 'keep-alive': '75', 'server-tokens': 'false', 'ssl-protocols': 'TLSv1.3', 'worker-processes': 'auto', 'metrics-per-host': 'maybe', 'ssl-protocols-x': '1' });
  assert.deepEqual(g.directives, [
    { context: 'http', name: 'keepalive_timeout', args: ['75s'] },
    { context: 'http', name: 'server_tokens', args: ['off'] },
    { context: 'http', name: 'ssl_protocols', args: ['TLSv1.3'] },
    { context: 'main', name: 'worker_processes', args: ['auto'] },
  ]);
  assert.deepEqual(g.errors, ['ConfigMap key metrics-per-host: invalid value: "maybe" is not true or false', 'ConfigMap key ssl-protocols-x is not a supported global setting']);
});
