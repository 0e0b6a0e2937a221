/**
 * proxy_cookie_domain, proxy_cookie_path, proxy_cookie_flags and regex proxy_redirect: one upstream sends the
 * Set-Cookie (and Location/Refresh) lines a request asks for; the same config runs in Portico and in nginx 1.22
 * and both answers must carry the same headers, byte for byte. Key cases also state the expected text, so the
 * test keeps its meaning where no reference nginx is installed.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Prefix, run, startDataplane, type Dataplane } from '../../support/dataplane.ts';
import { NGINX, startNginx, type ReferenceNginx } from '../../support/nginx.ts';
import { rawRequest } from '../../support/raw.ts';
import { httpUpstream, type TestUpstream } from '../../support/upstreams.ts';

const PORT = 21300;
const NGINX_PORT = 21301;

function conf(port: number, upstream: number): string {
  const up = `proxy_pass http://127.0.0.1:${upstream};`;
  return `
http {
  access_log off;
  proxy_cookie_domain example.com outer.org;
  server {
    listen 127.0.0.1:${port};
    location /inherit { ${up} }
    location /dom { ${up}
      proxy_cookie_domain .Example.COM .new.net;
      proxy_cookie_domain ~^(\\w+)\\.internal$ $1.public.org;
      proxy_cookie_domain $http_x_from $http_x_to;
      proxy_cookie_domain ~^lead\\.dot$ .dotted.org;
    }
    location /path { ${up}
      proxy_cookie_path /app/ /;
      proxy_cookie_path ~*^/CASE/(.*)$ /c/$1;
      proxy_cookie_path ~^/re/ /x/;
      proxy_cookie_path /one /two;
      proxy_cookie_path ~^/named/(?<rest>.*)$ /n/$rest;
      proxy_cookie_path $http_x_p /v/;
    }
    location /flags { ${up}
      proxy_cookie_flags sid secure httponly samesite=strict;
      proxy_cookie_flags ~^tmp nosecure nohttponly nosamesite;
      proxy_cookie_flags ~.* samesite=lax;
    }
    location /flagsvar { ${up}
      proxy_cookie_flags $http_x_name $http_x_f1 $http_x_f2;
    }
    location /off { ${up} proxy_cookie_domain off; }
    location /red { ${up}
      proxy_redirect ~^http://up(:\\d+)?/(.*)$ http://front/$2;
      proxy_redirect ~*/OLD/ /new/;
    }
  }
}
`;
}

/** get asks for the given Set-Cookie lines (joined by '|') and returns the rewritten header lines, as sent. */
async function get(port: number, path: string, cookies: string, extra: Record<string, string> = {}): Promise<string[]> {
  const lines = Object.entries({ 'x-c': cookies, ...extra }).map(([k, v]) => `${k}: ${v}\r\n`).join('');
  const raw = (await rawRequest(port, `GET ${path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n${lines}\r\n`)).toString('latin1');
  const head = raw.slice(0, raw.indexOf('\r\n\r\n')).split('\r\n').slice(1);
  return head.filter((l) => /^(set-cookie|location|refresh):/i.test(l)).map((l) => l.replace(/^[^:]+/, (n) => n.toLowerCase()));
}

/** Each case: path, Set-Cookie lines sent by the upstream, request headers, expected rewritten lines. */
const CASES: [string, string, Record<string, string>, string[]][] = [
  ['/inherit', 'a=1; Domain=example.com|b=2;domain=.EXAMPLE.com;path=/|c=3; Domain=sub.example.com|d=4; Domain=example.com.', {}, [
    'set-cookie: a=1; Domain=outer.org', 'set-cookie: b=2; domain=.outer.org; path=/', 'set-cookie: c=3; Domain=sub.example.com', 'set-cookie: d=4; Domain=example.com.',
  ]],
  ['/dom', 'a=1; Domain=example.com|b=2;domain=.EXAMPLE.com;path=/|c=3; Domain=api.internal|d=4; Domain=.api.internal', {}, [
    'set-cookie: a=1; Domain=new.net', 'set-cookie: b=2; domain=.new.net; path=/', 'set-cookie: c=3; Domain=api.public.org', 'set-cookie: d=4; Domain=.api.internal',
  ]],
  ['/dom', 'a=1; Domain=dyn.io|b=2; Domain=.dyn.io', { 'x-from': 'DYN.io', 'x-to': '.to.io' }, [
    'set-cookie: a=1; Domain=.to.io', 'set-cookie: b=2; Domain=..to.io',
  ]],
  ['/dom', 'noeq; Domain=example.com|a=1;  Domain = example.com ;Path=/ ; Secure;|x=1; domain|x=2; Domain=|x=3;Domain=example.com;Domain=example.com|x=4 ;Domain=example.com', {}, [
    'set-cookie: noeq; Domain=example.com', 'set-cookie: a=1; Domain=new.net; Path=/; Secure; ', 'set-cookie: x=1; domain', 'set-cookie: x=2; Domain=',
    'set-cookie: x=3; Domain=new.net; Domain=new.net', 'set-cookie: x=4; Domain=new.net',
  ]],
  ['/path', 'a=1; Path=/app/x|a=2; path=/APP/x|a=3; Path=/case/Foo|a=4; Path=/re/re/|a=5; Path=/onex|a=6; Path=/app|a=7; Path=/other; Domain=example.com', { 'x-p': '/nothing/' }, [
    'set-cookie: a=1; Path=/x', 'set-cookie: a=2; path=/APP/x', 'set-cookie: a=3; Path=/c/Foo', 'set-cookie: a=4; Path=/x/', 'set-cookie: a=5; Path=/twox',
    'set-cookie: a=6; Path=/app', 'set-cookie: a=7; Path=/other; Domain=outer.org',
  ]],
  ['/dom', 'e=5; Domain=lead.dot|f=6; Domain=.lead.dot', {}, ['set-cookie: e=5; Domain=.dotted.org', 'set-cookie: f=6; Domain=.lead.dot']],
  // Domain and cookie-name regexes are caseless even when written with `~`.
  ['/dom', 'g=1; Domain=API.Internal', {}, ['set-cookie: g=1; Domain=API.public.org']],
  ['/flags', 'TMPx=1; Secure; Path=/', {}, ['set-cookie: TMPx=1; Path=/']],
  ['/path', 'a=1; Path=/named/x/y|a=2; Path=/var/z|a=3; Path=/Var/z', { 'x-p': '/var/' }, ['set-cookie: a=1; Path=/n/x/y', 'set-cookie: a=2; Path=/v/z', 'set-cookie: a=3; Path=/Var/z']],
  // A prefix that a variable leaves empty matches every path, as in nginx.
  ['/path', 'a=6; Path=/app', {}, ['set-cookie: a=6; Path=/v//app']],
  ['/flags', 'sid=1|SID=2; Secure; SameSite=None|tmpx=1; secure; HttpOnly; samesite=Lax; Path=/|other=1; Path=/|sid=1; httponly; SECURE|other=2 ; SameSite=Strict', {}, [
    'set-cookie: sid=1; Secure; HttpOnly; SameSite=Strict', 'set-cookie: SID=2; Secure; SameSite=Strict; HttpOnly', 'set-cookie: tmpx=1; Path=/',
    'set-cookie: other=1; Path=/; SameSite=Lax', 'set-cookie: sid=1; httponly; SECURE; SameSite=Strict', 'set-cookie: other=2; SameSite=Lax',
  ]],
  ['/flags', 'sid=1;Secure;HttpOnly;SameSite=Strict|a=|tmp=1;  Path=/  ;;|tmp=2;path=/; secure=yes', {}, [
    'set-cookie: sid=1; Secure; HttpOnly; SameSite=Strict', 'set-cookie: a=; SameSite=Lax', 'set-cookie: tmp=1; Path=/; ; ', 'set-cookie: tmp=2; path=/',
  ]],
  ['/flagsvar', 'sid=1|x=1', { 'x-name': 'sid', 'x-f1': 'Secure', 'x-f2': 'bogus' }, ['set-cookie: sid=1; Secure', 'set-cookie: x=1']],
  ['/flagsvar', 'sid=1|x=1', { 'x-name': 'SID', 'x-f1': '' }, ['set-cookie: sid=1', 'set-cookie: x=1']],
  ['/flagsvar', 'sid=1; Secure', { 'x-name': 'sid', 'x-f1': 'nosecure', 'x-f2': 'secure' }, ['set-cookie: sid=1; Secure']],
  ['/flagsvar', 'secure=1; Path=/', { 'x-name': 'secure', 'x-f1': 'nosecure' }, ['set-cookie: secure=1; Path=/']],
  ['/off', 'a=1; Domain=example.com', {}, ['set-cookie: a=1; Domain=example.com']],
  ['/red', '', { 'x-l': 'http://up:8080/a/b?q', 'x-r': '5;URL=http://up/zz' }, ['location: http://front/a/b?q', 'refresh: 5;URL=http://front/zz']],
  ['/red', '', { 'x-l': 'http://other/OLD/thing' }, [`location: http://t:PORT/new/`]],
];

