/**
 * Test harness: write a config into a fresh prefix, start a dataplane process on it, wait until it listens,
 * and stop it (by pid) when the test is done.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
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
  let out = '';
  let err = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (err += d));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`dataplane did not start in 10s: ${err}`)), 10_000);
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
        proc.once('exit', () => resolve());
        proc.kill('SIGTERM');
      }),
  };
}
