// Runs bin/portico as a child process for tests and stops it (by pid) afterwards.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const ROOT = path.resolve(import.meta.dirname, '../..');
/** PORTICO is the bin/portico wrapper. */
export const PORTICO = path.join(ROOT, 'bin/portico');

/** ControllerProcess is a running bin/portico. */
export interface ControllerProcess {
  proc: ChildProcess;
  healthz: number;
  output(): string;
  get(p: string): Promise<{ status: number; text: string }>;
  /** ready waits for /readyz to answer 200; on timeout the error carries the process output. */
  ready(ms?: number): Promise<void>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** runPortico runs bin/portico to completion and returns exit code and output. */
export function runPortico(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(PORTICO, args, { env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

/** startPortico starts bin/portico and resolves once /healthz answers. */
export async function startPortico(args: string[], healthz: number, env: Record<string, string> = {}): Promise<ControllerProcess> {
  const proc = spawn(PORTICO, ['--healthz-port', String(healthz), '--listen-address', '127.0.0.1', ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  let exited = false;
  const exit = new Promise<number | null>((r) => proc.on('exit', (code) => ((exited = true), r(code))));
  const get = async (p: string) => {
    const r = await fetch(`http://127.0.0.1:${healthz}${p}`);
    return { status: r.status, text: await r.text() };
  };
  const end = Date.now() + 30_000;
  for (;;) {
    if (exited) throw new Error(`portico exited early: ${out}`);
    try {
      if ((await get('/healthz')).status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > end) {
      proc.kill('SIGKILL');
      throw new Error(`portico did not answer /healthz in 30s: ${out}`);
    }
    await sleep(50);
  }
  return {
    proc,
    healthz,
    output: () => out,
    get,
    async ready(ms = 60_000) {
      try {
        await waitFor('the first configuration', async () => (await get('/readyz')).status === 200, ms);
      } catch (e) {
        throw new Error(`${(e as Error).message}; portico printed:\n${out.slice(-4000)}`);
      }
    },
    async stop(signal = 'SIGTERM') {
      if (!exited) proc.kill(signal);
      const t = setTimeout(() => proc.kill('SIGKILL'), 10_000);
      const code = await exit;
      clearTimeout(t);
      return code;
    },
  };
}

/** waitFor polls fn until it returns true. */
export async function waitFor(what: string, fn: () => boolean | Promise<boolean>, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}
