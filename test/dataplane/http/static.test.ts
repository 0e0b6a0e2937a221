import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { startDataplane, type Dataplane } from '../../support/dataplane.ts';
import { rawExchange } from '../../support/raw.ts';

const P = 28040;
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const BIG = crypto.randomBytes(300 * 1024);
const TEXT = 'The quick brown fox jumps over the lazy dog.\n'.repeat(200);

async function get(p: string, headers: Record<string, string> = {}, method = 'GET') {
  const res = await request(`http://127.0.0.1:${P}${p}`, { method: method as 'GET', headers: { host: 'st.test', ...headers } });
  const body = Buffer.from(await res.body.arrayBuffer());
  return { status: res.statusCode, headers: res.headers, body, text: body.toString('latin1') };
}

describe('static content and filters', () => {
  let dp: Dataplane;
  before(async () => {
    dp = await startDataplane(
      `http {
      include mime.types;
      default_type application/octet-stream;
      server {
        listen 127.0.0.1:${P}; server_name st.test;
        add_header X-Server srv;
        location / { }
        location /dir/ { autoindex on; }
        location /jdir/ { alias html/dir/; autoindex on; autoindex_format json; }
        location /al/ { alias html/sub/; }
        location /tf/ { try_files $uri $uri/ /tf-fallback$is_args$args; }
        location /tf2/ { try_files /nothing =418; }
        location /tf3/ { try_files /nothing @named; }
        location @named { return 200 "named $uri"; }
        location = /tf-fallback { return 200 "fallback $args"; }
        location /types/ { types { text/x-special sp; } default_type application/x-def; }
        location /hdr/ { add_header X-A "a $uri"; add_header X-Always yes always; expires 1h; return 404; }
        location /hdr-ok/ { add_header X-A "a"; add_header X-Always yes always; expires 1h; }
        location /exp-max/ { expires max; alias html/; }
        location /exp-epoch/ { expires epoch; alias html/; }
        location /exp-neg/ { expires -1; alias html/; }
        location /gz/ { alias html/; gzip on; gzip_types text/plain; gzip_vary on; gzip_min_length 100; }
        location /gz-nochunk/ { alias html/; gzip on; gzip_types text/plain; chunked_transfer_encoding off; }
        location = /pixel.gif { empty_gif; }
        location = /status { stub_status; }
        location = /ims-before { if_modified_since before; alias html/a.txt; }
      }
    }`,
      {
        'mime.types': fs.readFileSync(path.join(ROOT, 'conf/mime.types')),
        'html/index.html': '<h1>home</h1>\n',
        'html/a.txt': 'hello world\n',
        'html/text.txt': TEXT,
        'html/big.bin': BIG,
        'html/img.png': 'png',
        'html/dir/one.txt': '1',
        'html/dir/sub/x': 'x',
        'html/dir/.hidden': 'h',
        'html/dir/a & b.txt': 'ab',
        'html/noindex/f': 'f',
        'html/sub/index.html': 'sub index\n',
        'html/sub/page.html': 'sub page\n',
        'html/tf/real.txt': 'real\n',
        'html/tf/d/index.html': 'tf dir index\n',
        'html/types/f.sp': 'special',
        'html/types/f.unknown': 'x',
        'html/hdr-ok/index.html': 'ok\n',
      },
    );
  });
  after(() => dp.stop());

  test('a file is served with its type, length, Last-Modified and ETag', async () => {
    const r = await get('/a.txt');
    assert.equal(r.status, 200);
    assert.equal(r.text, 'hello world\n');
    assert.equal(r.headers['content-type'], 'text/plain');
    assert.equal(r.headers['content-length'], '12');
    const st = fs.statSync(path.join(dp.prefix, 'html/a.txt'));
    assert.equal(r.headers['last-modified'], new Date(Math.floor(st.mtimeMs / 1000) * 1000).toUTCString());
    assert.equal(r.headers.etag, `"${Math.floor(st.mtimeMs / 1000).toString(16)}-c"`);
    assert.equal(r.headers['accept-ranges'], 'bytes');
  });

  test('HEAD has the headers and no body', async () => {
    const r = await get('/a.txt', {}, 'HEAD');
    assert.equal(r.headers['content-length'], '12');
    assert.equal(r.body.length, 0);
  });

  test('If-None-Match and If-Modified-Since give a bodiless 304', async () => {
    const first = await get('/a.txt');
    const a = await get('/a.txt', { 'if-none-match': String(first.headers.etag) });
    assert.equal(a.status, 304);
    assert.equal(a.body.length, 0);
    assert.equal(a.headers['content-type'], undefined);
    assert.equal(a.headers.etag, first.headers.etag);
    const b = await get('/a.txt', { 'if-modified-since': String(first.headers['last-modified']) });
    assert.equal(b.status, 304);
    const c = await get('/a.txt', { 'if-modified-since': 'Mon, 01 Jan 2001 00:00:00 GMT' });
    assert.equal(c.status, 200);
    const d = await get('/a.txt', { 'if-none-match': '"other", W/' + String(first.headers.etag) });
    assert.equal(d.status, 304);
    const e = await get('/ims-before', { 'if-modified-since': 'Fri, 01 Jan 2100 00:00:00 GMT' });
    assert.equal(e.status, 304);
  });

  test('If-Match and If-Unmodified-Since that fail give 412', async () => {
    assert.equal((await get('/a.txt', { 'if-match': '"nope"' })).status, 412);
    assert.equal((await get('/a.txt', { 'if-unmodified-since': 'Mon, 01 Jan 2001 00:00:00 GMT' })).status, 412);
    const first = await get('/a.txt');
    assert.equal((await get('/a.txt', { 'if-match': String(first.headers.etag) })).status, 200);
  });

  test('Range gives 206 for one range and 416 when nothing is satisfiable', async () => {
    const a = await get('/a.txt', { range: 'bytes=0-4' });
    assert.equal(a.status, 206);
    assert.equal(a.text, 'hello');
    assert.equal(a.headers['content-range'], 'bytes 0-4/12');
    const b = await get('/a.txt', { range: 'bytes=-6' });
    assert.equal(b.text, 'world\n');
    const c = await get('/a.txt', { range: 'bytes=6-' });
    assert.equal(c.text, 'world\n');
    const d = await get('/a.txt', { range: 'bytes=100-' });
    assert.equal(d.status, 416);
    assert.equal(d.headers['content-range'], 'bytes */12');
    const e = await get('/a.txt', { range: 'bytes=x-y' });
    assert.equal(e.status, 416, 'a malformed range set is unsatisfiable, as in nginx');
    const e2 = await get('/a.txt', { range: 'items=0-1' });
    assert.equal(e2.status, 200, 'another unit is ignored');
    const f = await get('/a.txt', { range: 'bytes=0-4', 'if-range': '"stale"' });
    assert.equal(f.status, 200);
    assert.equal(f.text, 'hello world\n');
  });

  test('several ranges give multipart/byteranges, also across a streamed file', async () => {
    const r = await get('/a.txt', { range: 'bytes=0-1,6-7' });
    assert.equal(r.status, 206);
    const m = /^multipart\/byteranges; boundary=(\d+)$/.exec(String(r.headers['content-type']));
    assert.ok(m);
    const b = m[1];
    assert.equal(r.text, `\r\n--${b}\r\nContent-Type: text/plain\r\nContent-Range: bytes 0-1/12\r\n\r\nhe\r\n--${b}\r\nContent-Type: text/plain\r\nContent-Range: bytes 6-7/12\r\n\r\nwo\r\n--${b}--\r\n`);
    assert.equal(Number(r.headers['content-length']), r.body.length);
    const rev = await get('/a.txt', { range: 'bytes=6-7,0-1' });
    assert.equal(rev.status, 206);
    assert.match(rev.text, /bytes 6-7\/12\r\n\r\nwo\r\n[\s\S]*bytes 0-1\/12\r\n\r\nhe\r\n/);
    assert.equal(Number(rev.headers['content-length']), rev.body.length);
    const big = await get('/big.bin', { range: 'bytes=100-199,200000-200009' });
    assert.equal(big.status, 206);
    assert.ok(big.body.includes(BIG.subarray(100, 200)));
    assert.ok(big.body.includes(BIG.subarray(200000, 200010)));
    assert.equal(Number(big.headers['content-length']), big.body.length);
  });

  test('a large file streams intact', async () => {
    const r = await get('/big.bin');
    assert.equal(r.status, 200);
    assert.equal(r.body.length, BIG.length);
    assert.ok(r.body.equals(BIG));
    const tail = await get('/big.bin', { range: 'bytes=-10' });
    assert.ok(tail.body.equals(BIG.subarray(BIG.length - 10)));
  });

  test('a directory without its slash is a 301 to the slash form', async () => {
    const r = await get('/dir?x=1');
    assert.equal(r.status, 301);
    assert.equal(r.headers.location, `http://st.test:${P}/dir/?x=1`);
  });

  test('index serves index.html through an internal redirect; no index and no autoindex is 403', async () => {
    const r = await get('/');
    assert.equal(r.text, '<h1>home</h1>\n');
    assert.equal(r.headers['content-type'], 'text/html');
    assert.equal((await get('/noindex/')).status, 403);
    assert.equal((await get('/missing-dir/')).status, 404);
    assert.equal((await get('/missing')).status, 404);
    assert.match(dp.errorLog(), /open\(\) ".*\/html\/missing" failed \(2: No such file or directory\)/);
  });

  test('POST to a static file is 405', async () => {
    assert.equal((await get('/a.txt', {}, 'POST')).status, 405);
  });

  test('autoindex lists a directory as HTML (dirs first, dot files hidden) and as JSON', async () => {
    const r = await get('/dir/');
    assert.equal(r.status, 200);
    assert.match(r.text, /<title>Index of \/dir\/<\/title>/);
    assert.match(r.text, /<a href="\.\.\/">\.\.\/<\/a>\r\n<a href="sub\/">sub\/<\/a> +\d\d-\w{3}-\d{4} \d\d:\d\d +-\r\n<a href="a%20%26%20b\.txt">a &amp; b\.txt<\/a> +\S+ \S+ +2\r\n<a href="one\.txt">one\.txt<\/a> +\d\d-\w{3}-\d{4} \d\d:\d\d +1\r\n/);
    assert.doesNotMatch(r.text, /hidden/);
    assert.match(r.text, /<a href="a%20%26%20b\.txt">a &amp; b\.txt<\/a>/);
    const j = await get('/jdir/');
    const list = JSON.parse(j.text);
    assert.deepEqual(list.map((e: { name: string; type: string }) => [e.name, e.type]), [['sub', 'directory'], ['a & b.txt', 'file'], ['one.txt', 'file']]);
  });

  test('alias maps the location prefix onto another folder', async () => {
    assert.equal((await get('/al/page.html')).text, 'sub page\n');
    assert.equal((await get('/al/')).text, 'sub index\n');
  });

  test('try_files: a file, a directory with a trailing slash, a fallback URI with args, =code, @named', async () => {
    assert.equal((await get('/tf/real.txt')).text, 'real\n');
    assert.equal((await get('/tf/d')).text, 'tf dir index\n');
    assert.equal((await get('/tf/d/')).text, 'tf dir index\n');
    assert.equal((await get('/tf/none?q=1')).text, 'fallback q=1');
    assert.equal((await get('/tf2/x')).status, 418);
    assert.equal((await get('/tf3/x')).text, 'named /tf3/x');
  });

  test('types and default_type choose Content-Type; mime.types is loaded', async () => {
    assert.equal((await get('/types/f.sp')).headers['content-type'], 'text/x-special');
    assert.equal((await get('/types/f.unknown')).headers['content-type'], 'application/x-def');
    assert.equal((await get('/img.png')).headers['content-type'], 'image/png');
  });

  test('add_header applies to successful statuses unless always; a level with its own add_header inherits none', async () => {
    const err = await get('/hdr/x');
    assert.equal(err.status, 404);
    assert.equal(err.headers['x-a'], undefined);
    assert.equal(err.headers['x-always'], 'yes');
    assert.equal(err.headers['x-server'], undefined);
    const ok = await get('/hdr-ok/');
    assert.equal(ok.headers['x-a'], 'a');
    assert.equal(ok.headers['x-always'], 'yes');
    assert.equal(ok.headers['cache-control'], 'max-age=3600');
    assert.equal((await get('/a.txt')).headers['x-server'], 'srv');
  });

  test('expires sets Expires and Cache-Control', async () => {
    const max = await get('/exp-max/a.txt');
    assert.equal(max.headers.expires, 'Thu, 31 Dec 2037 23:55:55 GMT');
    assert.equal(max.headers['cache-control'], 'max-age=315360000');
    const epoch = await get('/exp-epoch/a.txt');
    assert.equal(epoch.headers.expires, 'Thu, 01 Jan 1970 00:00:01 GMT');
    assert.equal(epoch.headers['cache-control'], 'no-cache');
    const neg = await get('/exp-neg/a.txt');
    assert.equal(neg.headers['cache-control'], 'no-cache');
    const hour = await get('/hdr-ok/');
    const delta = Date.parse(String(hour.headers.expires)) - Date.parse(String(hour.headers.date));
    assert.ok(Math.abs(delta - 3600_000) <= 1000, String(delta));
  });

  test('gzip compresses text for clients that accept it, with Vary and a weak ETag', async () => {
    const r = await get('/gz/text.txt', { 'accept-encoding': 'gzip, br' });
    assert.equal(r.headers['content-encoding'], 'gzip');
    assert.equal(r.headers['content-length'], undefined);
    assert.equal(r.headers.vary, 'Accept-Encoding');
    assert.match(String(r.headers.etag), /^W\/"/);
    assert.equal(zlib.gunzipSync(r.body).toString(), TEXT);
    assert.ok(r.body.length < TEXT.length / 5);
    const plain = await get('/gz/text.txt');
    assert.equal(plain.headers['content-encoding'], undefined);
    assert.equal(plain.headers.vary, 'Accept-Encoding');
    assert.equal(plain.text, TEXT);
    const small = await get('/gz/a.txt', { 'accept-encoding': 'gzip' });
    assert.equal(small.headers['content-encoding'], undefined);
    const q0 = await get('/gz/text.txt', { 'accept-encoding': 'gzip;q=0' });
    assert.equal(q0.headers['content-encoding'], undefined);
    const proxied = await get('/gz/text.txt', { 'accept-encoding': 'gzip', via: '1.1 cache' });
    assert.equal(proxied.headers['content-encoding'], undefined);
    const html = await get('/gz/index.html', { 'accept-encoding': 'gzip' });
    assert.equal(html.headers['content-encoding'], undefined, 'below gzip_min_length');
  });

  test('gzip of a streamed file round-trips', async () => {
    const big = Buffer.from(TEXT.repeat(10));
    fs.writeFileSync(path.join(dp.prefix, 'html/bigtext.txt'), big);
    const r = await get('/gz/bigtext.txt', { 'accept-encoding': 'gzip' });
    assert.ok(zlib.gunzipSync(r.body).equals(big));
  });

  test('chunked_transfer_encoding off sends an unknown length close-delimited', async () => {
    const res = await rawExchange(P, 'GET /gz-nochunk/text.txt HTTP/1.1\r\nHost: st.test\r\nAccept-Encoding: gzip\r\n\r\n');
    assert.match(res.data, /Connection: close\r\n/);
    assert.doesNotMatch(res.data, /Transfer-Encoding/);
    assert.equal(res.closed, true);
    const body = Buffer.from(res.data.slice(res.data.indexOf('\r\n\r\n') + 4), 'latin1');
    assert.equal(zlib.gunzipSync(body).toString(), TEXT);
  });

  test('empty_gif answers a 43-byte transparent GIF', async () => {
    const r = await get('/pixel.gif');
    assert.equal(r.headers['content-type'], 'image/gif');
    assert.equal(r.body.length, 43);
    assert.equal(r.body.subarray(0, 6).toString(), 'GIF89a');
    assert.equal(r.body.toString('hex'), '47494638396101000100800100000000ffffff21f90401000001002c00000000010001000002024c01003b');
  });

  test('stub_status reports counters in nginx format', async () => {
    const r = await get('/status');
    assert.match(r.text, /^Active connections: \d+ \nserver accepts handled requests\n \d+ \d+ \d+ \nReading: \d+ Writing: \d+ Waiting: \d+ \n$/);
    const n = (t: string) => Number(/\n (\d+) (\d+) (\d+) \n/.exec(t)![3]);
    const before = n(r.text);
    await get('/a.txt');
    const after2 = await get('/status');
    assert.equal(n(after2.text), before + 2);
    assert.match(after2.text, /Writing: [1-9]/);
  });
});

describe('charset', () => {
  let dp: Dataplane;
  before(async () => {
    dp = await startDataplane(
      `http { types { text/html html; text/plain txt; image/png png; } server { listen 127.0.0.1:${P + 1}; charset utf-8;
        location / { }
        location /latin/ { alias html/; charset iso-8859-1; override_charset on; }
        location /off/ { alias html/; charset off; }
        location /ret { return 200 "x"; }
      } }`,
      { 'html/a.txt': 'a', 'html/p.png': 'p', 'html/i.html': 'i' },
    );
  });
  after(() => dp.stop());

  const type = async (p: string) => {
    const res = await request(`http://127.0.0.1:${P + 1}${p}`);
    await res.body.dump();
    return res.headers['content-type'];
  };
  test('charset is added to charset_types only, overridden with override_charset, and off turns it off', async () => {
    assert.equal(await type('/a.txt'), 'text/plain; charset=utf-8');
    assert.equal(await type('/i.html'), 'text/html; charset=utf-8');
    assert.equal(await type('/p.png'), 'image/png');
    assert.equal(await type('/latin/a.txt'), 'text/plain; charset=iso-8859-1');
    assert.equal(await type('/off/a.txt'), 'text/plain');
    assert.equal(await type('/missing'), 'text/html; charset=utf-8');
  });

  test('gzip_comp_level outside 1..9 is refused at its line', async () => {
    await assert.rejects(startDataplane(`http { gzip_comp_level 10; server { listen 127.0.0.1:${P + 2}; } }`), /value must be between 1 and 9 in .*nginx\.conf:\d+/);
  });

  test('a source_charset other than charset needs a charset_map, which is not supported', async () => {
    await assert.rejects(
      startDataplane(`http { server { listen 127.0.0.1:${P + 2}; charset utf-8; source_charset koi8-r; } }`),
      /no "charset_map" between the charsets "koi8-r" and "utf-8"/,
    );
  });
});
