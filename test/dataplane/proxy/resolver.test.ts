/**
 * `resolver` for `proxy_pass` with variables: a real dataplane, a test DNS server and upstreams on loopback
 * (ports 21200–21299), and Debian's nginx 1.22 on the same DNS server where the two must agree.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { request } from 'undici';
import { canConnect, Prefix, run, startDataplane, waitFor, type Dataplane } from '../../support/dataplane.ts';
import { startDnsServer, type DnsServer } from '../../support/dns-server.ts';
import { NGINX, startNginx } from '../../support/nginx.ts';
import { httpUpstream, type TestUpstream } from '../../support/upstreams.ts';
import { waitForMatches } from '../../support/wait.ts';

const DNS = 21251;
const PORT = 21201;
const INHERIT = 21202;
const NGINX_PORT = 21203;
const APP = 21220;
const base = `http://127.0.0.1:${PORT}`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** logged waits for an [error] line about request `uri` saying `msg`, with nginx's context suffix. */
function logged(dp: Dataplane, msg: string, uri: string): Promise<string[]> {
  const esc = (t: string) => t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const re = new RegExp(`\\[error\\] \\d+#\\d+: \\*\\d+ ${esc(msg)}, client: 127\\.0\\.0\\.1, server: , request: "GET ${esc(uri)} HTTP/1\\.1", host: "127\\.0\\.0\\.1:${PORT}"$`);
  return waitForMatches(path.join(dp.prefix, 'error.log'), re, 1);
}

async function get(url: string): Promise<{ status: number; body: string; addr: string | undefined }> {
  const res = await request(url);
  const body = await res.body.text();
  return { status: res.statusCode, body, addr: res.headers['x-addr'] as string | undefined };
}

/** The locations both servers (Portico and nginx) are given. */
const locations = `
        location /none { proxy_pass http://$arg_h; }
        location / { resolver 127.0.0.1:${DNS} ipv6=off valid=1s; resolver_timeout 500ms; proxy_pass http://$arg_h; add_header X-Addr $upstream_addr always; }
        location /ttl { resolver 127.0.0.1:${DNS} ipv6=off; proxy_pass http://$arg_h; }
        location /v6 { resolver 127.0.0.1:${DNS}; proxy_pass http://$arg_h; }`;

