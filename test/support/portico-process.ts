/**
 * startPortico runs bin/portico-dataplane (master plus one worker thread) on a configuration in a fresh prefix,
 * resolves once every `listen 127.0.0.1:PORT` of the configuration accepts connections, and stops it by pid.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitForPort } from './mail-servers.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BIN = path.join(ROOT, 'bin/portico-dataplane');

/** Portico is a running dataplane process. */
export interface Portico {
  prefix: string;
  pid: number;
  /** readLog returns the error log written so far (`error_log %PREFIX%/error.log …`). */
  readLog(): string;
  /** reload rewrites nginx.conf (same `%PREFIX%` and additions) and sends SIGHUP to the master. */
  reload(conf: string): void;
  stop(): Promise<void>;
}

/**
 * startPortico serves `conf` (nginx.conf text; `%PREFIX%` is the prefix folder); `setup` may write files
 * (certificates) into the prefix first. `daemon off`, one worker and a pid file in the prefix are added.
 */
export async function startPortico(conf: string, setup?: (prefix: string) => void): Promise<Portico> {
  const prefix = fs.mkdtempSync(path.join(os.tmpdir(), 'portico-mail-'));
  setup?.(prefix);
  const render = (c: string) => `daemon off;\nworker_processes 1;\npid ${prefix}/nginx.pid;\n${c.replaceAll('%PREFIX%', prefix)}`;
  const text = render(conf);
  fs.writeFileSync(path.join(prefix, 'nginx.conf'), text);
  const proc = spawn(BIN, ['-p', prefix, '-c', path.join(prefix, 'nginx.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr!.on('data', (d) => (stderr += d));
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const ports = [...text.matchAll(/listen\s+127\.0\.0\.1:(\d+)/g)].map((m) => Number(m[1]));
  const failed = exited.then(() => {
    throw new Error(`portico-dataplane exited: ${stderr}`);
  });
  try {
    // Generous: several test files start dataplanes, dovecot and aiosmtpd at once on a busy machine.
    await Promise.race([Promise.all(ports.map((p) => waitForPort(p, 30_000))), failed]);
  } catch (err) {
    proc.kill('SIGKILL'); // never leave a dataplane behind a failed start
    throw err;
  }
  const errorLog = path.join(prefix, 'error.log');
  return {
    prefix,
    pid: proc.pid!,
    readLog: () => (fs.existsSync(errorLog) ? fs.readFileSync(errorLog, 'utf8') : ''),
    reload(next) {
      fs.writeFileSync(path.join(prefix, 'nginx.conf'), render(next));
      proc.kill('SIGHUP');
    },
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const kill = setTimeout(() => proc.kill('SIGKILL'), 5000);
      proc.kill('SIGTERM');
      await exited;
      clearTimeout(kill);
    },
  };
}
