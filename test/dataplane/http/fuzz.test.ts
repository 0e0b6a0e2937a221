import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { ChunkedDecoder } from '../../../dataplane/http/chunked.ts';
import { parseHead, type HeadLimits } from '../../../dataplane/http/parser.ts';
import { startDataplane, type Dataplane } from '../../support/dataplane.ts';
import { rawExchange, statuses } from '../../support/raw.ts';

/** A small seeded PRNG (mulberry32) so a failure can be replayed from the seed printed with it. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SEEDS = [
  'GET / HTTP/1.1\r\nHost: a.test\r\n\r\n',
  'POST /x?y=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello',
  'POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
  'GET http://a.test:80/p/../q HTTP/1.0\r\nConnection: keep-alive\r\n\r\n',
  'HEAD /%41%2f. HTTP/1.1\r\nHost: [::1]:80\r\nCookie: a=b; c=d\r\nExpect: 100-continue\r\n\r\n',
];
const ALPHABET = ['\r', '\n', ' ', ':', '/', '%', '.', '\0', '\t', 'Host', 'Content-Length: 9', 'Transfer-Encoding: chunked', '\r\n\r\n', 'ffffffff', '\xff', '0', 'HTTP/1.1'];

/** mutate applies a few random edits: byte flips, inserts of interesting tokens, deletions, duplications. */
function mutate(rand: () => number, s: string): string {
  const edits = 1 + Math.floor(rand() * 4);
  for (let e = 0; e < edits; e++) {
    const at = Math.floor(rand() * (s.length + 1));
    switch (Math.floor(rand() * 5)) {
      case 0:
        s = s.slice(0, at) + String.fromCharCode(Math.floor(rand() * 256)) + s.slice(at + 1);
        break;
      case 1:
        s = s.slice(0, at) + ALPHABET[Math.floor(rand() * ALPHABET.length)] + s.slice(at);
        break;
      case 2:
        s = s.slice(0, at) + s.slice(at + 1 + Math.floor(rand() * 8));
        break;
      case 3:
        s = s.slice(0, at) + s.slice(at, at + 20).repeat(1 + Math.floor(rand() * 50)) + s.slice(at);
        break;
      default: {
        let junk = '';
        for (let i = Math.floor(rand() * 64); i > 0; i--) junk += String.fromCharCode(Math.floor(rand() * 256));
        s = s.slice(0, at) + junk + s.slice(at);
      }
    }
  }
  return s;
}

function randomInput(rand: () => number): string {
  return rand() < 0.85 ? mutate(rand, SEEDS[Math.floor(rand() * SEEDS.length)]!) : mutate(rand, '');
}

const LIMITS: HeadLimits = { lineMax: 1024, headMax: 4096, mergeSlashes: true, underscoresInHeaders: false, ignoreInvalidHeaders: true };

describe('parser fuzzing', () => {
  test('parseHead never throws on random and mutated heads, and every answer is within its contract', () => {
    const rand = rng(20261122);
    const deadline = Date.now() + 5000;
    for (let i = 0; i < 30_000 && Date.now() < deadline; i++) {
      const input = Buffer.from(randomInput(rand), 'latin1');
      let res;
      try {
        res = parseHead(input, LIMITS);
      } catch (err) {
        assert.fail(`parseHead threw on ${JSON.stringify(input.toString('latin1'))}: ${(err as Error).stack}`);
      }
      if (res === undefined) assert.ok(input.length <= LIMITS.headMax, 'undefined (need more) only within the head limit');
      else if ('status' in res) assert.ok([400, 414, 494, 501, 505].includes(res.status), `status ${res.status}`);
      else {
        assert.ok(res.length <= input.length && res.length <= LIMITS.headMax);
        assert.ok(res.uri.startsWith('/') && !res.uri.split('/').includes('..'), `uri ${res.uri}`);
        assert.ok(!(res.chunked && res.contentLength >= 0), 'never both framings');
      }
    }
  });

  test('ChunkedDecoder never throws, never emits more than it is given, and splits do not change the result', () => {
    const rand = rng(7);
    const deadline = Date.now() + 5000;
    for (let i = 0; i < 20_000 && Date.now() < deadline; i++) {
      const input = Buffer.from(mutate(rand, '5;a=b\r\nhello\r\nA\r\n0123456789\r\n0\r\nX: y\r\n\r\nNEXT'), 'latin1');
      const whole = new ChunkedDecoder();
      let out = 0;
      const rc = whole.decode(input, (d) => (out += d.length));
      assert.ok(out <= input.length);
      assert.ok(rc === -1 || (rc >= 0 && rc <= input.length));
      // The same bytes fed one at a time must give the same verdict.
      const split = new ChunkedDecoder();
      let out2 = 0;
      let failed = false;
      for (let k = 0; k < input.length && !split.done; k++) {
        if (split.decode(input.subarray(k, k + 1), (d) => (out2 += d.length)) < 0) {
          failed = true;
          break;
        }
      }
      assert.equal(failed, rc === -1, JSON.stringify(input.toString('latin1')));
      if (!failed) assert.equal(out2, out);
    }
  });
});

const PORT = 28010;

describe('socket-level fuzzing', () => {
  let dp: Dataplane;
  before(async () => {
    dp = await startDataplane(`http { client_header_timeout 1s; client_body_timeout 1s; server { listen 127.0.0.1:${PORT}; location / { return 200 ok; } location /echo { echo_body; } } }`);
  });
  after(() => dp.stop());

  test('random and mutated requests never crash or wedge the dataplane, and its memory stays bounded', async () => {
    const rand = rng(99);
    const deadline = Date.now() + 8000;
    let n = 0;
    const batch = async () => {
      const inputs = Array.from({ length: 16 }, () => randomInput(rand).replace(/\/echo/, rand() < 0.5 ? '/echo' : '/'));
      const results = await Promise.all(inputs.map((s) => rawExchange(PORT, Buffer.from(s, 'latin1'), { waitMs: 1500 })));
      for (const r of results) for (const s of statuses(r.data)) assert.ok(s >= 100 && s < 600);
      n += inputs.length;
    };
    while (n < 400 && Date.now() < deadline) await batch();
    assert.ok(dp.proc.exitCode === null, 'the dataplane is still running');
    const ok = await rawExchange(PORT, 'GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
    assert.deepEqual(statuses(ok.data), [200]);
    const rss = Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${dp.proc.pid}/status`, 'utf8'))![1]) * 1024;
    assert.ok(rss < 300 * 1024 * 1024, `rss ${rss}`);
  });
});
