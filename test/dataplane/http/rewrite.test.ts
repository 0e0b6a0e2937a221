import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startDataplane, type Dataplane } from '../../support/dataplane.ts';
import { rawExchange } from '../../support/raw.ts';

const P = 28030;

async function get(path: string, headers = ''): Promise<{ status: number; body: string; head: string }> {
  const res = await rawExchange(P, `GET ${path} HTTP/1.1\r\nHost: rw.test\r\n${headers}Connection: close\r\n\r\n`);
  const split = res.data.indexOf('\r\n\r\n');
  return { status: Number(res.data.slice(9, 12)), head: res.data.slice(0, split), body: res.data.slice(split + 4) };
}

describe('rewrite module', () => {
  let dp: Dataplane;
  before(async () => {
    dp = await startDataplane(
      `http {
      server {
        listen 127.0.0.1:${P}; server_name rw.test;
        rewrite ^/srv-old$ /srv-new;
        location = /srv-new { return 200 "srv-new $uri"; }
        location /old/ { rewrite ^/old/(.*)$ /new/$1 last; return 200 "not reached"; }
        location /new/ { return 200 "new $uri $args"; }
        location /chain/ { rewrite ^/chain/a$ /chain/b; rewrite ^/chain/b$ /final; }
        location = /final { return 200 "final $uri"; }
        location = /args1 { rewrite ^ /target?x=1 last; }
        location = /args2 { rewrite ^ /target?x=1? last; }
        location = /args3 { rewrite ^ /target? last; }
        location = /args4 { rewrite ^ /target last; }
        location = /args5 { rewrite ^/(args)5$ /target?w=$1%20&y last; }
        location = /target { return 200 "target [$args]"; }
        location /r/ { rewrite ^/r/(.*)$ /dest/$1 redirect; }
        location /p/ { rewrite ^/p/(.*)$ /dest/$1 permanent; }
        location /abs/ { rewrite ^/abs/(.*)$ http://other.test/$1; }
        location /brk/ { rewrite ^ /brk/changed break; return 200 "not reached"; error_page 404 = @show; }
        location /b2 { set $a 1; break; set $a 2; return 200 "not reached"; error_page 404 = @show; }
        location @show { return 200 "show $uri a=$a"; }
        location /if {
          if ($arg_x = yes) { return 200 "if yes"; }
          if ($arg_x ~ ^n(o+)$) { return 200 "if no $1"; }
          if ($http_x_h ~* ^ABC) { return 200 "if header"; }
          if ($arg_y) { return 200 "if y truthy"; }
          if ($arg_z !~* ^q) { return 200 "z not q"; }
          return 200 "if none";
        }
        location /files/ {
          if (-f $request_filename) { return 200 "file"; }
          if (-d $request_filename) { return 200 "dir"; }
          if (!-e $request_filename) { return 200 "missing"; }
          if (-x $request_filename) { return 200 "exec"; }
          return 200 "other";
        }
        location /ifloc { if ($arg_e) { error_page 404 = @show; } return 404; }
        location /set { set $greet "hi $arg_n"; set $args "n=changed"; return 200 "$greet $args"; }
        location /loop { rewrite ^ /loop last; }
        location /ep { error_page 404 /ep2; return 404; }
        location /ep2 { return 404; }
        location /rec { recursive_error_pages on; error_page 404 /rec; return 404; }
        location /epabs { error_page 404 http://else.test/x; return 404; }
        location /epabs301 { error_page 404 =301 http://else.test/y; return 404; }
        location /uninit { return 200 "v=$later"; }
        location /setlater { set $later 1; }
        location /logged { rewrite_log on; rewrite ^/logged$ /target; }
        location = /bare206 { return 206; }
        location = /bare204 { return 204; }
        location = /r302 { return 302 /x; }
        location = /r401 { return 401; }
      }
    }`,
      { 'html/files/a.txt': 'a', 'html/files/sub/x': 'x' },
    );
  });
  after(() => dp.stop());

  const cases: [string, number, string, string?][] = [
    ['/srv-old', 200, 'srv-new /srv-new'],
    ['/old/x?a=1', 200, 'new /new/x a=1'],
    ['/chain/a', 200, 'final /final'],
    ['/args1?a=2', 200, 'target [x=1&a=2]'],
    ['/args2?a=2', 200, 'target [x=1]'],
    ['/args3?a=2', 200, 'target []'],
    ['/args4?a=2', 200, 'target [a=2]'],
    ['/args5', 200, 'target [w=args%20&y]'],
    ['/brk/x', 200, 'show /brk/changed a='],
    ['/b2', 200, 'show /b2 a=1'],
    ['/if?x=yes', 200, 'if yes'],
    ['/if?x=nooo', 200, 'if no ooo'],
    ['/if?z=Q', 200, 'if none'],
    ['/if?y=1&z=q', 200, 'if y truthy'],
    ['/if?y=0&z=q', 200, 'if none'],
    ['/if?z=w', 200, 'z not q'],
    ['/files/a.txt', 200, 'file'],
    ['/files/sub', 200, 'dir'],
    ['/files/nope', 200, 'missing'],
    ['/ifloc?e=1', 200, 'show /ifloc a='],
    ['/ifloc', 404, ''],
    ['/set?n=bob', 200, 'hi bob n=changed'],
    ['/loop', 500, ''],
    ['/ep', 404, ''],
    ['/rec', 500, ''],
    ['/uninit', 200, 'v='],
  ];
  for (const [path, status, body] of cases) {
    test(`GET ${path} → ${status} ${body}`, async () => {
      const res = await get(path);
      assert.equal(res.status, status, res.head);
      if (status === 200) assert.equal(res.body, body);
    });
  }

  test('a bare 2xx return is an empty text answer; 204 has no entity headers', async () => {
    const a = await get('/bare206');
    assert.equal(a.status, 206);
    assert.match(a.head, /\r\nContent-Type: text\/plain\r\nContent-Length: 0\r\n/);
    const b = await get('/bare204');
    assert.equal(b.status, 204);
    assert.doesNotMatch(b.head, /Content-(Type|Length)/);
  });

  test('nginx page titles: 302 Found, 401 Authorization Required', async () => {
    assert.match((await get('/r302')).body, /<title>302 Found<\/title>/);
    assert.match((await get('/r401')).body, /<title>401 Authorization Required<\/title>/);
  });

  test('a header condition is case-insensitive with ~*', async () => {
    assert.equal((await get('/if?z=q', 'X-H: abcdef\r\n')).body, 'if header');
  });

  test('redirect, permanent and absolute replacements answer 302, 301 and 302 with Location', async () => {
    const r = await get('/r/x?k=v');
    assert.equal(r.status, 302);
    assert.match(r.head, new RegExp(`\r\nLocation: http://rw.test:${P}/dest/x\\?k=v(\r|$)`));
    const p = await get('/p/y');
    assert.equal(p.status, 301);
    assert.match(p.head, new RegExp(`\r\nLocation: http://rw.test:${P}/dest/y(\r|$)`));
    const a = await get('/abs/z');
    assert.equal(a.status, 302);
    assert.match(a.head, /\r\nLocation: http:\/\/other\.test\/z(\r|$)/);
  });

  test('error_page to a URL redirects with 302, or with the =code given', async () => {
    const a = await get('/epabs');
    assert.equal(a.status, 302);
    assert.match(a.head, /\r\nLocation: http:\/\/else\.test\/x(\r|$)/);
    const b = await get('/epabs301');
    assert.equal(b.status, 301);
    assert.match(b.head, /\r\nLocation: http:\/\/else\.test\/y(\r|$)/);
  });

  test('cycles, uninitialized variables and rewrite_log are logged', async () => {
    await get('/logged');
    const log = dp.errorLog();
    assert.match(log, /rewrite or internal redirection cycle while processing "\/loop"/);
    assert.match(log, /using uninitialized "later" variable/);
    assert.match(log, /"\^\/logged\$" matches "\/logged"/);
  });
});

describe('rewrite module configuration errors', () => {
  const bad: [string, RegExp][] = [
    ['location / { rewrite ^ /x sideways; }', /invalid parameter "sideways"/],
    ['location / { if $a { return 200; } }', /invalid condition "\$a"/],
    ['location / { if ($a ?? b) { return 200; } }', /unexpected "\?\?" in condition/],
    ['location / { set $uri x; }', /the duplicate "uri" variable/],
    ['location / { set x 1; }', /invalid variable name "x"/],
    ['location / { return 200 $nosuch; }', /unknown "nosuch" variable/],
    ['location / { rewrite ^(x /y; }', /pcre2_compile\(\) failed/],
  ];
  for (const [conf, message] of bad) {
    test(`"${conf}" is refused`, async () => {
      await assert.rejects(startDataplane(`http { server { listen 127.0.0.1:${P + 1}; ${conf} } }`), message);
    });
  }
});
