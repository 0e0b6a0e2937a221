import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { request } from 'undici';
import { SharedTable, tableKey } from '../../../dataplane/http/modules/shared-table.ts';
import { startDataplane, type Dataplane } from '../../support/dataplane.ts';
import { waitForLine, waitForMatches } from '../../support/wait.ts';

const PORT = 29040;
const HERE = path.dirname(fileURLToPath(import.meta.url));

async function status(url: string, headers: Record<string, string> = {}): Promise<number> {
  const res = await request(url, { headers });
  await res.body.dump();
  return res.statusCode;
}

const count = (xs: number[], v: number) => xs.filter((x) => x === v).length;

describe('limit_req', () => {
  let dp: Dataplane;
  before(async () => {
    dp = await startDataplane(`http {
      limit_req_zone $binary_remote_addr zone=perip:1m rate=1r/m;
      limit_req_zone $http_x_key zone=bykey:64k rate=10r/s;
      log_format st '$uri $status $limit_req_status';
      server {
        listen 127.0.0.1:${PORT};
        access_log logs/limit.log st;
        error_page 404 = @ok;
        location @ok { return 200 "ok\\n"; }
        location /burst { limit_req zone=perip burst=5 nodelay; }
        location /noburst { limit_req zone=bykey; }
        location /status { limit_req zone=bykey nodelay; limit_req_status 429; limit_req_log_level warn; }
        location /dry { limit_req zone=bykey; limit_req_dry_run on; }
        location /delay { limit_req zone=bykey burst=5; }
        location /delayn { limit_req zone=bykey burst=5 delay=2; }
      }
    }`);
  });
  after(() => dp.stop());
  const url = (p: string) => `http://127.0.0.1:${PORT}${p}`;

  test('a burst of 10 against rate=1r/m burst=5 nodelay passes 6 and refuses 4 with 503', async () => {
    const got = await Promise.all(Array.from({ length: 10 }, () => status(url('/burst'))));
    assert.equal(count(got, 200), 6, String(got));
    assert.equal(count(got, 503), 4, String(got));
  });

  test('without burst, the second request in the same instant is refused; keys are separate buckets', async () => {
    assert.equal(await status(url('/noburst'), { 'x-key': 'a1' }), 200);
    assert.equal(await status(url('/noburst'), { 'x-key': 'a1' }), 503);
    assert.equal(await status(url('/noburst'), { 'x-key': 'b1' }), 200);
    assert.equal(await status(url('/noburst')), 200, 'an empty key is not limited');
    assert.equal(await status(url('/noburst')), 200);
  });

  test('limit_req_status sets the refusal code and the log level is honoured', async () => {
    await status(url('/status'), { 'x-key': 'c1' });
    assert.equal(await status(url('/status'), { 'x-key': 'c1' }), 429);
    await new Promise((r) => setTimeout(r, 50));
    assert.match(dp.errorLog(), /\[warn\] .*limiting requests, excess: \d\.\d{3} by zone "bykey"/);
  });

  test('dry run refuses nothing but reports REJECTED_DRY_RUN', async () => {
    for (let i = 0; i < 3; i++) assert.equal(await status(url('/dry'), { 'x-key': 'd1' }), 200);
    await waitForLine(path.join(dp.prefix, 'logs/limit.log'), '/dry 200 REJECTED_DRY_RUN');
  });

  test('excess within burst is delayed, not refused; delay= lets the first ones through at once', async () => {
    const got = await Promise.all(Array.from({ length: 3 }, () => status(url('/delay'), { 'x-key': 'e1' })));
    assert.deepEqual(got, [200, 200, 200]);
    const gotn = await Promise.all(Array.from({ length: 3 }, () => status(url('/delayn'), { 'x-key': 'f1' })));
    assert.deepEqual(gotn, [200, 200, 200]);
    const file = path.join(dp.prefix, 'logs/limit.log');
    assert.equal((await waitForMatches(file, /^\/delay 200 /, 3)).filter((l) => l.endsWith(' DELAYED')).length, 2);
    assert.equal((await waitForMatches(file, /^\/delayn 200 /, 3)).filter((l) => l.endsWith(' PASSED')).length, 3);
  });
});

