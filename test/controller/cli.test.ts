// bin/portico as users run it: flag errors, manifest errors, `conf`, and folder mode watching files.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { stringify } from 'yaml';
import { parseFlags, UsageError } from '../../controller/flags.ts';
import { runPortico, startPortico, waitFor, type ControllerProcess } from '../support/controller-process.ts';
import { ingress, service, slice } from '../support/controller-fixtures.ts';
import { freePort } from '../support/upstreams.ts';

const running: ControllerProcess[] = [];
after(async () => {
  for (const p of running) await p.stop();
});

function folder(files: Record<string, unknown[] | string>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'portico-manifests-'));
  for (const [name, docs] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), typeof docs === 'string' ? docs : docs.map((d) => stringify(d)).join('---\n'));
  return dir;
}

const app = [service('default', 'web'), slice('default', 'web', 8080, ['127.0.0.1']), ingress('default', 'web', 'web.example.com', [['/', 'Prefix', 'web', 80]])];

test('flags: defaults follow ingress-nginx, and --name=value, --name value and bare booleans parse', () => {
  const f = parseFlags(['--http-port=8080', '--https-port', '8443', '--watch-ingress-without-class', '--watch-namespace', 'a, b', '--publish-service=portico/lb']);
  assert.equal(f.httpPort, 8080);
  assert.equal(f.httpsPort, 8443);
  assert.equal(f.watchIngressWithoutClass, true);
  assert.deepEqual(f.watchNamespace, ['a', 'b']);
  assert.equal(f.publishService, 'portico/lb');
  assert.equal(f.ingressClass, 'portico');
  assert.equal(f.controllerClass, 'portico.dev/ingress-controller');
  assert.equal(f.metricsPort, f.healthzPort);
  assert.equal(parseFlags(['--watch-ingress-without-class=false']).watchIngressWithoutClass, false);
  assert.equal(parseFlags(['conf', '--manifests', 'x']).command, 'conf');
});

const badFlags: [string[], RegExp][] = [
  [['--http-port', '70000'], /--http-port: "70000" is not a port \(1-65535\)/],
  [['--http-port'], /--http-port needs a value/],
  [['--no-such-flag'], /unknown flag --no-such-flag/],
  [['--publish-service', 'just-a-name'], /--publish-service: "just-a-name" is not namespace\/name/],
  [['--watch-ingress-without-class=maybe'], /is not true or false/],
  [['--manifests', 'x', '--kubeconfig', 'y'], /--manifests and --kubeconfig exclude each other/],
  [['--http-port', '8080', '--https-port', '8080'], /--http-port and --https-port are both 8080/],
  [['--worker-processes', 'many'], /--worker-processes: "many" is not a positive integer/],
  [['stray'], /unexpected argument "stray"/],
];
for (const [args, message] of badFlags) {
  test(`flags: ${args.join(' ')} is refused with a clear message`, () => {
    assert.throws(() => parseFlags(args), (e: Error) => e instanceof UsageError && message.test(e.message));
  });
}

test('bin/portico exits 2 with the message on a bad flag, and --help lists the flags', async () => {
  const r = await runPortico(['--http-port=abc']);
  assert.equal(r.code, 2);
  assert.equal(r.stderr, 'portico: --http-port: "abc" is not a port (1-65535)\n');
  const h = await runPortico(['--help']);
  assert.equal(h.code, 0);
  for (const f of ['--ingress-class', '--publish-status-address', '--manifests', '--default-ssl-certificate']) assert.ok(h.stdout.includes(f), f);
});

test('portico conf --manifests prints nginx.conf text, with warnings on stderr', async () => {
  const dir = folder({ 'app.yaml': [...app, ingress('default', 'broken', 'b.example.com', [['/', 'Prefix', 'nosuch', 80]])] });
  const r = await runPortico(['conf', '--manifests', dir, '--http-port', '8080']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /server_name web\.example\.com;\n\s+location \/ \{\n\s+portico_ingress default web web \/;\n\s+proxy_pass http:\/\/default_web_80;/);
  assert.match(r.stdout, /listen 8080;/);
  assert.match(r.stdout, /ssl_certificate_key data:<redacted>;/);
  assert.match(r.stderr, /warning: Ingress default\/broken: BackendUnavailable: service default\/nosuch not found; requests get 503/);
});

test('bad manifests are refused with file:line messages', async () => {
  const dir = folder({
    'a.yaml': 'kind: Service\nmetadata: {name: ok}\n---\nkind: Service\nmetadata:\n  name: [unclosed\n',
    'b.yaml': [{ apiVersion: 'v1', metadata: { name: 'x' } }, { kind: 'Ingress', metadata: {} }],
  });
  const r = await runPortico(['conf', '--manifests', dir]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, new RegExp(`error: ${dir}/a\\.yaml:\\d+: `));
  assert.match(r.stderr, new RegExp(`error: ${dir}/b\\.yaml:1: "kind" is missing`));
  assert.match(r.stderr, new RegExp(`error: ${dir}/b\\.yaml:\\d+: Ingress has no metadata.name`));
  const run = await runPortico(['--manifests', dir, '--dataplane', 'none', '--healthz-port', String(await freePort())]);
  assert.equal(run.code, 1);
  assert.match(run.stderr, /^portico: cannot start:\nerror: /);
});

test('folder mode serves /readyz and the live /conf, follows file changes, and keeps the last good set on a broken file', async () => {
  const dir = folder({ 'app.yaml': app });
  const healthz = await freePort();
  const p = await startPortico(['--manifests', dir, '--dataplane', 'none', '--debounce-ms', '20', '--http-port', String(await freePort()), '--https-port', String(await freePort())], healthz);
  running.push(p);
  await p.ready();
  assert.match((await p.get('/conf')).text, /server_name web\.example\.com;/);
  fs.writeFileSync(path.join(dir, 'more.yaml'), stringify(ingress('default', 'more', 'more.example.com', [['/m', 'Exact', 'web', 80]])));
  await waitFor('new file picked up', async () => /location = \/m \{/.test((await p.get('/conf')).text));
  fs.writeFileSync(path.join(dir, 'more.yaml'), 'kind: Ingress\nmetadata: {name: more\n');
  await waitFor('error logged', () => p.output().includes('manifests have errors; keeping the last good set'));
  assert.match((await p.get('/conf')).text, /location = \/m \{/);
  fs.rmSync(path.join(dir, 'more.yaml'));
  await waitFor('file removal picked up', async () => !/more\.example\.com/.test((await p.get('/conf')).text));
  const live = await runPortico(['conf', '--healthz-port', String(healthz), '--listen-address', '127.0.0.1']);
  assert.equal(live.code, 0);
  assert.match(live.stdout, /server_name web\.example\.com;/);
  assert.match((await p.get("/metrics")).text, /^nginx_ingress_controller_success\{[^}]*controller_class="portico.dev\/ingress-controller"[^}]*\} \d+$/m);
  assert.equal(await p.stop(), 0);
});