describe('Set-Cookie rewriting and regex proxy_redirect', () => {
  let upstream: TestUpstream;
  let dp: Dataplane;
  let ngx: ReferenceNginx | undefined;

  before(async () => {
    upstream = await httpUpstream('cookies', (req, res) => {
      const h: string[] = ['Content-Type', 'text/plain'];
      const c = req.headers['x-c'] as string | undefined;
      for (const v of c ? c.split('|') : []) h.push('Set-Cookie', v);
      if (req.headers['x-l']) h.push('Location', req.headers['x-l'] as string);
      if (req.headers['x-r']) h.push('Refresh', req.headers['x-r'] as string);
      res.writeHead(200, h);
      res.end('ok');
    });
    dp = await startDataplane(conf(PORT, upstream.port));
    if (NGINX) ngx = await startNginx(conf(NGINX_PORT, upstream.port));
  });

  after(async () => {
    await dp?.stop();
    await ngx?.stop();
    await upstream?.close();
  });

  for (const [path, cookies, headers, expected] of CASES) {
    test(`${path} rewrites ${cookies || JSON.stringify(headers)}`, async () => {
      const got = await get(PORT, path, cookies, headers);
      assert.deepEqual(got, expected.map((l) => l.replace('PORT', String(PORT))));
      if (ngx) assert.deepEqual(got.join('\n').replaceAll(String(PORT), 'P'), (await get(NGINX_PORT, path, cookies, headers)).join('\n').replaceAll(String(NGINX_PORT), 'P'));
    });
  }
});

