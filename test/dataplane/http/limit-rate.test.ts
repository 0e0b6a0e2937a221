/**
 * limit_rate, limit_rate_after, $limit_rate and X-Accel-Limit-Rate against a real dataplane. The pace allows
 * limit_rate_after + rate × (seconds since the request started + 1) bytes (nginx's write filter), so a
 * 300 KiB response at 100k needs about 2 s. Timings are asserted as lower bounds with tolerance; upper bounds
 * only say "clearly not paced".
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Prefix, Running, startDataplane, waitFor, waitForFile, type Dataplane } from '../../support/dataplane.ts';
import { httpUpstream, type TestUpstream } from '../../support/upstreams.ts';

const PORT = 21100;
const H2 = 21101;
const KIB = 1024;
const BIG = Buffer.alloc(300 * KIB, 'a');
const SMALL = 'x'.repeat(3000);

interface Timed {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  ms: number;
  /** Milliseconds until `mark` bytes of the body had arrived. */
  markMs: number;
}

/** get fetches `p` on a fresh connection and times the whole body and its first `mark` bytes. */
function get(p: string, mark = 0, port = PORT): Promise<Timed> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const req = http.get({ host: '127.0.0.1', port, path: p, agent: false }, (res) => {
      const parts: Buffer[] = [];
      let got = 0;
      let markMs = -1;
      res.on('data', (d: Buffer) => {
        parts.push(d);
        got += d.length;
        if (markMs < 0 && got >= mark) markMs = performance.now() - t0;
      });
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(parts), ms: performance.now() - t0, markMs }));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

