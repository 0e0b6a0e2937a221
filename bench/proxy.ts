/**
 * `npm run bench:proxy`: wrk through four reverse proxies to one origin (nginx serving a small body and a
 * 64 KiB body), 1 worker each, keep-alive to the origin:
 *   portico (1 worker), Debian's nginx (worker_processes 1), http-proxy (npm) and an undici Pool proxy.
 * Prints req/s, p99 and ratios against nginx and the best Node.js proxy.
 * Targets run side by side and are measured in interleaved rounds (median of --rounds), so load from other
 * processes on the machine hits them alike.
 *   node bench/proxy.ts [--duration S (5)] [--warmup S (2)] [--rounds N (4)] [--connections 50,200] [--only small|64k]
 *     [--targets portico,nginx,http-proxy,undici]
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ensure } from './targets.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const NODE = path.join(ROOT, 'node_modules/.bin/node');
const WORK = path.join(ROOT, '.bench', 'proxy');
const ORIGIN = 26950;
const BASE = 26960;

const { values: opt } = parseArgs({
  options: {
    duration: { type: 'string', default: '5' },
    rounds: { type: 'string', default: '4' },
    warmup: { type: 'string', default: '2' },
    connections: { type: 'string', default: '50,200' },
    only: { type: 'string' },
    targets: { type: 'string', default: 'portico,nginx,http-proxy,undici' },
  },
});

function nginxConf(prefix: string, port: number, body: string): string {
  fs.mkdirSync(path.join(prefix, 'logs'), { recursive: true });
  return `worker_processes 1; daemon off; master_process off; pid ${prefix}/nginx.pid; error_log ${prefix}/logs/error.log error;
events { worker_connections 4096; }
http { access_log off; client_body_temp_path ${prefix}/t1; proxy_temp_path ${prefix}/t2; fastcgi_temp_path ${prefix}/t3; uwsgi_temp_path ${prefix}/t4; scgi_temp_path ${prefix}/t5;
  ${body.replace(/PORT/g, String(port))} }`;
}

const PROXY_HTTP = `upstream origin { server 127.0.0.1:${ORIGIN}; keepalive 256; }
  server { listen 127.0.0.1:PORT; location / { proxy_pass http://origin; proxy_http_version 1.1; proxy_set_header Connection ""; } }`;

/** assertFree fails early when something already listens on a port the bench is about to use: it would answer in a target's place. */
async function assertFree(port: number): Promise<void> {
  const inUse = await new Promise<boolean>((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });
  if (inUse) throw new Error(`port ${port} is already in use; stop what listens there and run again`);
}

