import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { startDataplane, type Dataplane } from '../../support/dataplane.ts';
import { httpUpstream, type TestUpstream } from '../../support/upstreams.ts';

const PORT = 26301;
const SIZE = 1024 * 1024;
const READERS = 500;
/**
 * The bounds asserted while 500 readers each owe the dataplane 1 MiB (500 MiB in total): what the readers add to
 * RSS, and RSS itself. Quiet runs peak at 190-200 MiB with 30-80 MiB added; the margin is for a loaded machine,
 * where garbage is collected later (one run with three other test files in parallel peaked at 257 MiB).
 */
const GROWTH_BOUND_MIB = 160;
const RSS_BOUND_MIB = 320;

function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m![1]) / 1024;
}

/** slowReaders opens `n` connections that request `path` and read nothing until released. */
async function slowReaders(path: string, n: number): Promise<{ sockets: net.Socket[]; release(): Promise<number[]> }> {
  const sockets: net.Socket[] = [];
  for (let i = 0; i < n; i++) {
    const s = net.connect(PORT, '127.0.0.1');
    s.pause();
    s.write(`GET ${path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n`);
    sockets.push(s);
  }
  await Promise.all(sockets.map((s) => new Promise((r) => (s.connecting ? s.once('connect', r) : r(null)))));
  return {
    sockets,
    release: () =>
      Promise.all(
        sockets.map(
          (s) =>
            new Promise<number>((resolve) => {
              let got = 0;
              s.on('data', (d: Buffer) => (got += d.length));
              s.on('close', () => resolve(got));
              s.on('error', () => {});
              s.resume();
            }),
        ),
      ),
  };
}

describe('memory under slow readers', { timeout: 120_000 }, () => {
  let dp: Dataplane;
  let up: TestUpstream;
  const payload = Buffer.alloc(SIZE, 'z');
  before(async () => {
    up = await httpUpstream('big', (_req, res) => {
      res.setHeader('content-length', SIZE);
      res.end(payload);
    });
    dp = await startDataplane(`worker_processes 1; http {
      upstream big { server 127.0.0.1:${up.port}; keepalive 32; }
      server { listen 127.0.0.1:${PORT};
        location /off { proxy_pass http://big; proxy_buffering off; proxy_http_version 1.1; proxy_set_header Connection ""; }
        location /on { proxy_pass http://big; proxy_buffering on; proxy_http_version 1.1; proxy_set_header Connection ""; }
      } }`);
  });
  after(async () => {
    await dp.stop();
    await up.close();
  });

  for (const mode of ['off', 'on']) {
    test(`with proxy_buffering ${mode}, 500 slow readers of 1 MiB add under ${GROWTH_BOUND_MIB} MiB to RSS`, async () => {
      const start = rssMiB(dp.proc.pid!);
      const servedBefore = up.seen.length;
      const r = await slowReaders(`/${mode}`, READERS);
      // Let the upstream push as much as it can (with buffering on, everything: it is released early).
      let peak = 0;
      const until = Date.now() + 4000;
      while (Date.now() < until) {
        await new Promise((res) => setTimeout(res, 250));
        peak = Math.max(peak, rssMiB(dp.proc.pid!));
        if (mode === 'on' && up.seen.length - servedBefore >= READERS) break;
      }
      if (mode === 'on') assert.equal(up.seen.length - servedBefore, READERS, 'buffering on reads every upstream response while clients stall');
      const got = await r.release();
      peak = Math.max(peak, rssMiB(dp.proc.pid!));
      process.stdout.write(`# buffering ${mode}: RSS ${start.toFixed(0)} MiB at start, peak ${peak.toFixed(0)} MiB\n`);
      for (const n of got) assert.ok(n > SIZE, `a reader got the whole body (${n} bytes)`);
      assert.ok(peak - start < GROWTH_BOUND_MIB, `RSS grew by ${(peak - start).toFixed(0)} MiB (from ${start.toFixed(0)} to ${peak.toFixed(0)})`);
      assert.ok(peak < RSS_BOUND_MIB, `peak RSS ${peak.toFixed(0)} MiB`);
    });
  }
});
