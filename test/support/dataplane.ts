/**
 * Test helpers for the dataplane as a process. `Prefix`, `run` and `Running` drive bin/portico-dataplane (the
 * real CLI and master); `startDataplane` runs a single-process dataplane (test/support/serve.ts) for tests
 * that need only a running configuration. Waits are bounded; only pids started here are ever signalled.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

/** ROOT is the repository root. */
export const ROOT = path.resolve(import.meta.dirname, '../..');
/** Dataplanes started by this test file; whatever a test forgot to stop is killed when the file's process exits. */
const RUNNING = new Set<ChildProcess>();
process.on('exit', () => {
  for (const p of RUNNING) p.kill('SIGKILL');
});

/** NODE is the Node 24 binary the project runs on. */
export const NODE = path.join(ROOT, 'node_modules/.bin/node');

export interface Dataplane {
  prefix: string;
  proc: ChildProcess;
  stderr(): string;
  errorLog(): string;
  stop(): Promise<void>;
}

/** makePrefix creates a temporary prefix folder with the given files (relative paths → contents). */
export function makePrefix(files: Record<string, string | Buffer> = {}): string {
  const prefix = fs.mkdtempSync(path.join(os.tmpdir(), 'portico-test-'));
  // nginx's default logs (logs/access.log) must be openable, as they are under an installed prefix.
  fs.mkdirSync(path.join(prefix, 'logs'));
  for (const [name, content] of Object.entries(files)) {
    const p = path.join(prefix, name);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(p, content);
  }
  return prefix;
}

/**
 * startDataplane runs `conf` (nginx.conf text; `events {}` is added when missing) in a single-process
 * dataplane and resolves once it listens. Rejects with the process's stderr if it fails to start.
 */
export async function startDataplane(conf: string, files: Record<string, string | Buffer> = {}): Promise<Dataplane> {
  const text = /^\s*events\s*\{/m.test(conf) ? conf : `events {}\n${conf}`;
  const prefix = makePrefix({ ...files, 'nginx.conf': text });
  const proc = spawn(NODE, [path.join(ROOT, 'test/support/serve.ts'), prefix, 'nginx.conf'], { stdio: ['ignore', 'pipe', 'pipe'] });
  RUNNING.add(proc);
  proc.once('exit', () => RUNNING.delete(proc));
  // A forgotten dataplane must not keep the test file's process alive (the runner would wait forever):
  // unreferenced, it is killed by the exit hook above.
  proc.unref();
  (proc.stdout as unknown as { unref(): void }).unref();
  (proc.stderr as unknown as { unref(): void }).unref();
  let out = '';
  let err = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (err += d));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`dataplane did not start in 60s: ${err}`)), 60_000);
    proc.stdout!.on('data', () => {
      if (out.includes('ready\n')) {
        clearTimeout(timer);
        resolve();
      }
    });
    proc.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`dataplane exited with ${code}: ${err}`));
    });
  });
  return {
    prefix,
    proc,
    stderr: () => err,
    errorLog: () => {
      try {
        return fs.readFileSync(path.join(prefix, 'error.log'), 'utf8');
      } catch {
        return '';
      }
    },
    stop: () =>
      new Promise<void>((resolve) => {
        if (proc.exitCode !== null || proc.signalCode !== null) return resolve();
        // A dataplane that does not leave within 5 s of TERM is killed: a test must never hang the run.
        const kill = setTimeout(() => proc.kill('SIGKILL'), 5000);
        proc.once('exit', () => {
          clearTimeout(kill);
          resolve();
        });
        proc.kill('SIGTERM');
      }),
  };
}

/** BIN is the dataplane's command-line wrapper. */
export const BIN = path.join(ROOT, 'bin/portico-dataplane');

/** Prefix is a throw-away nginx prefix (conf/, logs/) for one test. */
export class Prefix {
  readonly dir: string;

  constructor() {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'portico-test-'));
    fs.mkdirSync(path.join(this.dir, 'conf'));
    fs.mkdirSync(path.join(this.dir, 'logs'));
  }

  /** path returns an absolute path under the prefix. */
  path(rel: string): string {
    return path.join(this.dir, rel);
  }

  /** write writes a file under the prefix (creating folders) and returns its absolute path. */
  write(rel: string, text: string): string {
    const p = this.path(rel);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(p, text);
    return p;
  }

  /** conf writes conf/nginx.conf (the default config file) and returns its path. */
  conf(text: string): string {
    return this.write('conf/nginx.conf', text);
  }

  read(rel: string): string {
    return fs.readFileSync(this.path(rel), 'utf8');
  }

  exists(rel: string): boolean {
    return fs.existsSync(this.path(rel));
  }

  remove(): void {
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/** RunResult is a finished command. */
export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** run runs bin/portico-dataplane to completion (killed after `timeoutMs`). */
export function run(args: string[], opts: { cwd?: string; timeoutMs?: number } = {}): Promise<RunResult> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  return new Promise((resolve, reject) => {
    const child = spawn(BIN, args, { stdio: ['ignore', 'pipe', 'pipe'], cwd: opts.cwd });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b) => (stdout += b));
    child.stderr.on('data', (b) => (stderr += b));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Running is a dataplane started in the background; `stderr` accumulates its output. */
export class Running {
  readonly child: ChildProcess;
  stderr = '';
  stdout = '';
  readonly exited: Promise<number | null>;

  constructor(args: string[]) {
    this.child = spawn(BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stdout!.on('data', (b) => (this.stdout += b));
    this.child.stderr!.on('data', (b) => (this.stderr += b));
    this.exited = new Promise((resolve) => this.child.on('close', (code) => resolve(code)));
  }

  /** signal sends a signal to this process (and nothing else). */
  signal(sig: NodeJS.Signals): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(sig);
  }

  /** stop ends the process (TERM, then KILL after a grace period) and waits for it. */
  async stop(): Promise<void> {
    this.signal('SIGTERM');
    const timer = setTimeout(() => this.signal('SIGKILL'), 5000);
    await this.exited;
    clearTimeout(timer);
  }
}

/** waitFor polls `check` until it returns a truthy value or `timeoutMs` passes (then throws naming `what`). */
export async function waitFor<T>(what: string, check: () => T | Promise<T>, timeoutMs = 30_000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** waitForFile waits until a file exists and is not empty; returns its text. */
export function waitForFile(file: string, timeoutMs?: number): Promise<string> {
  return waitFor(`file ${file}`, () => (fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : ''), timeoutMs);
}

/** canConnect tells whether a TCP connection to host:port succeeds. */
export function canConnect(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** waitForLog waits until `file` (or a Running's stderr) contains `needle`. */
export function waitForText(what: string, read: () => string, needle: string | RegExp, timeoutMs?: number): Promise<string> {
  return waitFor(what, () => {
    const text = read();
    return (typeof needle === 'string' ? text.includes(needle) : needle.test(text)) ? text : '';
  }, timeoutMs);
}

/** readIfExists reads a file, or returns '' when it does not exist (yet). */
export function readIfExists(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}