async function waitPort(port: number, child: ChildProcess): Promise<void> {
  const until = Date.now() + 10_000;
  while (Date.now() < until) {
    if (child.exitCode !== null) throw new Error(`target exited with ${child.exitCode}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => (s.destroy(), resolve(true)));
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`port ${port} did not open`);
}

function startNginx(name: string, port: number, body: string): ChildProcess {
  const prefix = path.join(WORK, name);
  fs.mkdirSync(prefix, { recursive: true });
  fs.writeFileSync(path.join(prefix, 'nginx.conf'), nginxConf(prefix, port, body));
  fs.writeFileSync(path.join(prefix, '64k'), Buffer.alloc(65536, 'x'));
  return spawn('nginx', ['-p', prefix, '-c', path.join(prefix, 'nginx.conf')], { stdio: 'ignore' });
}

const NODE_PROXIES: Record<string, string> = {
  'http-proxy': `
import http from 'node:http';
import httpProxy from 'http-proxy';
const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
const proxy = httpProxy.createProxyServer({ target: 'http://127.0.0.1:${ORIGIN}', agent });
proxy.on('error', (_e, _req, res) => { res.writeHead?.(502); res.end(); });
http.createServer((req, res) => proxy.web(req, res)).listen(Number(process.argv[2]), '127.0.0.1');`,
  undici: `
import http from 'node:http';
import { Pool } from 'undici';
const pool = new Pool('http://127.0.0.1:${ORIGIN}', { connections: 256, pipelining: 1 });
const HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'te', 'upgrade', 'proxy-connection', 'trailer']);
http.createServer((req, res) => {
  const headers = {};
  for (const [k, v] of Object.entries(req.headers)) if (!HOP.has(k)) headers[k] = v;
  pool.request({ path: req.url, method: req.method, headers, body: req.method === 'GET' || req.method === 'HEAD' ? null : req }, (err, data) => {
    if (err) { res.writeHead(502); res.end(); return; }
    const out = {};
    for (const [k, v] of Object.entries(data.headers)) if (!HOP.has(k)) out[k] = v;
    res.writeHead(data.statusCode, out);
    data.body.pipe(res);
  });
}).listen(Number(process.argv[2]), '127.0.0.1');`,
};

function startTarget(name: string, port: number): ChildProcess {
  if (name === 'nginx') return startNginx(`nginx-${port}`, port, PROXY_HTTP);
  if (name === 'portico') {
    // The real binary: master thread plus one worker thread, as deployed.
    const prefix = path.join(WORK, `portico-${port}`);
    fs.mkdirSync(path.join(prefix, 'conf'), { recursive: true });
    fs.mkdirSync(path.join(prefix, 'logs'), { recursive: true });
    fs.writeFileSync(path.join(prefix, 'conf/nginx.conf'), `worker_processes 1; daemon off; pid logs/nginx.pid; error_log logs/error.log;
events { worker_connections 4096; }
http { access_log off; ${PROXY_HTTP.replace(/PORT/g, String(port))} }\n`);
    return spawn(path.join(ROOT, 'bin/portico-dataplane'), ['-p', prefix], { stdio: 'ignore' });
  }
  const file = path.join(WORK, `${name}.mjs`);
  fs.writeFileSync(file, NODE_PROXIES[name]!);
  return spawn(NODE, [file, String(port)], { stdio: 'ignore', cwd: ROOT, env: { ...process.env, NODE_PATH: path.join(ROOT, 'node_modules') } });
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const done = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await Promise.race([done, new Promise((r) => setTimeout(r, 3000))]);
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}

interface Result {
  rps: number;
  p99ms: number;
  errors: number;
}

/** cpuTicks sums the user and system CPU time of processes, in clock ticks (/proc/<pid>/stat fields 14 and 15). */
function cpuTicks(pids: number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    try {
      const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // exited: counts as idle
    }
  }
  return ticks;
}

/**
 * settle waits (at most 10 s) until the origin and every proxy are idle: a Node proxy left with a queue by a
 * 200-connection run keeps working after wrk stops, and would take CPU from whichever target runs next.
 */
async function settle(pids: number[]): Promise<void> {
  const until = Date.now() + 10_000;
  let last = cpuTicks(pids);
  while (Date.now() < until) {
    await new Promise((r) => setTimeout(r, 250));
    const now = cpuTicks(pids);
    if (now - last <= 1) return;
    last = now;
  }
}

function wrk(url: string, conns: number, seconds: string): Result {
  const out = execFileSync('wrk', ['-t', '2', '-c', String(conns), '-d', `${seconds}s`, '--latency', url], { encoding: 'utf8' });
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN);
  const p99 = /\s99%\s+([\d.]+)(us|ms|s)\b/.exec(out);
  const scale = { us: 0.001, ms: 1, s: 1000 } as const;
  const p99ms = p99 ? Number(p99[1]) * scale[p99[2] as keyof typeof scale] : NaN;
  const errs = /Non-2xx or 3xx responses:\s+(\d+)/.exec(out);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  return { rps, p99ms, errors: Number(errs?.[1] ?? 0) + (sock ? sock.slice(1).reduce((a, b) => a + Number(b), 0) : 0) };
}

ensure('wrk', 'wrk');
ensure('nginx', 'nginx-light');
const targets = opt.targets!.split(',').filter((t) => ['portico', 'nginx', 'http-proxy', 'undici'].includes(t));
for (const port of [ORIGIN, ...targets.map((_, i) => BASE + i)]) await assertFree(port);
fs.rmSync(WORK, { recursive: true, force: true });
fs.mkdirSync(WORK, { recursive: true });
const origin = startNginx('origin', ORIGIN, `server { listen 127.0.0.1:PORT; keepalive_requests 100000;
    location = /small { return 200 "hello from origin\\n"; }
    location = /64k { root ${WORK}/origin; } }`);
if (!targets.includes('portico') || !targets.includes('nginx')) throw new Error('--targets must include portico and nginx');
const scenarios = [
  { name: 'small', path: '/small' },
  { name: '64k', path: '/64k' },
].filter((s) => !opt.only || s.name === opt.only);
const conns = opt.connections!.split(',').map(Number);
const rows: string[][] = [];
try {
  await waitPort(ORIGIN, origin);
  console.log(`wrk -t2, ${opt.warmup}s warm-up, median of ${opt.rounds} interleaved ${opt.duration}s runs (order rotating per round, each after every server is idle), loopback; origin: nginx (1 worker)\n`);
  const median = (xs: number[]): number => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const children = new Map<string, { child: ChildProcess; port: number }>();
  targets.forEach((t, i) => children.set(t, { child: startTarget(t, BASE + i), port: BASE + i }));
  try {
    for (const { child, port } of children.values()) await waitPort(port, child);
    const pids = [origin.pid!, ...[...children.values()].map(({ child }) => child.pid!)];
    for (const s of scenarios) {
      for (const c of conns) {
        const runs = new Map<string, Result[]>(targets.map((t) => [t, []]));
        for (const { port } of children.values()) wrk(`http://127.0.0.1:${port}${s.path}`, c, opt.warmup!);
        for (let round = 0; round < Number(opt.rounds); round++) {
          // The order rotates each round: a run is slower right after a target that left the origin and the
          // kernel busy (the Node proxies at 200 connections), so no target always follows the same one.
          for (let k = 0; k < targets.length; k++) {
            const t = targets[(round + k) % targets.length]!;
            await settle(pids);
            runs.get(t)!.push(wrk(`http://127.0.0.1:${children.get(t)!.port}${s.path}`, c, opt.duration!));
          }
        }
        const res = new Map<string, Result>();
        for (const t of targets) {
          const rs = runs.get(t)!;
          const r = { rps: median(rs.map((x) => x.rps)), p99ms: median(rs.map((x) => x.p99ms)), errors: rs.reduce((n, x) => n + x.errors, 0) };
          res.set(t, r);
          rows.push([`${s.name} c=${c}`, t, r.rps.toFixed(0), `${r.p99ms.toFixed(2)} ms`, String(r.errors)]);
        }
        const portico = res.get('portico')!;
        const nginx = res.get('nginx')!;
        const bestNode = ['http-proxy', 'undici'].filter((n) => res.has(n)).map((n) => [n, res.get(n)!] as const).sort((a, b) => b[1].rps - a[1].rps)[0];
        rows.push([`${s.name} c=${c}`, 'portico/nginx', `${(portico.rps / nginx.rps).toFixed(2)}x`, `${(portico.p99ms / nginx.p99ms).toFixed(2)}x`, '']);
        if (bestNode) rows.push([`${s.name} c=${c}`, `portico/${bestNode[0]}`, `${(portico.rps / bestNode[1].rps).toFixed(2)}x`, `${(portico.p99ms / bestNode[1].p99ms).toFixed(2)}x`, '']);
      }
    }
  } finally {
    for (const { child } of children.values()) await stop(child);
  }
} finally {
  await stop(origin);
}
const header = ['scenario', 'target', 'req/s', 'p99', 'errors'];
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
const line = (cells: string[]): string => cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
console.log(line(header));
for (const r of rows) console.log(line(r));