describe('limit_rate', () => {
  let dp: Dataplane;
  let up: TestUpstream;
  let upFinishedMs = -1;
  before(async () => {
    up = await httpUpstream('up', (req, res) => {
      const t0 = performance.now();
      res.on('finish', () => (upFinishedMs = performance.now() - t0));
      if (req.url === '/accel') {
        res.setHeader('X-Accel-Limit-Rate', '1024');
        return void res.end(SMALL);
      }
      if (req.url === '/accel-zero' || req.url === '/accel-off') {
        res.setHeader('X-Accel-Limit-Rate', req.url === '/accel-zero' ? '0' : 'off');
        return void res.end(SMALL);
      }
      res.setHeader('content-type', 'application/octet-stream');
      res.end(BIG);
    });
    dp = await startDataplane(
      `http {
      log_format lr '$uri $limit_rate $bytes_sent $request_time';
      server {
        listen 127.0.0.1:${PORT};
        access_log logs/lr.log lr;
        error_log error.log;
        root html;
        location = /fast { alias html/big; }
        location = /static { limit_rate 100k; alias html/big; }
        location = /after { limit_rate 64k; limit_rate_after 128k; alias html/big; }
        location = /return { limit_rate 1k; return 200 "${SMALL}"; }
        location = /set { set $limit_rate 1k; return 200 "${SMALL}"; }
        location = /set-read { set $limit_rate 4k; return 200 "lr=$limit_rate\\n"; }
        location = /set-bad { set $limit_rate abc; return 200 "lr=$limit_rate\\n"; }
        location = /var { limit_rate $arg_rate; return 200 "${SMALL}"; }
        location = /if { if ($arg_slow) { limit_rate 1k; } return 200 "${SMALL}"; }
        location = /proxy { limit_rate 100k; proxy_pass http://127.0.0.1:${up.port}/big; }
        location = /accel { proxy_pass http://127.0.0.1:${up.port}/accel; }
        location = /accel-ignored { proxy_ignore_headers X-Accel-Limit-Rate; proxy_pass http://127.0.0.1:${up.port}/accel; }
        location = /accel-zero { limit_rate 1k; proxy_pass http://127.0.0.1:${up.port}/accel-zero; }
        location = /accel-off { limit_rate 1k; proxy_pass http://127.0.0.1:${up.port}/accel-off; }
      }
      server {
        listen 127.0.0.1:${H2};
        http2 on;
        location = /h2 { limit_rate 100k; alias html/big; }
        location = /h2fast { alias html/big; }
      }
    }`,
      { 'html/big': BIG },
    );
  });
  after(async () => {
    await dp.stop();
    await up.close();
  });

  test('a 300 KiB static file at limit_rate 100k takes about 2 s, unthrottled it does not', async () => {
    const fast = await get('/fast');
    assert.equal(fast.body.length, BIG.length);
    assert.ok(fast.ms < 1000, `unthrottled took ${fast.ms} ms`);
    const slow = await get('/static');
    assert.equal(slow.status, 200);
    assert.ok(slow.body.equals(BIG));
    assert.ok(slow.ms >= 1700, `paced took only ${slow.ms} ms`);
  });

  test('the access log is written when the last byte went out, with the applied $limit_rate', async () => {
    await get('/static');
    const log = fs.readFileSync(path.join(dp.prefix, 'logs/lr.log'), 'utf8').trim().split('\n');
    const last = log.at(-1)!.split(' ');
    assert.equal(last[0], '/static');
    assert.equal(last[1], '102400');
    assert.ok(Number(last[2]) > BIG.length);
    assert.ok(Number(last[3]) >= 1.7, `request_time ${last[3]}`);
  });

  test('a return response is paced too', async () => {
    const r = await get('/return');
    assert.equal(r.body.toString(), SMALL);
    assert.ok(r.ms >= 1500, `took ${r.ms} ms`);
  });

  test('limit_rate_after lets the first bytes through at once and paces the rest', async () => {
    const r = await get('/after', 128 * KIB);
    assert.ok(r.body.equals(BIG));
    assert.ok(r.markMs < 700, `the first 128 KiB took ${r.markMs} ms`);
    assert.ok(r.ms >= 1300, `took only ${r.ms} ms`);
  });

  test('on a kept-alive connection each request is paced on its own bytes (limit_rate_after again)', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const ports: number[] = [];
      for (let i = 0; i < 2; i++) {
        const t0 = performance.now();
        const firstBytes = await new Promise<number>((resolve, reject) => {
          http.get({ host: '127.0.0.1', port: PORT, path: '/after', agent }, (res) => {
            ports.push(res.socket.localPort!);
            let got = 0;
            let at = -1;
            res.on('data', (d: Buffer) => {
              got += d.length;
              if (at < 0 && got >= 128 * KIB) at = performance.now() - t0;
            });
            res.on('end', () => resolve(at));
          }).on('error', reject);
        });
        assert.ok(firstBytes < 700, `request ${i + 1}: the first 128 KiB took ${firstBytes} ms`);
      }
      assert.equal(ports[0], ports[1], 'both requests used one connection');
    } finally {
      agent.destroy();
    }
  });

  test('set $limit_rate paces the request and $limit_rate reads it back', async () => {
    const r = await get('/set');
    assert.equal(r.body.toString(), SMALL);
    assert.ok(r.ms >= 1500, `took ${r.ms} ms`);
    assert.equal((await get('/set-read')).body.toString(), 'lr=4096\n');
  });

  test('an invalid set $limit_rate is logged and ignored', async () => {
    assert.equal((await get('/set-bad')).body.toString(), 'lr=0\n');
    await waitFor('the error line', () => dp.errorLog().includes('invalid $limit_rate "abc"'), 3000);
  });

  test('limit_rate takes variables; a value that is not a size means no limit', async () => {
    const slow = await get('/var?rate=1k');
    assert.ok(slow.ms >= 1500, `took ${slow.ms} ms`);
    const bad = await get('/var?rate=abc');
    assert.ok(bad.ms < 1000, `took ${bad.ms} ms`);
    const none = await get('/var');
    assert.ok(none.ms < 1000, `took ${none.ms} ms`);
  });

  test('limit_rate inside if in location applies when the condition holds', async () => {
    assert.ok((await get('/if')).ms < 1000);
    assert.ok((await get('/if?slow=1')).ms >= 1500);
  });

  test('a proxied response is paced while the buffered upstream finishes early', async () => {
    upFinishedMs = -1;
    const r = await get('/proxy');
    assert.ok(r.body.equals(BIG));
    assert.ok(r.ms >= 1700, `took only ${r.ms} ms`);
    assert.ok(upFinishedMs >= 0 && upFinishedMs < 1000, `the upstream finished after ${upFinishedMs} ms`);
  });

  test('X-Accel-Limit-Rate from the upstream sets the rate and is not passed on', async () => {
    const r = await get('/accel');
    assert.equal(r.body.toString(), SMALL);
    assert.equal(r.headers['x-accel-limit-rate'], undefined);
    assert.ok(r.ms >= 1500, `took ${r.ms} ms`);
  });

  test('proxy_ignore_headers X-Accel-Limit-Rate ignores it; 0 lifts the location limit, "off" is ignored', async () => {
    assert.ok((await get('/accel-ignored')).ms < 1000);
    assert.ok((await get('/accel-zero')).ms < 1000);
    // nginx 1.22 reads digits only: "off" leaves the location's limit_rate 1k in force.
    assert.ok((await get('/accel-off')).ms >= 1500);
  });

  test('an HTTP/2 stream is paced', async () => {
    const session = http2.connect(`http://127.0.0.1:${H2}`);
    try {
      const fetch = (p: string) =>
        new Promise<{ body: Buffer; ms: number }>((resolve, reject) => {
          const t0 = performance.now();
          const req = session.request({ ':path': p });
          const parts: Buffer[] = [];
          req.on('data', (d: Buffer) => parts.push(d));
          req.on('end', () => resolve({ body: Buffer.concat(parts), ms: performance.now() - t0 }));
          req.on('error', reject);
        });
      const fast = await fetch('/h2fast');
      assert.ok(fast.body.equals(BIG));
      assert.ok(fast.ms < 1000, `unthrottled took ${fast.ms} ms`);
      const [a, b] = await Promise.all([fetch('/h2'), fetch('/h2')]);
      assert.ok(a.body.equals(BIG) && b.body.equals(BIG));
      // Per request: two streams on one connection each get the rate, so both end after about 2 s.
      assert.ok(a.ms >= 1700 && b.ms >= 1700, `took ${a.ms} and ${b.ms} ms`);
      assert.ok(a.ms < 3500 && b.ms < 3500, `took ${a.ms} and ${b.ms} ms: streams were paced together`);
    } finally {
      session.close();
    }
  });
});

