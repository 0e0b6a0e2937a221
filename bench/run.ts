/**
 * `npm run bench`: wrk against every scenario × target (Portico at 1 worker, Debian's nginx at 1 worker, a
 * bare node:http server), side by side, with requests/s, p99 latency and ratios. Options:
 *   --duration S (10)  --warmup S (2)  --connections N (64)  --threads N (1)  --only "scenario name"
 */
import { execFileSync, spawnSync } from 'node:child_process';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { SCENARIOS } from './scenarios.ts';
import { ROOT, TARGETS, ensure, stop } from './targets.ts';

const { values: opt } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '2' },
    connections: { type: 'string', default: '64' },
    threads: { type: 'string', default: '1' },
    only: { type: 'string' },
  },
});

interface Result {
  rps: number;
  p99ms: number;
  errors: number;
}

function wrk(url: string, seconds: string, extra: string[] = []): Result {
  const out = execFileSync('wrk', ['-t', opt.threads!, '-c', opt.connections!, '-d', `${seconds}s`, '--latency', ...extra, url], { encoding: 'utf8' });
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN);
  const p99 = /\s99%\s+([\d.]+)(us|ms|s)\b/.exec(out);
  const scale = { us: 0.001, ms: 1, s: 1000 } as const;
  const p99ms = p99 ? Number(p99[1]) * scale[p99[2] as keyof typeof scale] : NaN;
  const errs = /Non-2xx or 3xx responses:\s+(\d+)/.exec(out);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const errors = Number(errs?.[1] ?? 0) + (sock ? sock.slice(1).reduce((a, b) => a + Number(b), 0) : 0);
  return { rps, p99ms, errors };
}

ensure('wrk', 'wrk');
ensure('nginx', 'nginx-light');
console.log(`wrk -t${opt.threads} -c${opt.connections}, ${opt.warmup}s warm-up + ${opt.duration}s per run, loopback\n`);
const header = ['scenario', 'target', 'req/s', 'p99', 'errors'];
const rows: string[][] = [];
let port = 22900;
for (const s of SCENARIOS) {
  if (opt.only && s.name !== opt.only) continue;
  const results = new Map<string, Result>();
  for (const t of TARGETS) {
    if (t.name === 'node:http' && s.nodeBody === undefined) continue;
    const p = port++;
    const child = await t.start(s, p, path.join(ROOT, '.bench', `${t.name.replace(/\W/g, '-')}-${p}`));
    try {
      const url = `http://127.0.0.1:${p}${s.path}`;
      wrk(url, opt.warmup!, s.wrk);
      const r = wrk(url, opt.duration!, s.wrk);
      results.set(t.name, r);
      rows.push([s.name, t.name, r.rps.toFixed(0), `${r.p99ms.toFixed(2)} ms`, String(r.errors)]);
    } finally {
      await stop(child);
    }
  }
  const portico = results.get('portico');
  for (const base of ['nginx', 'node:http']) {
    const b = results.get(base);
    if (portico && b) rows.push([s.name, `portico/${base}`, `${(portico.rps / b.rps).toFixed(2)}x`, `${(portico.p99ms / b.p99ms).toFixed(2)}x`, '']);
  }
}
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
const line = (cells: string[]): string => cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
console.log(line(header));
for (const r of rows) console.log(line(r));