describe('resolver for proxy_pass with variables', () => {
  let dns: DnsServer;
  let one: TestUpstream;
  let two: TestUpstream;
  let dp: Dataplane;
  before(async () => {
    dns = await startDnsServer(DNS, {
      'app.test': { a: ['127.0.0.1'] },
      'multi.test': { a: ['127.0.0.3', '127.0.0.1'] },
      'fail.test': { mode: 'servfail' },
      'quiet.test': { mode: 'silent' },
    });
    one = await httpUpstream('one', undefined, { host: '127.0.0.1', port: APP });
    two = await httpUpstream('two', undefined, { host: '127.0.0.2', port: APP });
    dp = await startDataplane(`http {
      server { listen 127.0.0.1:${PORT};${locations}
      }
      server { listen 127.0.0.1:${INHERIT}; resolver 127.0.0.1:${DNS} ipv6=off;
        location / { proxy_pass http://$arg_h; }
      } }`);
  });
  after(async () => {
    await dp.stop();
    await one.close();
    await two.close();
    await dns.stop();
  });

  test('a name is resolved with the location\'s resolver and proxied to its address', async () => {
    const r = await get(`${base}/?h=app.test:${APP}`);
    assert.equal(r.status, 200);
    assert.equal(r.body, 'one');
    assert.equal(r.addr, `127.0.0.1:${APP}`);
    assert.equal(one.seen.at(-1)!.headers.host, `app.test:${APP}`);
  });

  test('ipv6=off sends no AAAA question; the default sends both', async () => {
    dns.set('only4.test', { a: ['127.0.0.1'] });
    dns.set('both.test', { a: ['127.0.0.1'] });
    dns.queries.length = 0;
    assert.equal((await get(`${base}/?h=only4.test:${APP}`)).status, 200);
    assert.deepEqual(dns.queries, ['A only4.test']);
    dns.queries.length = 0;
    assert.equal((await get(`${base}/v6?h=both.test:${APP}`)).status, 200);
    assert.deepEqual(dns.queries.sort(), ['A both.test', 'AAAA both.test']);
  });

  test('valid= keeps the old answer until it expires, then uses the new one', async () => {
    dns.set('valid.test', { a: ['127.0.0.1'], ttl: 3600 });
    assert.equal((await get(`${base}/?h=valid.test:${APP}`)).body, 'one');
    dns.set('valid.test', { a: ['127.0.0.2'], ttl: 3600 });
    assert.equal((await get(`${base}/?h=valid.test:${APP}`)).body, 'one');
    await sleep(1100);
    const r = await get(`${base}/?h=valid.test:${APP}`);
    assert.equal(r.body, 'two');
    assert.equal(r.addr, `127.0.0.2:${APP}`);
  });

  test('without valid= the answer\'s TTL decides how long it is used', async () => {
    dns.set('ttl.test', { a: ['127.0.0.1'], ttl: 1 });
    assert.equal((await get(`${base}/ttl?h=ttl.test:${APP}`)).body, 'one');
    dns.set('ttl.test', { a: ['127.0.0.2'], ttl: 1 });
    assert.equal((await get(`${base}/ttl?h=ttl.test:${APP}`)).body, 'one');
    await sleep(1100);
    assert.equal((await get(`${base}/ttl?h=ttl.test:${APP}`)).body, 'two');
  });

  test('every address of a name is a peer: a refused one is passed over by proxy_next_upstream', async () => {
    const r = await get(`${base}/?h=multi.test:${APP}`);
    assert.equal(r.status, 200);
    assert.equal(r.body, 'one');
    assert.equal(r.addr, `127.0.0.3:${APP}, 127.0.0.1:${APP}`);
  });

  test('an unknown name is 502 and "could not be resolved (3: Host not found)"', async () => {
    assert.equal((await get(`${base}/?h=nx.test:${APP}`)).status, 502);
    await logged(dp, 'nx.test could not be resolved (3: Host not found)', `/?h=nx.test:${APP}`);
  });

  test('a server failure is 502 and "(2: Server failure)"', async () => {
    assert.equal((await get(`${base}/?h=fail.test:${APP}`)).status, 502);
    await logged(dp, 'fail.test could not be resolved (2: Server failure)', `/?h=fail.test:${APP}`);
  });

  test('a silent server is 502 after resolver_timeout with "(110: Operation timed out)"', async () => {
    const started = Date.now();
    assert.equal((await get(`${base}/?h=quiet.test:${APP}`)).status, 502);
    const took = Date.now() - started;
    assert.ok(took >= 450 && took < 3000, `took ${took} ms`);
    await logged(dp, 'quiet.test could not be resolved (110: Operation timed out)', `/?h=quiet.test:${APP}`);
  });

  test('a client that leaves while the name is looked up ends as 499 and reaches no upstream', async () => {
    const before = one.seen.length;
    const sock = net.connect(PORT, '127.0.0.1');
    sock.on('error', () => {});
    sock.write(`GET /?h=quiet.test:${APP}&leave HTTP/1.1\r\nHost: x\r\n\r\n`);
    await sleep(100);
    sock.destroy();
    const re = new RegExp(`"GET /\\?h=quiet\\.test:${APP}&leave HTTP/1\\.1" 499 0 `);
    await waitForMatches(path.join(dp.prefix, 'logs/access.log'), re, 1);
    await sleep(600);
    assert.equal(one.seen.length, before);
  });

  test('a name without a resolver is 502 and "no resolver defined to resolve"', async () => {
    dns.queries.length = 0;
    assert.equal((await get(`${base}/none?h=app.test:${APP}`)).status, 502);
    await logged(dp, 'no resolver defined to resolve app.test', `/none?h=app.test:${APP}`);
    assert.deepEqual(dns.queries, []);
  });

  test('a literal address needs no resolver', async () => {
    assert.equal((await get(`${base}/none?h=127.0.0.2:${APP}`)).body, 'two');
  });

  test('a server-level resolver is inherited by its locations', async () => {
    assert.equal((await get(`http://127.0.0.1:${INHERIT}/?h=app.test:${APP}`)).body, 'one');
  });

  test('nginx 1.22 answers the same statuses and logs the same lines', { skip: !NGINX }, async () => {
    const ng = await startNginx(`http { access_log off; server { listen 127.0.0.1:${NGINX_PORT};${locations} } }`);
    try {
      await waitFor('nginx listening', () => canConnect(NGINX_PORT), 5000);
      const url = (p: string) => `http://127.0.0.1:${NGINX_PORT}${p}`;
      assert.equal((await get(url(`/?h=app.test:${APP}`))).body, 'one');
      // nginx starts at a random address of the answer; either way the request ends on the live one.
      assert.match((await get(url(`/?h=multi.test:${APP}`))).addr!, new RegExp(`(^|, )127\\.0\\.0\\.1:${APP}$`));
      assert.equal((await get(url(`/?h=nx.test:${APP}`))).status, 502);
      assert.equal((await get(url(`/?h=quiet.test:${APP}`))).status, 502);
      assert.equal((await get(url(`/none?h=app.test:${APP}`))).status, 502);
      const log = fs.readFileSync(path.join(ng.prefix, 'nginx-error.log'), 'utf8');
      for (const line of ['nx.test could not be resolved (3: Host not found)', 'quiet.test could not be resolved (110: Operation timed out)', 'no resolver defined to resolve app.test']) {
        assert.ok(log.includes(line), line);
      }
    } finally {
      await ng.stop();
    }
  });
});

