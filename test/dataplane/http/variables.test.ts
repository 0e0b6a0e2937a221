import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { murmurHash2 } from '../../../dataplane/http/modules/split-clients.ts';
import { binaryAddr as binaryAddress } from '../../../dataplane/http/cidr.ts';
import { startDataplane, type Dataplane } from '../../support/dataplane.ts';
import { rawExchange } from '../../support/raw.ts';

const P = 28050;

async function get(target: string, headers = ''): Promise<{ status: number; head: string; body: string }> {
  const res = await rawExchange(P, `GET ${target} HTTP/1.1\r\n${headers.includes('Host:') ? '' : 'Host: v.test\r\n'}${headers}Connection: close\r\n\r\n`);
  const i = res.data.indexOf('\r\n\r\n');
  return { status: Number(res.data.slice(9, 12)), head: res.data.slice(0, i), body: res.data.slice(i + 4) };
}

/** Assignments nginx 1.22 made for these inputs with the same split_clients block (checked against a real nginx). */
const NGINX_SPLITS: [string, string][] = [
  ['', 'a'], ['a', 'c'], ['ab', 'b'], ['abc', 'a'], ['abcd', 'b'], ['abcde', 'c'], ['hello', 'd'], ['127.0.0.1', 'd'],
  ['user42', 'd'], ['xyzzy', 'a'], ['long-string-value-0123456789', 'a'], ['Z', 'd'],
];

