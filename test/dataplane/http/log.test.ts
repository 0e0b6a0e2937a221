import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { request } from 'undici';
import { startDataplane, type Dataplane } from '../../support/dataplane.ts';
import { NGINX, startNginx, type ReferenceNginx } from '../../support/nginx.ts';
import { rawRequest } from '../../support/raw.ts';
import { waitForLine, waitForLines } from '../../support/wait.ts';

const PORT = 29010;
const NGINX_PORT = 29011;

/** Requests whose responses have the same bytes from both servers, so every logged field must agree. */
const REQUESTS = [
  'GET / HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n',
  'GET /path?x=1&y=%20z HTTP/1.1\r\nHost: a.test\r\nReferer: http://ref.test/p\r\nUser-Agent: curl/8.0 "quoted" \\ back\r\nConnection: close\r\n\r\n',
  'GET /bytes HTTP/1.1\r\nHost: a.test\r\nUser-Agent: caf\xe9\x01\x7f\r\nConnection: close\r\n\r\n',
  'HEAD /head HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n',
  'GET /old HTTP/1.0\r\n\r\n',
  'GET /user HTTP/1.1\r\nHost: a.test\r\nAuthorization: Basic dXNlcjpwdw==\r\nConnection: close\r\n\r\n',
  'POST /post HTTP/1.1\r\nHost: a.test\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc',
  'GET /empty HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n',
];

/** Refused heads: the pages differ in size (nginx vs portico), so these compare a format without sizes. */
const MALFORMED = [
  'BLAH\r\n\r\n',
  'GET / HTTP/1.1\r\n\r\n',
  'GET /x HTTP/1.1\r\nHost: a\r\nBad Header\r\n\r\n',
  'GET /a b HTTP/1.1\r\nHost: a\r\n\r\n',
  '\r\nGET /lead HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n',
];

const HTTP = (port: number, log: string) => `http {
  log_format cmp '$remote_addr "$request" $status';
  server {
    listen 127.0.0.1:${port};
    access_log ${log};
    access_log logs/cmp.log cmp;
    location / { return 200 "hello\\n"; }
    location = /empty { return 204; }
  }
}`;

function withoutTime(line: string): string {
  assert.match(line, /\[\d\d\/[A-Z][a-z]{2}\/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\]/);
  return line.replace(/\[[^\]]+\]/, '[TIME]');
}

describe('access_log with the combined format', { skip: NGINX ? false : 'no reference nginx installed' }, () => {
  let dp: Dataplane;
  let ngx: ReferenceNginx;
  before(async () => {
    dp = await startDataplane(HTTP(PORT, 'logs/access.log'));
    ngx = await startNginx(HTTP(NGINX_PORT, 'logs/access.log'));
  });
  after(async () => {
    await dp.stop();
    await ngx.stop();
  });

  test('every line matches nginx byte for byte (time aside)', async () => {
    for (const req of REQUESTS) {
      const a = await rawRequest(PORT, Buffer.from(req, 'latin1'));
      const b = await rawRequest(NGINX_PORT, Buffer.from(req, 'latin1'));
      assert.equal(a.toString('latin1').split('\r\n')[0], b.toString('latin1').split('\r\n')[0]);
    }
    const ours = await waitForLines(path.join(dp.prefix, 'logs/access.log'), REQUESTS.length);
    const theirs = await waitForLines(path.join(ngx.prefix, 'logs/access.log'), REQUESTS.length);
    assert.deepEqual(ours.map(withoutTime), theirs.map(withoutTime));
    assert.match(ours[2]!, /"caf\\xE9\\x01\\x7F"$/);
  });

  test('refused requests log the request line as received, as nginx does', async () => {
    for (const req of MALFORMED) {
      await rawRequest(PORT, Buffer.from(req, 'latin1'));
      await rawRequest(NGINX_PORT, Buffer.from(req, 'latin1'));
    }
    const n = REQUESTS.length + MALFORMED.length;
    const ours = await waitForLines(path.join(dp.prefix, 'logs/cmp.log'), n);
    const theirs = await waitForLines(path.join(ngx.prefix, 'logs/cmp.log'), n);
    assert.deepEqual(ours.slice(REQUESTS.length), theirs.slice(REQUESTS.length));
  });
});