describe('resolver configuration errors', { concurrency: 4 }, () => {
  const prefix = new Prefix();
  after(() => prefix.remove());

  async function check(name: string, directive: string, emerg: string): Promise<void> {
    const file = prefix.write(`conf/${name}`, `events {}\nhttp {\n  ${directive}\n}\n`);
    const r = await run(['-t', '-p', prefix.dir, '-c', `conf/${name}`]);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, `nginx: [emerg] ${emerg} in ${file}:3\nnginx: configuration file ${file} test failed\n`);
  }

  test('a bad valid= is an invalid parameter', () => check('valid.conf', 'resolver 127.0.0.1 valid=x;', 'invalid parameter: valid=x'));
  test('ipv6= takes on or off', () => check('ipv6.conf', 'resolver 127.0.0.1 ipv6=maybe;', 'invalid parameter: ipv6=maybe'));
  test('ipv4 and ipv6 cannot both be off', () => check('both.conf', 'resolver 127.0.0.1 ipv4=off ipv6=off;', '"ipv4" and "ipv6" cannot both be "off"'));
  test('a name server that is no address is not found', () => check('host.conf', 'resolver ns.invalid;', 'host not found in resolver "ns.invalid"'));
  test('a bad port is an invalid port', () => check('port.conf', 'resolver 127.0.0.1:x;', 'invalid port in resolver "127.0.0.1:x"'));
  test('a second resolver at one level is duplicate', () => check('dup.conf', 'resolver 127.0.0.1; resolver 127.0.0.2;', '"resolver" directive is duplicate'));
  test('a bad resolver_timeout is an invalid value', () => check('timeout.conf', 'resolver_timeout x;', '"resolver_timeout" directive invalid value'));

  test('a good resolver line passes -t', async () => {
    prefix.write('conf/good.conf', `events {}\nhttp {\n  resolver 127.0.0.1:53 [::1]:5353 valid=30s ipv4=on ipv6=off status_zone=dns;\n  resolver_timeout 5s;\n}\n`);
    const r = await run(['-t', '-p', prefix.dir, '-c', 'conf/good.conf']);
    assert.equal(r.code, 0, r.stderr);
  });
});
