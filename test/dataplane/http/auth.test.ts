import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import bcrypt from 'bcryptjs';
import { request } from 'undici';
import { startDataplane, type Dataplane } from '../../support/dataplane.ts';
import { httpUpstream, type TestUpstream } from '../../support/upstreams.ts';
import { waitForLine } from '../../support/wait.ts';

const PORT = 29030;

async function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, unknown> }> {
  const res = await request(url, { headers });
  await res.body.dump();
  return { status: res.statusCode, headers: res.headers };
}

const basic = (user: string, pw: string) => ({ authorization: `Basic ${Buffer.from(`${user}:${pw}`).toString('base64')}` });

/** One user per supported scheme, all with the password "s3cret!", generated now by independent tools. */
function htpasswd(): string {
  const pw = 's3cret!';
  const salt = randomBytes(4);
  const ssha = Buffer.concat([createHash('sha1').update(pw).update(salt).digest(), salt]).toString('base64');
  return [
    '# comment line',
    `apr1:${execFileSync('openssl', ['passwd', '-apr1', pw], { encoding: 'utf8' }).trim()}`,
    `md5:${execFileSync('openssl', ['passwd', '-1', pw], { encoding: 'utf8' }).trim()}`,
    `bcrypt2y:${bcrypt.hashSync(pw, 6).replace(/^\$2b\$/, '$2y$')}`,
    `bcrypt2b:${bcrypt.hashSync(pw, 6)}`,
    `sha:{SHA}${createHash('sha1').update(pw).digest('base64')}`,
    `ssha:{SSHA}${ssha}`,
    `plain:{PLAIN}${pw}:a comment`,
    `des:${'ab'}01FAX.bQRSU`,
    '',
  ].join('\n');
}

