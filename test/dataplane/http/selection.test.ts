import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startDataplane, type Dataplane } from '../../support/dataplane.ts';
import { rawExchange } from '../../support/raw.ts';

const P = 28020;
const P2 = 28021;

const CONF = `http {
  server { listen 127.0.0.1:${P}; server_name first.test; location / { return 200 "first"; } }
  server { listen 127.0.0.1:${P} default_server; server_name default.test; location / { return 200 "default"; } }
  server {
    listen 127.0.0.1:${P}; server_name example.com www.example.com;
    location = / { return 200 "ex exact-root"; }
    location / { return 200 "ex root"; }
    location /docs/ {
      return 200 "ex docs";
      location /docs/api/ { return 200 "ex docs-api"; }
      location ~ \\.pdf$ { return 200 "ex docs-pdf"; }
    }
    location ^~ /static/ { return 200 "ex static"; }
    location ~ ^/static/.*\\.css$ { return 200 "ex css-regex"; }
    location ~ \\.(png|jpg)$ { return 200 "ex img $1"; }
    location ~* \\.PHP$ { return 200 "ex php"; }
    location /images/ { return 200 "ex images"; }
    location ~ /images/special { return 200 "ex special-first"; }
    location ~ /images/spec { return 200 "ex special-second"; }
    location = /exact { return 200 "ex exact"; }
    location /exact { return 200 "ex exact-prefix"; }
    location /int/ { internal; return 200 "ex int $uri"; }
    location /to-int { error_page 404 = /int/x; return 404; }
    location /to-int2 { error_page 404 /int/y; return 404; }
    location /to-int3 { error_page 404 =202 /int/z; return 404; }
    location /to-named { error_page 418 = @fallback; return 418; }
    location @fallback { return 200 "ex named $uri"; }
    location /proxied/ { test_auto_redirect; return 200 "ex proxied"; }
    location ~ ^/cap/(?<word>\\w+)/(\\d+)$ { return 200 "ex cap $word $2"; }
    location /a { return 200 "ex a"; }
    location /ab { return 200 "ex ab"; }
    location /abc/ { return 200 "ex abc/"; }
  }
  server { listen 127.0.0.1:${P}; server_name *.example.com; location / { return 200 "star.example.com"; } }
  server { listen 127.0.0.1:${P}; server_name *.a.example.com; location / { return 200 "star.a.example.com"; } }
  server { listen 127.0.0.1:${P}; server_name .example.org; location / { return 200 "dot.example.org"; } }
  server { listen 127.0.0.1:${P}; server_name www.example.*; location / { return 200 "www.example.star"; } }
  server { listen 127.0.0.1:${P}; server_name www.example.co.*; location / { return 200 "www.example.co.star"; } }
  server { listen 127.0.0.1:${P}; server_name ~^(?<user>[a-z]+)\\.users\\.test$; location / { return 200 "users $user $1"; } }
  server { listen 127.0.0.1:${P}; server_name ~^api\\d+\\.test$; location / { return 200 "api-first"; } }
  server { listen 127.0.0.1:${P}; server_name ~^(api)(\\d+)\\.test$ ~^(?<svc>\\w+)\\.svc\\.test$; location / { return 200 "regex-second $1 $svc"; } }
  server { listen 127.0.0.1:${P2}; server_name example.com; location / { return 200 "other-port"; } }
}`;