describe('variables, map and split_clients', () => {
  let dp: Dataplane;
  before(async () => {
    dp = await startDataplane(
      `http {
      map $http_host $site { hostnames; default none; example.com ex; *.example.org org; www.example.* www; ~^(?<sub>\\w+)\\.regex\\.test$ "re-$sub-$1"; }
      map $arg_a $mapped { default def; FOO foo-value; ~^x(\\d+)$ "x$1"; include map-extra.conf; }
      map $uri $uri_cached { default $uri; }
      map $uri $uri_volatile { volatile; default $uri; }
      split_clients "$arg_k" $variant { 10% a; 20% b; 30.5% c; 0.01% e; * d; }
      server {
        listen 127.0.0.1:${P}; server_name v.test alias.test;
        root html;
        location /req { return 200 "$request_method|$uri|$request_uri|$args|$is_args|$query_string|$arg_one|$arg_TWO|$http_x_custom|$cookie_session|$host|$server_name|$server_protocol|$scheme|$request|$content_length|$content_type|$connection_requests|$document_uri"; }
        location /addr { return 200 "$remote_addr|$server_addr|$server_port|$hostname|$nginx_version|$pid"; }
        location /time { return 200 "$msec|$time_local|$time_iso8601|$request_time|$request_id|$request_id"; }
        location /files/ { return 200 "$document_root|$realpath_root|$request_filename"; }
        location /sent { add_header X-Type $sent_http_content_type; add_header X-Len $sent_http_content_length; return 200 "body"; }
        location /site { return 200 "$site"; }
        location /map { return 200 "$mapped"; }
        location /vol { set $a1 $uri_cached; set $v1 $uri_volatile; rewrite ^ /vol-changed; set $a2 $uri_cached; set $v2 $uri_volatile; return 200 "$a1 $a2 $v1 $v2"; }
        location /split { return 200 "$variant"; }
        location /abs { return 200 "$request_uri|$request|$status|$host"; }
        location /al/ { alias /tmp/x/; return 200 "$document_root|$request_filename"; }
      }
    }`,
      { 'map-extra.conf': 'included inc-value;\n', 'html/files/f': 'f' },
    );
  });
  after(() => dp.stop());

  test('request line, arguments, headers and cookies', async () => {
    const r = await get('/req/a%20b?one=1&two=2', 'X-Custom: c1\r\nX-Custom: c2\r\nCookie: a=1; session=abc\r\nContent-Type: text/x\r\n');
    assert.equal(r.body, 'GET|/req/a b|/req/a%20b?one=1&two=2|one=1&two=2|?|one=1&two=2|1|2|c1, c2|abc|v.test|v.test|HTTP/1.1|http|GET /req/a%20b?one=1&two=2 HTTP/1.1||text/x|1|/req/a b');
  });

  test('$host falls back to the server name without a Host header; $connection_requests counts', async () => {
    const r = await rawExchange(P, 'GET /req HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /req HTTP/1.0\r\n\r\n');
    const bodies = r.data.split(/HTTP\/1\.1 200 OK/).slice(1).map((x) => x.slice(x.indexOf('\r\n\r\n') + 4));
    assert.equal(bodies[0]!.split('|')[10], 'v.test');
    assert.equal(bodies[0]!.split('|')[17], '1');
    assert.equal(bodies[1]!.split('|')[17], '2');
  });

  test('an absolute-form request: $request_uri is its path, $request the line as sent; $status is the returned one', async () => {
    const r = await get('http://abs.test/abs?q=1', 'Host: v.test\r\n');
    assert.equal(r.body, '/abs?q=1|GET http://abs.test/abs?q=1 HTTP/1.1|200|abs.test');
  });

  test('$document_root keeps an alias\'s trailing slash', async () => {
    assert.equal((await get('/al/sub/f')).body, '/tmp/x/|/tmp/x/sub/f');
  });

  test('addresses, host name, version and pid', async () => {
    const [remote, server, port, hostname, version, pid] = (await get('/addr')).body.split('|');
    assert.equal(remote, '127.0.0.1');
    assert.equal(server, '127.0.0.1');
    assert.equal(port, String(P));
    assert.equal(hostname, os.hostname());
    assert.match(version!, /^\d+\.\d+\.\d+$/);
    assert.equal(pid, String(dp.proc.pid));
  });

  test('time variables have nginx formats; $request_id is 32 hex digits, the same within a request', async () => {
    const [msec, local, iso, rt, id1, id2] = (await get('/time')).body.split('|');
    assert.ok(Math.abs(Number(msec) * 1000 - Date.now()) < 5000);
    assert.match(msec!, /^\d+\.\d{3}$/);
    assert.match(local!, /^\d\d\/\w{3}\/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}$/);
    assert.match(iso!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$/);
    assert.match(rt!, /^\d+\.\d{3}$/);
    assert.match(id1!, /^[0-9a-f]{32}$/);
    assert.equal(id1, id2);
    const other = (await get('/time')).body.split('|')[4];
    assert.notEqual(other, id1);
  });

  test('$document_root, $realpath_root and $request_filename follow root', async () => {
    const [docroot, real, file] = (await get('/files/f')).body.split('|');
    assert.equal(docroot, path.join(dp.prefix, 'html'));
    assert.equal(real, path.join(fs.realpathSync(dp.prefix), 'html'));
    assert.equal(file, path.join(dp.prefix, 'html/files/f'));
  });

  test('$sent_http_* reads the response headers', async () => {
    const r = await get('/sent');
    assert.match(r.head, /\r\nX-Type: text\/plain\r\n/);
    assert.match(r.head, /\r\nX-Len: 4$/);
  });

  test('map with hostnames: exact, leading and trailing wildcards, regex with named and positional captures, default', async () => {
    const site = async (host: string) => (await get('/site', `Host: ${host}\r\n`)).body;
    assert.equal(await site('example.com'), 'ex');
    assert.equal(await site('EXAMPLE.COM'), 'ex');
    assert.equal(await site('a.b.example.org'), 'org');
    assert.equal(await site('www.example.net'), 'www');
    assert.equal(await site('foo.regex.test'), 're-foo-foo');
    assert.equal(await site('nothing.test'), 'none');
  });

  test('map strings ignore case; regex captures feed the value; include adds entries', async () => {
    assert.equal((await get('/map?a=foo')).body, 'foo-value');
    assert.equal((await get('/map?a=x42')).body, 'x42');
    assert.equal((await get('/map?a=included')).body, 'inc-value');
    assert.equal((await get('/map?a=zzz')).body, 'def');
  });

  test('a map value is cached per request unless volatile', async () => {
    assert.equal((await get('/vol')).body, '/vol /vol /vol /vol-changed');
  });

  test('split_clients assigns like nginx (MurmurHash2 and cumulative percentages)', async () => {
    for (const [k, want] of NGINX_SPLITS) assert.equal((await get(`/split?k=${encodeURIComponent(k)}`)).body, want, k);
  });

  test('murmurHash2 of the empty string is 0 and differs by tail length', () => {
    assert.equal(murmurHash2(Buffer.alloc(0)), 0);
    const seen = new Set(['a', 'ab', 'abc', 'abcd', 'abcde'].map((s) => murmurHash2(Buffer.from(s))));
    assert.equal(seen.size, 5);
  });
});


describe('map and split_clients configuration errors', () => {
  const bad: [string, RegExp][] = [
    ['map $a b { default x; }', /invalid variable name "b"/],
    ['map $a $b { default x; default y; }', /duplicate default map parameter/],
    ['map $a $b { k; }', /invalid number of the map parameters/],
    ['split_clients $a $b { 60% x; 50% y; }', /percent total is greater than 100%/],
    ['split_clients $a $b { abc x; }', /invalid percent value "abc"/],
  ];
  for (const [conf, message] of bad) {
    test(`"${conf}" is refused`, async () => {
      await assert.rejects(startDataplane(`http { ${conf} server { listen 127.0.0.1:${P + 1}; } }`), message);
    });
  }
});

test('$binary_remote_addr packs IPv4 into 4 bytes and IPv6 into 16', () => {
  const hex = (a: string) => Buffer.from(binaryAddress(a), 'latin1').toString('hex');
  assert.equal(hex('127.0.0.1'), '7f000001');
  assert.equal(hex('::1'), '00000000000000000000000000000001');
  assert.equal(hex('2001:db8::ff00:42:8329'), '20010db8000000000000ff0000428329');
  // Connections already strip the v4-mapped prefix, so a mapped address counts as the IPv4 client it is.
  assert.equal(hex('::ffff:10.0.0.1'), '0a000001');
});