describe('access_log options', () => {
  let dp: Dataplane;
  const PORT2 = 29012;
  before(async () => {
    dp = await startDataplane(`http {
      log_format j escape=json '{"uri":"$uri","ua":"$http_user_agent","missing":"$http_x_none","status":$status}';
      log_format short '$request_method $uri $status';
      map $uri $loggable { default 1; }
      server {
        listen 127.0.0.1:${PORT2};
        access_log logs/all.log short;
        access_log logs/json.log j;
        access_log logs/cond.log short if=$arg_log;
        access_log logs/buffered.log short buffer=64k flush=100ms;
        location / { return 200 "ok\\n"; }
        location /quiet { access_log off; return 200 "shh\\n"; }
        location /own { access_log logs/own.log short; return 200 "own\\n"; }
      }
    }`.replace(/\n\s*map[^\n]*\n/, '\n'));
  });
  after(() => dp.stop());
  const get = async (p: string, headers: Record<string, string> = {}) => {
    const res = await request(`http://127.0.0.1:${PORT2}${p}`, { headers });
    await res.body.dump();
    return res.statusCode;
  };
  const file = (n: string) => path.join(dp.prefix, 'logs', n);

  test('several logs, a condition, off, and a location with its own log', async () => {
    await get('/a');
    await get('/b?log=1');
    await get('/c?log=0');
    await get('/quiet');
    await get('/own');
    // Lines reach the files within the coalescing interval: wait for the last request's line in each.
    await waitForLine(file('own.log'), 'GET /own 200');
    await waitForLine(file('all.log'), 'GET /c 200');
    await waitForLine(file('buffered.log'), 'GET /c 200');
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(await waitForLines(file('all.log'), 3), ['GET /a 200', 'GET /b 200', 'GET /c 200'], '/quiet and /own are not in the server log');
    assert.deepEqual(await waitForLines(file('cond.log'), 1), ['GET /b 200']);
    assert.deepEqual(await waitForLines(file('own.log'), 1), ['GET /own 200']);
    assert.deepEqual(await waitForLines(file('buffered.log'), 3), ['GET /a 200', 'GET /b 200', 'GET /c 200']);
  });

  test('escape=json produces parseable JSON with control characters escaped', async () => {
    const before = (await waitForLines(file('json.log'), 0)).length;
    await rawRequest(PORT2, Buffer.from('GET /j%22q HTTP/1.1\r\nHost: x\r\nUser-Agent: a"b\\c\x01\x1f\r\nConnection: close\r\n\r\n', 'latin1'));
    const lines = await waitForLines(file('json.log'), before + 1);
    const rec = JSON.parse(lines[lines.length - 1]!);
    assert.deepEqual(rec, { uri: '/j"q', ua: 'a"b\\c\x01\x1f', missing: '', status: 200 });
    assert.match(lines[lines.length - 1]!, /\\u0001\\u001f/);
  });

  test('USR1 reopens the log files so a rotated file is released', async () => {
    await get('/before');
    let n = 0;
    for (let i = 0; i < 150; i++) {
      const lines = await waitForLines(file('all.log'), 1);
      n = lines.length;
      if (lines[n - 1] === 'GET /before 200') break;
      await new Promise((r) => setTimeout(r, 20));
    }
    fs.renameSync(file('all.log'), file('all.log.1'));
    dp.proc.kill('SIGUSR1');
    const deadline = Date.now() + 3000;
    while (!fs.existsSync(file('all.log')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await get('/after');
    assert.deepEqual(await waitForLine(file('all.log'), 'GET /after 200'), ['GET /after 200']);
    assert.equal((await waitForLines(file('all.log.1'), n)).length, n);
  });
});

describe('log configuration errors use nginx wording', () => {
  const cases: [string, RegExp][] = [
    ['access_log logs/x.log nosuch;', /unknown log format "nosuch"/],
    ['log_format a "$uri"; log_format a "$uri";', /duplicate "log_format" name "a"/],
    ['log_format a escape=xml "$uri";', /unknown log format escaping "xml"/],
    ['access_log logs/x.log combined flush=1s;', /no buffer is defined for access_log "logs\/x.log"/],
    ['access_log logs/x.log combined buffer=0;', /invalid buffer size "0"/],
    ['access_log logs/x.log combined wat;', /invalid parameter "wat"/],
    ['access_log off wat;', /invalid parameter "wat"/],
    ['access_log /nonexistent-dir/x.log;', /open\(\) "\/nonexistent-dir\/x.log" failed \(2: No such file or directory\)/],
    ['error_log logs/e.log loud;', /invalid log level "loud"/],
    ['log_format a "$nosuchvar";', /unknown "nosuchvar" variable/],
  ];
  for (const [directives, want] of cases) {
    test(`${directives} is refused`, async () => {
      await assert.rejects(startDataplane(`http { ${directives} server { listen 127.0.0.1:29013; } }`), want);
    });
  }
});

describe('error_log per server and location', () => {
  let dp: Dataplane;
  const P = 29014;
  before(async () => {
    dp = await startDataplane(`http {
      server {
        listen 127.0.0.1:${P};
        error_log logs/server-error.log info;
        location /a { auth_basic "a"; auth_basic_user_file "data:u:{PLAIN}p"; }
        location /b { error_log logs/b-error.log warn; auth_basic "b"; auth_basic_user_file "data:u:{PLAIN}p"; }
      }
    }`);
  });
  after(() => dp.stop());
  const file = (n: string) => path.join(dp.prefix, 'logs', n);
  const get = async (p: string, headers: Record<string, string> = {}) => {
    const res = await request(`http://127.0.0.1:${P}${p}`, { headers });
    await res.body.dump();
    return res.statusCode;
  };

  test("a request's messages go to its location's error_log, filtered by that log's level", async () => {
    assert.equal(await get('/a/x'), 401);
    assert.equal(await get('/b/x'), 401);
    assert.equal(await get('/b/x', { authorization: `Basic ${Buffer.from('nobody:x').toString('base64')}` }), 401);
    const server = await waitForLines(file('server-error.log'), 1);
    assert.equal(server.length, 1, server.join('\n'));
    assert.match(server[0]!, /^\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d \[info\] \d+#\d+: \*\d+ no user\/password was provided for basic authentication, client: 127\.0\.0\.1, server: , request: "GET \/a\/x HTTP\/1\.1", host: "127\.0\.0\.1:29014"$/);
    const b = await waitForLines(file('b-error.log'), 1);
    assert.equal(b.length, 1, 'the info-level message of /b is below the location log level');
    assert.match(b[0]!, /\[error\] .*user "nobody" was not found in "data:"/);
  });
});