describe('limit_rate backpressure and cleanup', () => {
  test('with proxy_buffering off a paced response pauses the upstream instead of buffering it', async () => {
    const CHUNK = Buffer.alloc(64 * KIB, 'b');
    const TOTAL = 32 * 1024 * KIB;
    let written = 0;
    let upstreamClosed = false;
    const up = await httpUpstream('up', (_req, res) => {
      res.on('close', () => (upstreamClosed = true));
      const pump = (): void => {
        while (written < TOTAL && !res.destroyed) {
          written += CHUNK.length;
          if (!res.write(CHUNK)) return void res.once('drain', pump);
        }
        res.end();
      };
      pump();
    });
    const port = PORT + 2;
    const dp = await startDataplane(`http { server {
      listen 127.0.0.1:${port};
      location / { limit_rate 64k; proxy_buffering off; proxy_pass http://127.0.0.1:${up.port}; }
    } }`);
    try {
      let got = 0;
      const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
        http.get({ host: '127.0.0.1', port, path: '/', agent: false }, resolve).on('error', reject);
      });
      res.on('data', (d: Buffer) => (got += d.length));
      await new Promise((r) => setTimeout(r, 1500));
      // 64k/s for 1.5 s is about 160 KiB; kernel socket buffers on loopback hold a few MiB more at most.
      assert.ok(got < 400 * KIB, `the client got ${got} bytes`);
      assert.ok(written < 12 * 1024 * KIB, `the upstream could write ${written} of ${TOTAL} bytes`);
      const before = written;
      await new Promise((r) => setTimeout(r, 500));
      assert.ok(written - before < 2 * 1024 * KIB, `the upstream kept writing: ${written - before} more bytes`);
      res.destroy();
      await waitFor('the upstream response to be dropped', () => upstreamClosed, 5000);
    } finally {
      await dp.stop();
      await up.close();
    }
  });

  test('a client that leaves mid-pacing ends the request: the access log has it and QUIT exits at once', async () => {
    const port = PORT + 3;
    const p = new Prefix();
    p.write('html/big', BIG.toString('latin1'));
    p.conf(`daemon off; worker_processes 1; error_log logs/error.log info;
      events {}
      http { server {
        listen 127.0.0.1:${port};
        access_log logs/access.log;
        location / { limit_rate 10k; root html; }
      } }`);
    const dp = new Running(['-p', p.dir]);
    try {
      await waitForFile(p.path('logs/nginx.pid'));
      const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
        http.get({ host: '127.0.0.1', port, path: '/big', agent: false }, resolve).on('error', reject);
      });
      await new Promise<void>((resolve) => res.once('data', () => resolve()));
      await new Promise((r) => setTimeout(r, 300));
      res.destroy();
      await waitFor('the aborted request in the access log', () => p.exists('logs/access.log') && p.read('logs/access.log').includes('GET /big'), 5000);
      const t0 = performance.now();
      dp.signal('SIGQUIT');
      assert.equal(await dp.exited, 0);
      // The rest of the file at 10k would take about 30 s: nothing of that request may hold the worker.
      assert.ok(performance.now() - t0 < 3000, `QUIT took ${performance.now() - t0} ms`);
    } finally {
      await dp.stop();
      p.remove();
    }
  });
});

describe('limit_rate configuration errors', () => {
  for (const [d, want] of [
    ['limit_rate abc;', /"limit_rate" directive invalid value in .*nginx\.conf:2/],
    ['limit_rate -1;', /"limit_rate" directive invalid value/],
    ['limit_rate_after 1x;', /"limit_rate_after" directive invalid value/],
    ['limit_rate 1k; limit_rate 2k;', /"limit_rate" directive is duplicate/],
    ['limit_rate_after 1k 2k;', /invalid number of arguments in "limit_rate_after" directive/],
  ] as const) {
    test(`${d} is refused`, async () => {
      await assert.rejects(startDataplane(`events {}\nhttp { ${d} }`), want);
    });
  }
});
