/**
 * `node bench/tls.ts`: TLS and HTTP/2 throughput, Portico (one worker) against Debian's nginx (one worker)
 * with the same certificate and the same `return 200`, side by side with ratios:
 *   - TLS handshakes/s: `openssl s_time -new` (a full handshake and one request per connection), N clients
 *   - HTTP/2 requests/s: h2load over TLS (ALPN h2), multiplexed streams
 *   - HTTP/1.1 over TLS requests/s: h2load --h1 (keep-alive), for reference
 * Options: --duration S (8)  --clients N (4, s_time processes)  --connections N (16)  --streams N (10)
 *          --repeat N (3: targets alternate N times, the best run counts, which filters out other load)
 * Needs openssl, nginx and h2load (apt-get install -y nginx-light nghttp2-client).
 * Ports from 27800 on loopback; the servers are stopped by pid.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { TestPki } from '../test/support/certs.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const { values: opt } = parseArgs({
  options: {
    duration: { type: 'string', default: '8' },
    clients: { type: 'string', default: '4' },
    connections: { type: 'string', default: '16' },
    streams: { type: 'string', default: '10' },
    repeat: { type: 'string', default: '3' },
  },
});

const run = (cmd: string, args: string[]) =>
  new Promise<string>((resolve, reject) =>
    execFile(cmd, args, { encoding: 'utf8', timeout: (Number(opt.duration) + 30) * 1000, maxBuffer: 1 << 24 }, (err, out, errOut) =>
      err ? reject(new Error(`${cmd}: ${errOut || err.message}`)) : resolve(out + errOut),
    ),
  );

async function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });
}

async function launch(cmd: string, args: string[], port: number): Promise<ChildProcess> {
  const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (b) => (err += b));
  const deadline = Date.now() + 15_000;
  while (!(await listening(port))) {
    if (child.exitCode !== null) throw new Error(`${cmd} exited: ${err}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${cmd} did not listen on ${port}: ${err}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return child;
}

function stop(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

interface Target {
  name: string;
  start(port: number, dir: string, cert: { certFile: string; keyFile: string }): Promise<ChildProcess>;
}

const server = (port: number, cert: { certFile: string; keyFile: string }, listenExtra: string, extra: string) => `
    server {
        listen 127.0.0.1:${port} ssl${listenExtra};
        ${extra}
        ssl_certificate ${cert.certFile};
        ssl_certificate_key ${cert.keyFile};
        ssl_session_tickets off;
        keepalive_requests 1000000;
        location / { return 200 "hello, world\\n"; }
    }`;

const TARGETS: Target[] = [
  {
    name: 'portico',
    start(port, dir, cert) {
      fs.mkdirSync(path.join(dir, 'logs'), { recursive: true });
      fs.writeFileSync(path.join(dir, 'nginx.conf'), `worker_processes 1; daemon off; pid logs/nginx.pid; error_log logs/error.log;
events { worker_connections 4096; }
http {${server(port, cert, '', 'http2 on;')}\n}\n`);
      return launch(path.join(ROOT, 'bin/portico-dataplane'), ['-p', `${dir}/`, '-c', 'nginx.conf'], port);
    },
  },
  {
    name: 'nginx',
    start(port, dir, cert) {
      for (const sub of ['logs', 'tmp']) fs.mkdirSync(path.join(dir, sub), { recursive: true });
      const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `${t}_temp_path tmp/${t};`).join(' ');
      // Debian's nginx 1.22 predates `http2 on`; `listen … http2` is the same switch there.
      fs.writeFileSync(path.join(dir, 'nginx.conf'), `worker_processes 1; daemon off; pid logs/nginx.pid; error_log logs/error.log;
events { worker_connections 4096; }
http { access_log off; ${temp} ${server(port, cert, ' http2', '')}\n}\n`);
      return launch('nginx', ['-p', `${dir}/`, '-c', 'nginx.conf', '-e', 'logs/error.log'], port);
    },
  },
];

async function handshakes(port: number): Promise<number> {
  const secs = opt.duration!;
  const outs = await Promise.all(
    Array.from({ length: Number(opt.clients) }, () => run('openssl', ['s_time', '-connect', `127.0.0.1:${port}`, '-new', '-time', secs, '-www', '/'])),
  );
  let total = 0;
  for (const out of outs) {
    const m = /(\d+) connections in ([\d.]+) real seconds/.exec(out);
    if (m) total += Number(m[1]) / Number(m[2]);
  }
  return total;
}

async function h2load(port: number, h1: boolean): Promise<number> {
  const args = ['-D', opt.duration!, '--warm-up-time', '1', '-c', opt.connections!, '-m', h1 ? '1' : opt.streams!, `https://127.0.0.1:${port}/`];
  const out = await run('h2load', h1 ? ['--h1', ...args] : args);
  const m = /finished in [\d.]+\w+, ([\d.]+) req\/s/.exec(out);
  const failed = /requests: .* (\d+) failed/.exec(out);
  if (failed && Number(failed[1]) > 0) console.error(`h2load: ${failed[1]} failed requests on port ${port}`);
  return m ? Number(m[1]) : NaN;
}

const SCENARIOS: { name: string; unit: string; measure: (port: number) => Promise<number> }[] = [
  { name: 'TLS handshakes (new connection per request)', unit: 'conn/s', measure: handshakes },
  { name: 'HTTP/2 over TLS, return 200', unit: 'req/s', measure: (p) => h2load(p, false) },
  { name: 'HTTP/1.1 over TLS keep-alive, return 200', unit: 'req/s', measure: (p) => h2load(p, true) },
];

const pki = new TestPki('Portico Bench CA');
const cert = pki.server(['127.0.0.1', 'bench.test'], 'ec');
const rows: string[][] = [];
let port = 27800;
try {
  console.log(`${opt.duration}s per run; s_time clients ${opt.clients}; h2load -c ${opt.connections} -m ${opt.streams}; ECDSA P-256 certificate; loopback\n`);
  for (const s of SCENARIOS) {
    const got = new Map<string, number>();
    for (let i = 0; i < Number(opt.repeat); i++) {
      for (const t of TARGETS) {
        const p = port++;
        const child = await t.start(p, path.join(ROOT, '.bench', `tls-${t.name}-${p}`), cert);
        try {
          const v = await s.measure(p);
          if (!(v <= (got.get(t.name) ?? 0))) got.set(t.name, v);
        } finally {
          await stop(child);
        }
      }
    }
    for (const t of TARGETS) rows.push([s.name, t.name, `${(got.get(t.name) ?? NaN).toFixed(0)} ${s.unit}`]);
    rows.push([s.name, 'portico/nginx', `${((got.get('portico') ?? NaN) / (got.get('nginx') ?? NaN)).toFixed(2)}x`]);
  }
} finally {
  pki.remove();
}
const widths = [0, 1, 2].map((i) => Math.max(...rows.map((r) => r[i]!.length)));
for (const r of rows) console.log(`${r[0]!.padEnd(widths[0]!)}  ${r[1]!.padEnd(widths[1]!)}  ${r[2]!.padStart(widths[2]!)}`);