describe('auth_basic', () => {
  let dp: Dataplane;
  before(async () => {
    dp = await startDataplane(
      `http {
        log_format u '$remote_user $status';
        server {
          listen 127.0.0.1:${PORT};
          access_log logs/users.log u;
          error_page 404 = @in;
          location @in { return 200 "in\\n"; }
          location / { auth_basic "Restricted Area"; auth_basic_user_file htpasswd; }
          location /inline { auth_basic "inline"; auth_basic_user_file "data:alice:{PLAIN}wonder\nbob:{SHA}${createHash('sha1').update('builder').digest('base64')}"; }
          location /off { auth_basic off; }
          location /missing { auth_basic "m"; auth_basic_user_file /nonexistent/htpasswd; }
        }
      }`,
      { htpasswd: htpasswd() },
    );
  });
  after(() => dp.stop());
  const url = (p: string) => `http://127.0.0.1:${PORT}${p}`;

  for (const user of ['apr1', 'md5', 'bcrypt2y', 'bcrypt2b', 'sha', 'ssha', 'plain']) {
    test(`a ${user} entry accepts the right password and refuses a wrong one`, async () => {
      assert.equal((await get(url('/p'), basic(user, 's3cret!'))).status, 200);
      const bad = await get(url('/p'), basic(user, 's3cret?'));
      assert.equal(bad.status, 401);
      assert.equal(bad.headers['www-authenticate'], 'Basic realm="Restricted Area"');
    });
  }

  test('curl -u authenticates against an apr1 entry, and curl without it sees the realm', () => {
    const ok = execFileSync('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '-u', 'apr1:s3cret!', url('/p')], { encoding: 'utf8' });
    assert.equal(ok, '200');
    const head = execFileSync('curl', ['-s', '-D', '-', '-o', '/dev/null', url('/p')], { encoding: 'utf8' });
    assert.match(head, /^HTTP\/1\.1 401 Unauthorized\r\n/);
    assert.match(head, /\r\nWWW-Authenticate: Basic realm="Restricted Area"\r\n/);
  });

  test('a second bcrypt check with the same credentials is answered from the verified cache', async () => {
    for (let i = 0; i < 3; i++) assert.equal((await get(url('/p'), basic('bcrypt2b', 's3cret!'))).status, 200);
  });

  test('no credentials, an unknown user and an unsupported DES hash get 401 with the realm', async () => {
    const none = await get(url('/p'));
    assert.equal(none.status, 401);
    assert.equal(none.headers['www-authenticate'], 'Basic realm="Restricted Area"');
    assert.equal((await get(url('/p'), basic('nobody', 'x'))).status, 401);
    assert.equal((await get(url('/p'), basic('des', 's3cret!'))).status, 401);
    await new Promise((r) => setTimeout(r, 50));
    const log = dp.errorLog();
    assert.match(log, /user "nobody" was not found in "htpasswd"/);
    assert.match(log, /user "apr1": password mismatch/);
    assert.match(log, /user "des": unsupported password hash scheme/);
  });

  test('data: user files work inline, and $remote_user is logged', async () => {
    assert.equal((await get(url('/inline'), basic('alice', 'wonder'))).status, 200);
    assert.equal((await get(url('/inline'), basic('bob', 'builder'))).status, 200);
    assert.equal((await get(url('/inline'), basic('alice', 'builder'))).status, 401);
    await waitForLine(path.join(dp.prefix, 'logs/users.log'), 'alice 200');
  });

  test('auth_basic off disables an inherited realm; a missing user file forbids', async () => {
    assert.equal((await get(url('/off'))).status, 200);
    assert.equal((await get(url('/missing'), basic('a', 'b'))).status, 403);
  });
});

describe('auth_request', () => {
  let dp: Dataplane;
  const P = PORT + 1;
  before(async () => {
    dp = await startDataplane(`http {
      log_format a '$uri $status auth=$auth_status';
      server {
        listen 127.0.0.1:${P};
        access_log logs/auth.log a;
        location = /auth/ok { return 204; }
        location = /auth/no { return 401; }
        location = /auth/forbid { return 403; }
        location = /auth/redirect { return 302 /elsewhere; }
        location /ok { auth_request /auth/ok; auth_request_set $auth_status $status; }
        location /no { auth_request /auth/no; }
        location /forbid { auth_request /auth/forbid; }
        location /missing { auth_request /auth/none; }
        location /redirect { auth_request /auth/redirect; }
        location /off { auth_request /auth/no; location /off/inner { auth_request off; } }
        # An auth endpoint that decides by the client's token (add_header does not apply to subrequests, as in
        # nginx, so response headers from the auth endpoint need a proxied auth server).
        location = /auth/token {
          if ($http_authorization = "Bearer good") { return 204; }
          return 401;
        }
        location /api { auth_request /auth/token; }
        # test_response stands in for a proxied auth server's answer.
        location = /auth/upstream-401 { test_response 401 'WWW-Authenticate: Bearer realm="api"' 'X-Other: no'; }
        location = /auth/upstream-ok { test_response 200 "X-User: alice"; }
        location /up401 { auth_request /auth/upstream-401; }
        location /upok {
          auth_request /auth/upstream-ok;
          auth_request_set $user $sent_http_x_user;
          add_header X-Seen-User $user always;
        }
      }
    }`);
  });
  after(() => dp.stop());
  const url = (p: string) => `http://127.0.0.1:${P}${p}`;

  test('a 2xx subrequest lets the request through to its content (here: none, so 404)', async () => {
    assert.equal((await get(url('/ok'))).status, 404);
  });

  test('401 and 403 from the subrequest are returned to the client', async () => {
    assert.equal((await get(url('/no'))).status, 401);
    assert.equal((await get(url('/forbid'))).status, 403);
  });

  test('any other subrequest status is a 500, with nginx\'s error message', async () => {
    assert.equal((await get(url('/missing'))).status, 500);
    assert.equal((await get(url('/redirect'))).status, 500);
    await new Promise((r) => setTimeout(r, 50));
    assert.match(dp.errorLog(), /auth request unexpected status: 404/);
    assert.match(dp.errorLog(), /auth request unexpected status: 302/);
  });

  test('auth_request off in a nested location', async () => {
    assert.equal((await get(url('/off/x'))).status, 401);
    assert.equal((await get(url('/off/inner'))).status, 404);
  });

  test('auth_request_set stores a value computed from the subrequest; subrequests are not logged', async () => {
    await get(url('/ok'));
    const lines = await waitForLine(path.join(dp.prefix, 'logs/auth.log'), '/ok 404 auth=204');
    assert.ok(!lines.some((l) => l.startsWith('/auth/')), 'subrequests are not in the access log');
  });

  test('the subrequest sees the client request headers', async () => {
    assert.equal((await get(url('/api/x'))).status, 401);
    assert.equal((await get(url('/api/x'), { authorization: 'Bearer bad' })).status, 401);
    assert.equal((await get(url('/api/x'), { authorization: 'Bearer good' })).status, 404, 'allowed through to the (missing) content');
  });

  test("a 401 carries the auth server's WWW-Authenticate (and only that) to the client", async () => {
    const r = await get(url('/up401'));
    assert.equal(r.status, 401);
    assert.equal(r.headers['www-authenticate'], 'Bearer realm="api"');
    assert.equal(r.headers['x-other'], undefined);
  });

  test('auth_request_set takes a value from the auth response for the main request', async () => {
    const r = await get(url('/upok'));
    assert.equal(r.status, 404);
    assert.equal(r.headers['x-seen-user'], 'alice');
  });

  test('a bad auth_request_set variable name is refused', async () => {
    await assert.rejects(startDataplane(`http { server { listen 127.0.0.1:${P + 1}; auth_request_set noDollar 1; } }`), /invalid variable name "noDollar"/);
  });
});

describe('auth_request with a real auth server behind proxy_pass', () => {
  let dp: Dataplane;
  let auth: TestUpstream;
  let app: TestUpstream;
  const P = PORT + 3;
  before(async () => {
    auth = await httpUpstream('auth', (req, res) => {
      const token = req.headers.authorization;
      if (token === 'Bearer alice') {
        res.writeHead(200, { 'x-auth-user': 'alice', 'x-auth-groups': 'admins' });
        res.end();
      } else if (token === 'Bearer mallory') {
        res.writeHead(403);
        res.end();
      } else if (token === 'Bearer crash') {
        res.writeHead(502);
        res.end();
      } else {
        res.writeHead(401, { 'www-authenticate': 'Bearer realm="portico"', 'x-not-copied': '1' });
        res.end('who are you');
      }
    });
    app = await httpUpstream('app');
    dp = await startDataplane(`http {
      server {
        listen 127.0.0.1:${P};
        location = /_auth {
          internal;
          proxy_pass http://127.0.0.1:${auth.port}/check;
          proxy_pass_request_body off;
          proxy_set_header Content-Length "";
          proxy_set_header X-Original-URI $request_uri;
        }
        location / {
          auth_request /_auth;
          auth_request_set $user $upstream_http_x_auth_user;
          auth_request_set $groups $sent_http_x_auth_groups;
          proxy_set_header X-User $user;
          proxy_set_header X-Groups $groups;
          proxy_pass http://127.0.0.1:${app.port};
        }
      }
    }`);
  });
  after(async () => {
    await dp?.stop();
    await auth.close();
    await app.close();
  });
  const url = (p: string) => `http://127.0.0.1:${P}${p}`;

  test('a 200 from the auth server lets the request through, with identity headers set from its answer', async () => {
    const res = await request(url('/orders?id=7'), { headers: { authorization: 'Bearer alice' } });
    assert.equal(res.statusCode, 200);
    assert.equal(await res.body.text(), 'app');
    const check = auth.seen.at(-1)!;
    assert.equal(check.url, '/check');
    assert.equal(check.headers['x-original-uri'], '/orders?id=7');
    assert.equal(check.headers.authorization, 'Bearer alice');
    const seen = app.seen.at(-1)!;
    assert.equal(seen.headers['x-user'], 'alice');
    assert.equal(seen.headers['x-groups'], 'admins');
  });

  test("401 reaches the client with the auth server's WWW-Authenticate; 403 passes through; the app is not asked", async () => {
    const before = app.seen.length;
    const r401 = await request(url('/orders'));
    assert.equal(r401.statusCode, 401);
    assert.equal(r401.headers['www-authenticate'], 'Bearer realm="portico"');
    assert.equal(r401.headers['x-not-copied'], undefined);
    await r401.body.dump();
    const r403 = await request(url('/orders'), { headers: { authorization: 'Bearer mallory' } });
    assert.equal(r403.statusCode, 403);
    await r403.body.dump();
    assert.equal(app.seen.length, before);
  });

  test('any other answer from the auth server is a 500', async () => {
    const res = await request(url('/orders'), { headers: { authorization: 'Bearer crash' } });
    assert.equal(res.statusCode, 500);
    await res.body.dump();
  });

  test('a POST body is not sent to the auth server but still reaches the app', async () => {
    const res = await request(url('/orders'), { method: 'POST', body: 'payload', headers: { authorization: 'Bearer alice' } });
    assert.equal(res.statusCode, 200);
    await res.body.dump();
    assert.equal(auth.seen.at(-1)!.body, '');
    assert.equal(app.seen.at(-1)!.body, 'payload');
  });
});