/** [host, port, path, expected status, expected body (or Location for redirects)] */
const CASES: [string, number, string, number, string][] = [
  // server selection
  ['example.com', P, '/x', 200, 'ex root'],
  ['www.example.com', P, '/x', 200, 'ex root'],
  ['EXAMPLE.com', P, '/x', 200, 'ex root'],
  ['example.com.', P, '/x', 200, 'ex root'],
  ['example.com:8080', P, '/x', 200, 'ex root'],
  ['first.test', P, '/', 200, 'first'],
  ['unknown.test', P, '/', 200, 'default'],
  ['', P, '/', 200, 'default'],
  ['default.test', P, '/', 200, 'default'],
  ['foo.example.com', P, '/', 200, 'star.example.com'],
  ['x.y.example.com', P, '/', 200, 'star.example.com'],
  ['b.a.example.com', P, '/', 200, 'star.a.example.com'],
  ['a.example.com', P, '/', 200, 'star.example.com'],
  ['example.org', P, '/', 200, 'dot.example.org'],
  ['deep.sub.example.org', P, '/', 200, 'dot.example.org'],
  ['www.example.net', P, '/', 200, 'www.example.star'],
  ['www.example.co.uk', P, '/', 200, 'www.example.co.star'],
  ['www.example.co', P, '/', 200, 'www.example.star'],
  ['alice.users.test', P, '/', 200, 'users alice alice'],
  ['api7.test', P, '/', 200, 'api-first'],
  ['billing.svc.test', P, '/', 200, 'regex-second billing billing'],
  ['example.com', P2, '/', 200, 'other-port'],
  ['nothing.test', P2, '/', 200, 'other-port'],
  // location selection
  ['example.com', P, '/', 200, 'ex exact-root'],
  ['example.com', P, '/index.html', 200, 'ex root'],
  ['example.com', P, '/docs/', 200, 'ex docs'],
  ['example.com', P, '/docs/guide', 200, 'ex docs'],
  ['example.com', P, '/docs/api/v1', 200, 'ex docs-api'],
  ['example.com', P, '/docs/api/file.pdf', 200, 'ex docs-pdf'],
  ['example.com', P, '/docs/x.png', 200, 'ex img png'],
  ['example.com', P, '/static/a.css', 200, 'ex static'],
  ['example.com', P, '/static/a.png', 200, 'ex static'],
  ['example.com', P, '/x/a.css', 200, 'ex root'],
  ['example.com', P, '/pic.jpg', 200, 'ex img jpg'],
  ['example.com', P, '/pic.JPG', 200, 'ex root'],
  ['example.com', P, '/index.php', 200, 'ex php'],
  ['example.com', P, '/INDEX.PhP', 200, 'ex php'],
  ['example.com', P, '/images/a.gif', 200, 'ex images'],
  ['example.com', P, '/images/a.png', 200, 'ex img png'],
  ['example.com', P, '/images/special', 200, 'ex special-first'],
  ['example.com', P, '/images/spec', 200, 'ex special-second'],
  ['example.com', P, '/exact', 200, 'ex exact'],
  ['example.com', P, '/exactly', 200, 'ex exact-prefix'],
  ['example.com', P, '/exact/', 200, 'ex exact-prefix'],
  ['example.com', P, '/int/x', 404, ''],
  ['example.com', P, '/to-int', 200, 'ex int /int/x'],
  ['example.com', P, '/to-int2', 404, 'ex int /int/y'],
  ['example.com', P, '/to-int3', 202, 'ex int /int/z'],
  ['example.com', P, '/to-named', 200, 'ex named /to-named'],
  ['example.com', P, '/proxied', 301, `http://example.com:${P}/proxied/`],
  ['example.com', P, '/proxied/', 200, 'ex proxied'],
  ['example.com', P, '/proxied/x', 200, 'ex proxied'],
  ['example.com', P, '/cap/hello/42', 200, 'ex cap hello 42'],
  ['example.com', P, '/a', 200, 'ex a'],
  ['example.com', P, '/ab', 200, 'ex ab'],
  ['example.com', P, '/abc', 200, 'ex ab'],
  ['example.com', P, '/abc/d', 200, 'ex abc/'],
  ['example.com', P, '/b', 200, 'ex root'],
];

describe('server and location selection', () => {
  let dp: Dataplane;
  before(async () => {
    dp = await startDataplane(CONF);
  });
  after(() => dp.stop());

  for (const [host, port, path, status, expected] of CASES) {
    test(`${host || '(no host)'}:${port}${path} → ${status} ${expected}`, async () => {
      const hostLine = host ? `Host: ${host}\r\n` : '';
      const version = host ? '1.1' : '1.0';
      const res = await rawExchange(port, `GET ${path} HTTP/${version}\r\n${hostLine}Connection: close\r\n\r\n`);
      const m = /^HTTP\/1\.1 (\d+)/.exec(res.data);
      assert.equal(Number(m?.[1]), status, res.data);
      const body = res.data.slice(res.data.indexOf('\r\n\r\n') + 4);
      if (status === 301) assert.match(res.data, new RegExp(`\r\nLocation: ${expected.replace(/[.?]/g, '\\$&')}\r\n`));
      else if (status === 200 || expected) assert.equal(body, expected);
    });
  }
});
