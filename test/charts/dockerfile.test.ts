// The Dockerfile and .dockerignore. No Docker engine runs here, so the image is not built: these tests parse
// the Dockerfile and check what a build depends on — stages, base images, what is copied from where, the user,
// the entry point — against the repository and the chart's defaults.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { CHART, ROOT } from './support/helm.ts';

type Instruction = { keyword: string; args: string; line: number };

const KEYWORDS = new Set(['FROM', 'RUN', 'CMD', 'LABEL', 'EXPOSE', 'ENV', 'ADD', 'COPY', 'ENTRYPOINT', 'VOLUME', 'USER', 'WORKDIR', 'ARG', 'ONBUILD', 'STOPSIGNAL', 'HEALTHCHECK', 'SHELL']);

/** parseDockerfile splits a Dockerfile into instructions, joining `\` continuations and dropping comments. */
function parseDockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  let pending = '';
  let start = 0;
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (!pending && (line === '' || line.startsWith('#'))) return;
    if (!pending) start = i + 1;
    if (line.startsWith('#')) return;
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1)} `;
      return;
    }
    const full = pending + line;
    pending = '';
    const m = /^(\S+)\s+(.*)$/.exec(full);
    if (!m) throw new Error(`Dockerfile:${start}: instruction without arguments: ${full}`);
    const keyword = m[1].toUpperCase();
    if (!KEYWORDS.has(keyword)) throw new Error(`Dockerfile:${start}: unknown instruction ${m[1]}`);
    out.push({ keyword, args: m[2], line: start });
  });
  if (pending) throw new Error('Dockerfile: ends inside a line continuation');
  return out;
}

type Stage = { image: string; name?: string; body: Instruction[] };

function stages(ins: Instruction[]): Stage[] {
  const out: Stage[] = [];
  for (const i of ins) {
    if (i.keyword === 'FROM') {
      const m = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(i.args);
      assert.ok(m, `FROM at line ${i.line} reads "image [AS name]"`);
      out.push({ image: m[1], name: m[2], body: [] });
    } else {
      assert.ok(out.length, `${i.keyword} at line ${i.line} comes before any FROM`);
      out[out.length - 1].body.push(i);
    }
  }
  return out;
}

// .dockerignore as Docker reads it: patterns in order, the last match wins, `!` re-includes, and a pattern
// that matches a directory matches everything below it.
function ignored(patterns: string[], path: string): boolean {
  const toRegExp = (p: string): RegExp =>
    new RegExp(`^${p.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*\*\//g, '\0').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]').replace(/\0/g, '(.*/)?')}$`);
  const parts = path.split('/');
  const candidates = parts.map((_, i) => parts.slice(0, i + 1).join('/'));
  let result = false;
  for (const raw of patterns) {
    const negate = raw.startsWith('!');
    const re = toRegExp(negate ? raw.slice(1) : raw);
    if (candidates.some((c) => re.test(c))) result = !negate;
  }
  return result;
}

const dockerfile = parseDockerfile(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'));
const [deps, final] = stages(dockerfile);
const dockerignore = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
const values = parse(readFileSync(join(CHART, 'values.yaml'), 'utf8'));

function only(stage: Stage, keyword: string): Instruction {
  const hits = stage.body.filter((i) => i.keyword === keyword);
  assert.equal(hits.length, 1, `one ${keyword} in the stage from ${stage.image}`);
  return hits[0];
}

describe('Dockerfile', () => {
  it('has two stages: dependencies on node:24-slim, runtime on distroless Node 24 as nonroot', () => {
    assert.equal(stages(dockerfile).length, 2);
    assert.equal(deps.image, 'node:24-slim');
    assert.equal(deps.name, 'deps');
    assert.equal(final.image, 'gcr.io/distroless/nodejs24-debian12:nonroot');
    assert.match(pkg.engines.node, /^>=24 <25$/, 'the base images follow package.json engines');
  });

  it('installs only production dependencies from the lockfile, without install scripts', () => {
    const run = only(deps, 'RUN').args;
    assert.match(run, /^npm ci\b/);
    assert.match(run, /--omit=dev/);
    assert.match(run, /--ignore-scripts/);
    assert.deepEqual(only(deps, 'COPY').args.split(/\s+/), ['package.json', 'package-lock.json', './']);
  });

  it('copies node_modules only from the deps stage, and sources that .dockerignore lets through', () => {
    const copies = final.body.filter((i) => i.keyword === 'COPY').map((i) => i.args);
    assert.deepEqual(copies, ['--from=deps /app/node_modules ./node_modules', '. .']);
    for (const kept of ['package.json', 'package-lock.json', 'dataplane/modules.ts', 'dataplane/core/conf.ts', 'controller/cli.ts', 'controller/x.ts']) {
      assert.equal(ignored(dockerignore, kept), false, `${kept} reaches the image`);
    }
    for (const left of ['node_modules/yaml/index.js', 'test/charts/chart.test.ts', 'dataplane/core/x.test.ts', '.git/HEAD', 'charts/portico/values.yaml', 'docs/helm.md', 'README.md']) {
      assert.equal(ignored(dockerignore, left), true, `${left} stays out of the build context`);
    }
    for (const file of ['package.json', 'package-lock.json', 'dataplane/modules.ts']) assert.ok(existsSync(join(ROOT, file)), `${file} exists`);
  });

  it('runs as the numeric non-root user the chart sets', () => {
    const user = only(final, 'USER').args;
    assert.match(user, /^[1-9][0-9]*:[1-9][0-9]*$/);
    const [uid, gid] = user.split(':').map(Number);
    assert.equal(values.controller.containerSecurityContext.runAsUser, uid);
    assert.equal(values.controller.containerSecurityContext.runAsGroup, gid);
    assert.equal(values.controller.podSecurityContext.runAsUser, uid);
  });

  it('starts the same entry script as bin/portico, with node in exec form', () => {
    const entry = JSON.parse(only(final, 'ENTRYPOINT').args) as string[];
    assert.equal(entry[0], '/nodejs/bin/node');
    const script = /exec "\$node" "\$root\/(\S+)"/.exec(readFileSync(join(ROOT, 'bin/portico'), 'utf8'))?.[1];
    assert.equal(entry[1], script);
    assert.equal(entry.length, 2, 'flags come from the chart as args');
  });

  it('exposes the chart\'s default http, https and healthz ports', () => {
    const ports = only(final, 'EXPOSE').args.split(/\s+/).map(Number);
    const c = values.controller;
    assert.deepEqual(ports, [c.containerPort.http, c.containerPort.https, c.healthzPort]);
  });

  it('has an entry script that exists', () => {
    const entry = JSON.parse(only(final, 'ENTRYPOINT').args) as string[];
    assert.ok(existsSync(join(ROOT, entry[1]!)));
  });

  it('parser rejects an unknown instruction and a dangling continuation', () => {
    assert.throws(() => parseDockerfile('FROM x\nCOPPY a b\n'), /Dockerfile:2: unknown instruction COPPY/);
    assert.throws(() => parseDockerfile('FROM x\nRUN a \\'), /ends inside a line continuation/);
  });
});
