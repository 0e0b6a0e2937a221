/**
 * Starting and stopping the servers under test, each in its own prefix under .bench/ on loopback: Portico
 * (bin/portico-dataplane, daemon off), Debian's nginx (daemon off, stopped by its pid) and a node:http baseline.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { Scenario } from './scenarios.ts';

/** ensure installs a Debian package when its binary is missing (the benches need wrk and nginx). */
export function ensure(bin: string, pkg: string): void {
  if (spawnSync('sh', ['-c', `command -v ${bin}`]).status === 0) return;
  console.error(`bench: installing ${pkg}`);
  execFileSync('apt-get', ['install', '-y', '-qq', pkg], { stdio: 'inherit' });
}

export const ROOT = path.resolve(import.meta.dirname, '..');
const NODE = path.join(ROOT, 'node_modules/.bin/node');

/** Target is one server kind the bench compares. */
export interface Target {
  name: string;
  /** start launches the server for `s` on `port`; resolves once it accepts connections. */
  start(s: Scenario, port: number, dir: string): Promise<ChildProcess>;
}

function confText(s: Scenario, port: number, server: string, workers: number, extraHttp = ''): string {
  return `worker_processes ${workers};
daemon off;
pid logs/nginx.pid;
error_log logs/error.log;
events { worker_connections 4096; }
http {
    ${extraHttp}
    ${(s.http ?? '').replaceAll('127.0.0.1:PORT', `127.0.0.1:${port}`)}
    server {
        listen 127.0.0.1:${port};
        ${server}
    }
}
`;
}

function prepare(dir: string, conf: string, files: Record<string, string | Buffer> = {}): void {
  fs.rmSync(dir, { recursive: true, force: true });
  for (const sub of ['conf', 'logs', 'tmp']) fs.mkdirSync(path.join(dir, sub), { recursive: true });
  fs.writeFileSync(path.join(dir, 'conf/nginx.conf'), conf);
  for (const [name, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    fs.writeFileSync(path.join(dir, name), content);
  }
}

/** NGINX_TEMP points nginx's temp paths into the prefix (Debian's defaults live under /var/lib/nginx). */
const NGINX_TEMP = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `${t}_temp_path tmp/${t};`).join(' ');

export const TARGETS: Target[] = [
  {
    name: 'portico',
    async start(s, port, dir) {
      // Same logging as nginx below: the access log is a scenario of its own, not a hidden cost here.
      prepare(dir, confText(s, port, s.server, 1, 'access_log off;'), s.files);
      return launch(path.join(ROOT, 'bin/portico-dataplane'), ['-p', dir], port);
    },
  },
  {
    name: 'nginx',
    async start(s, port, dir) {
      prepare(dir, confText(s, port, s.nginx ?? s.server, 1, `access_log off; ${NGINX_TEMP}`), s.files);
      return launch('nginx', ['-p', `${dir}/`, '-c', 'conf/nginx.conf', '-e', 'logs/error.log'], port);
    },
  },
  {
    name: 'node:http',
    async start(s, port) {
      if (s.nodeBody === undefined) throw new Error('no node:http baseline for this scenario');
      return launch(NODE, [path.join(ROOT, 'bench/node-server.ts'), String(port), String(s.nodeBody)], port);
    },
  },
];

async function launch(cmd: string, args: string[], port: number): Promise<ChildProcess> {
  const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (b) => (err += b));
  const deadline = Date.now() + 15_000;
  while (!(await connects(port))) {
    if (child.exitCode !== null) throw new Error(`${cmd} exited: ${err}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${cmd} did not listen on ${port}: ${err}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return child;
}

function connects(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1' });
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });
}

/** stop ends a server we started (QUIT lets nginx and Portico exit cleanly), by its pid only. */
export async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await gone;
  clearTimeout(timer);
}