describe('proxy_cookie_* configuration errors, in nginx words', () => {
  const cases: [string, RegExp][] = [
    ['proxy_cookie_domain foo;', /invalid parameter "foo"/],
    ['proxy_cookie_flags foo;', /invalid parameter "foo"/],
    ['proxy_cookie_path off; proxy_cookie_path off;', /"proxy_cookie_path" directive is duplicate/],
    ['proxy_cookie_domain a b; proxy_cookie_domain off;', /"proxy_cookie_domain" directive is duplicate/],
    ['proxy_cookie_flags off; proxy_cookie_flags a secure;', /"proxy_cookie_flags" directive is duplicate/],
    ['proxy_cookie_flags a secure httponly samesite=lax nosecure;', /invalid number of arguments in "proxy_cookie_flags" directive/],
    ['proxy_cookie_domain ~*foo bar;', /pcre2_compile\(\) failed: .* in "\*foo"/],
    ['proxy_cookie_path ~(a b;', /pcre2_compile\(\) failed: .* in "\(a"/],
  ];
  for (const [line, message] of cases) {
    test(`"${line}" is refused`, async () => {
      const p = new Prefix();
      const file = p.conf(`events {}\nhttp { server { listen 127.0.0.1:${PORT + 2}; location / { ${line} } } }\n`);
      const res = await run(['-t', '-p', p.dir, '-c', file]);
      p.remove();
      assert.notEqual(res.code, 0);
      assert.match(res.stderr, message);
    });
  }

  test('flags unknown at configuration time are accepted, as nginx skips them per response', async () => {
    const p = new Prefix();
    const file = p.conf(`events {}\nhttp { server { listen 127.0.0.1:${PORT + 2}; location / { proxy_cookie_flags a bogus SECURE; proxy_cookie_path ~*^/A /b; } } }\n`);
    const res = await run(['-t', '-p', p.dir, '-c', file]);
    p.remove();
    assert.equal(res.code, 0, res.stderr);
  });
});
