import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { request } from 'undici';
import { startDataplane, type Dataplane } from '../../support/dataplane.ts';
import { freePort, httpUpstream, type TestUpstream } from '../../support/upstreams.ts';

const PORT = 26101;

async function get(path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  const res = await request(`http://127.0.0.1:${PORT}${path}`, { headers });
  return { status: res.statusCode, body: await res.body.text() };
}

describe('upstream balancers', () => {
  let dp: Dataplane;
  let ups: TestUpstream[] = [];
  let dead: number;
  before(async () => {
    ups = await Promise.all(['a', 'b', 'c'].map((n) => httpUpstream(n)));
    const [a, b, c] = ups.map((u) => u.port);
    dead = await freePort();
    dp = await startDataplane(`http {
      upstream rr { server 127.0.0.1:${a} weight=5; server 127.0.0.1:${b}; server 127.0.0.1:${c}; }
      upstream iph { ip_hash; server 127.0.0.1:${a}; server 127.0.0.1:${b}; server 127.0.0.1:${c}; }
      upstream hk { hash $arg_k consistent; server 127.0.0.1:${a}; server 127.0.0.1:${b}; server 127.0.0.1:${c}; }
      upstream failing { server 127.0.0.1:${dead} max_fails=1 fail_timeout=30s; server 127.0.0.1:${a}; }
      upstream backed { server 127.0.0.1:${dead}; server 127.0.0.1:${c} backup; }
      upstream alldead { server 127.0.0.1:${dead}; server 127.0.0.1:${dead + 1 > 65535 ? dead - 1 : dead + 1}; }
      upstream rnd { random two least_conn; server 127.0.0.1:${a}; server 127.0.0.1:${b}; }
      upstream st { sticky cookie route path=/ expires=1h samesite=lax; server 127.0.0.1:${a}; server 127.0.0.1:${b}; server 127.0.0.1:${c}; }
      upstream ew { ewma; server 127.0.0.1:${a}; server 127.0.0.1:${b}; server 127.0.0.1:${c}; }
      server { listen 127.0.0.1:${PORT};
        location /rr { proxy_pass http://rr; }
        location /iph { proxy_pass http://iph; }
        location /hk { proxy_pass http://hk; }
        location /failing { proxy_pass http://failing; }
        location /backed { proxy_pass http://backed; }
        location /alldead { proxy_pass http://alldead; }
        location /rnd { proxy_pass http://rnd; }
        location /ew { proxy_pass http://ew; }
        location /st { proxy_pass http://st; }
      } }`);
  });
  after(async () => {
    await dp.stop();
    await Promise.all(ups.map((u) => u.close()));
  });

  test('weights 5:1:1 give nginx smooth round robin interleaving a a b a c a a', async () => {
    let seq = '';
    for (let i = 0; i < 14; i++) seq += (await get('/rr')).body;
    assert.equal(seq, 'aabacaa'.repeat(2));
  });

  test('ip_hash sends one client address to one peer', async () => {
    const seen = new Set<string>();
    for (let i = 0; i < 8; i++) seen.add((await get('/iph')).body);
    assert.equal(seen.size, 1);
  });

  test('hash consistent sends one key to one peer and spreads keys over peers', async () => {
    const byKey = new Map<string, Set<string>>();
    for (let k = 0; k < 30; k++) {
      for (let i = 0; i < 2; i++) {
        const s = byKey.get(String(k)) ?? new Set();
        s.add((await get(`/hk?k=${k}`)).body);
        byKey.set(String(k), s);
      }
    }
    for (const s of byKey.values()) assert.equal(s.size, 1);
    const owners = new Set([...byKey.values()].map((s) => [...s][0]));
    assert.ok(owners.size >= 2, `keys spread over ${owners.size} peers`);
  });

  test('a refused peer is retried on the next one and then skipped for fail_timeout', async () => {
    for (let i = 0; i < 6; i++) assert.deepEqual(await get('/failing'), { status: 200, body: 'a' });
    const refused = dp.errorLog().split('\n').filter((l) => l.includes(`connect() failed (111: Connection refused) while connecting to upstream`) && l.includes(`:${dead}/failing`));
    assert.equal(refused.length, 1, 'the dead peer was tried once within fail_timeout');
    assert.match(dp.errorLog(), /\[warn\].*upstream server temporarily disabled/);
  });

  test('backup peers serve only when the primary ones are down', async () => {
    assert.deepEqual(await get('/backed'), { status: 200, body: 'c' });
  });

  test('when every peer is down the answer is 502 and the error log says so', async () => {
    assert.equal((await get('/alldead')).status, 502);
    assert.equal((await get('/alldead')).status, 502);
    assert.match(dp.errorLog(), /no live upstreams while connecting to upstream, client: 127\.0\.0\.1, server: , request: "GET \/alldead HTTP\/1\.1"/);
  });

  test('random two and ewma use every live peer', async () => {
    const r = new Set<string>();
    const e = new Set<string>();
    for (let i = 0; i < 40; i++) {
      r.add((await get('/rnd')).body);
      e.add((await get('/ew')).body);
    }
    assert.deepEqual([...r].sort(), ['a', 'b']);
    assert.ok(e.size >= 2, `ewma used ${[...e]}`);
  });

  test('sticky cookie pins a client to the peer it was first given', async () => {
    const first = await request(`http://127.0.0.1:${PORT}/st`);
    const name = await first.body.text();
    const cookie = String(first.headers['set-cookie']);
    assert.match(cookie, /^route=[0-9a-z]+; Path=\/; Max-Age=3600; SameSite=Lax$/);
    const pair = cookie.split(';')[0]!;
    for (let i = 0; i < 6; i++) {
      const res = await request(`http://127.0.0.1:${PORT}/st`, { headers: { cookie: pair } });
      assert.equal(await res.body.text(), name);
      assert.equal(res.headers['set-cookie'], undefined);
    }
    const other = await request(`http://127.0.0.1:${PORT}/st`, { headers: { cookie: 'route=unknown' } });
    await other.body.dump();
    assert.ok(other.headers['set-cookie'], 'an unknown id gets a new cookie');
  });
});