describe('limit_conn', () => {
  let dp: Dataplane;
  const P = PORT + 1;
  before(async () => {
    // A request stays in progress while its auth subrequest waits in a limit_req delay (1r/s: a second, long
    // enough that five requests overlap even on a loaded machine).
    dp = await startDataplane(`http {
      limit_conn_zone $server_port zone=perport:64k;
      limit_req_zone $http_x_key zone=slow:64k rate=1r/s;
      server {
        listen 127.0.0.1:${P};
        error_page 404 = @ok;
        location @ok { return 200 "ok\\n"; }
        location = /warm { limit_req zone=slow burst=10; }
        location = /wait { limit_req zone=slow burst=10; }
        location /slow { limit_conn perport 3; auth_request /wait; }
        location /dry { limit_conn perport 1; limit_conn_dry_run on; auth_request /wait; }
        location /fast { limit_conn perport 1; limit_conn_status 429; }
      }
    }`);
  });
  after(() => dp.stop());
  const url = (p: string) => `http://127.0.0.1:${P}${p}`;

  test('5 concurrent slow requests with limit_conn 3: three are served, two refused with 503', async () => {
    for (let i = 0; i < 5; i++) await status(url('/warm'), { 'x-key': `s${i}` });
    const got = await Promise.all(Array.from({ length: 5 }, (_, i) => status(url('/slow'), { 'x-key': `s${i}` })));
    assert.equal(count(got, 200), 3, String(got));
    assert.equal(count(got, 503), 2, String(got));
    await new Promise((r) => setTimeout(r, 50));
    assert.match(dp.errorLog(), /limiting connections by zone "perport"/);
  });

  test('places are given back when requests end: sequential requests never hit the limit', async () => {
    for (let i = 0; i < 5; i++) assert.equal(await status(url('/fast')), 200);
  });

  test('dry run lets everything through', async () => {
    for (let i = 0; i < 3; i++) await status(url('/warm'), { 'x-key': `t${i}` });
    const got = await Promise.all(Array.from({ length: 3 }, (_, i) => status(url('/dry'), { 'x-key': `t${i}` })));
    assert.deepEqual(got, [200, 200, 200]);
    await new Promise((r) => setTimeout(r, 50));
    assert.match(dp.errorLog(), /limiting connections, dry run, by zone "perport"/);
  });
});

describe('a zone shared by two worker threads', () => {
  test('both threads update one table: every increment lands once, under the lock', async () => {
    const buffer = new SharedArrayBuffer(256 * 1024);
    const keys = Array.from({ length: 50 }, (_, i) => `client-${i}`);
    const rounds = 400;
    const workers = [0, 1].map(() => new Worker(path.join(HERE, 'fixtures/zone-worker.ts'), { workerData: { buffer, keys, rounds } }));
    const done = workers.map((w) => new Promise<number>((resolve, reject) => (w.once('message', resolve), w.once('error', reject))));
    await new Promise((r) => setTimeout(r, 100));
    Atomics.store(new Int32Array(buffer, 0, 16), 2, 1);
    Atomics.notify(new Int32Array(buffer, 0, 16), 2);
    const taken = await Promise.all(done);
    assert.deepEqual(taken, [keys.length * rounds, keys.length * rounds]);
    const t = new SharedTable(buffer);
    assert.equal(t.used, keys.length);
    for (const k of keys) assert.equal(t.value(t.find(tableKey(k), false)), 2 * rounds);
  });
});

describe('limit configuration errors', () => {
  for (const [d, want] of [
    ['limit_req_zone $binary_remote_addr zone=a:1m rate=fast;', /invalid rate "rate=fast"/],
    ['limit_req_zone $binary_remote_addr zone=a:1k rate=1r/s;', /zone "a" is too small/],
    ['limit_req_zone $binary_remote_addr zone=a rate=1r/s;', /invalid zone size "zone=a"/],
    ['limit_req_zone $binary_remote_addr rate=1r/s;', /"limit_req_zone" must have "zone" parameter/],
    ['server { listen 127.0.0.1:29049; limit_req zone=nosuch; }', /unknown limit_req_zone "nosuch"/],
    ['limit_req_zone $uri zone=a:1m rate=1r/s; server { listen 127.0.0.1:29049; limit_req zone=a burst=x; }', /invalid burst value "burst=x"/],
    ['limit_req_zone $uri zone=a:1m rate=1r/s; server { listen 127.0.0.1:29049; limit_req zone=a; limit_req zone=a; }', /"limit_req" directive is duplicate/],
    ['limit_req_zone $uri zone=a:1m rate=1r/s; limit_req_zone $host zone=a:1m rate=1r/s;', /limit_req_zone "a" is already bound to key "\$uri"/],
    ['limit_req_status 200;', /value must be between 400 and 599/],
    ['limit_conn_zone $uri zone=c:1m; server { listen 127.0.0.1:29049; limit_conn c zero; }', /invalid number of connections "zero"/],
    ['server { listen 127.0.0.1:29049; limit_conn nosuch 1; }', /unknown limit_conn_zone "nosuch"/],
    ['limit_conn_log_level loud;', /invalid value "loud"/],
    ['limit_conn_zone $uri zone=z:1m; limit_req_zone $uri zone=z:1m rate=1r/s;', /already declared for a different use/],
  ] as const) {
    test(`${d} is refused`, async () => {
      await assert.rejects(startDataplane(`http { ${d} }`), want);
    });
  }
});
