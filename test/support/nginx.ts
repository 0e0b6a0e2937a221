/**
 * A reference nginx (Debian's nginx-light) run with the same configuration as a Portico dataplane, so tests
 * can compare outputs byte for byte. Tests skip when no nginx binary is installed.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { makePrefix } from './dataplane.ts';

/** NGINX is the reference binary, or undefined when it is not installed. */
export const NGINX = ['/usr/sbin/nginx', '/usr/local/sbin/nginx'].find((p) => fs.existsSync(p));

export interface ReferenceNginx {
  prefix: string;
  proc: ChildProcess;
  stop(): Promise<void>;
}

/** startNginx runs `conf` (http-level text; events and process settings are added) in the foreground. */
export async function startNginx(conf: string, files: Record<string, string> = {}): Promise<ReferenceNginx> {
  const prefix = makePrefix(files);
  const text = `daemon off;\nmaster_process off;\nerror_log ${path.join(prefix, 'nginx-error.log')} info;\npid ${path.join(prefix, 'nginx.pid')};\nevents {}\n${conf}`;
  fs.writeFileSync(path.join(prefix, 'nginx.conf'), text);
  const check = spawnSync(NGINX!, ['-t', '-p', prefix, '-c', path.join(prefix, 'nginx.conf')], { encoding: 'utf8' });
  if (check.status !== 0) throw new Error(`reference nginx rejected the config: ${check.stderr}`);
  const proc = spawn(NGINX!, ['-p', prefix, '-c', path.join(prefix, 'nginx.conf')], { stdio: 'ignore' });
  const pidFile = path.join(prefix, 'nginx.pid');
  for (let i = 0; i < 100 && !fs.existsSync(pidFile); i++) await new Promise((r) => setTimeout(r, 50));
  return {
    prefix,
    proc,
    stop: () =>
      new Promise<void>((resolve) => {
        if (proc.exitCode !== null || proc.signalCode !== null) return resolve();
        proc.once('exit', () => resolve());
        proc.kill('SIGTERM');
      }),
  };
}
