/** `server name resolve` in an upstream with a `zone`: peers follow the DNS answer at run time. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { request } from 'undici';
import { Prefix, run, startDataplane, waitFor, type Dataplane } from '../../support/dataplane.ts';
import { startDnsServer, type DnsServer } from '../../support/dns-server.ts';
import { httpUpstream, type TestUpstream } from '../../support/upstreams.ts';

const DNS = 21252;
const PORT = 21204;
const APP = 21221;

async function get(p: string): Promise<{ status: number; body: string; addr: string | undefined }> {
  const res = await request(`http://127.0.0.1:${PORT}${p}`);
  return { status: res.statusCode, body: await res.body.text(), addr: res.headers['x-addr'] as string | undefined };
}

describe('upstream servers with resolve', () => {
  let dns: DnsServer;
  let one: TestUpstream;
  let two: TestUpstream;
  let dp: Dataplane;
  before(async () => {
    dns = await startDnsServer(DNS, { 'dyn.test': { a: ['127.0.0.1'], ttl: 3600 }, 'gone.test': { a: ['127.0.0.1'] } });
    one = await httpUpstream('one', undefined, { host: '127.0.0.1', port: APP });
    two = await httpUpstream('two', undefined, { host: '127.0.0.2', port: APP });
    dp = await startDataplane(`http {
      resolver 127.0.0.1:${DNS} valid=1s ipv6=off;
      upstream dyn { zone dyn 64k; server dyn.test:${APP} resolve max_fails=0; }
      upstream gone { zone gone 64k; server gone.test:${APP} resolve; server 127.0.0.2:${APP} backup; }
      server { listen 127.0.0.1:${PORT};
        location / { proxy_pass http://dyn; add_header X-Addr $upstream_addr always; }
        location /gone { proxy_pass http://gone; add_header X-Addr $upstream_addr always; }
      } }`);
  });
  after(async () => {
    await dp.stop();
    await one.close();
    await two.close();
    await dns.stop();
  });

  test('the name\'s addresses are the peers, and follow the answer once valid= runs out', async () => {
    await waitFor('first answer', async () => (await get('/')).body === 'one', 5000);
    assert.equal((await get('/')).addr, `127.0.0.1:${APP}`);
    dns.set('dyn.test', { a: ['127.0.0.2'], ttl: 3600 });
    await waitFor('the new answer', async () => (await get('/')).body === 'two', 5000);
    assert.equal((await get('/')).addr, `127.0.0.2:${APP}`);
  });

  test('a name that no longer exists loses its peers (the backup answers)', async () => {
    await waitFor('first answer', async () => (await get('/gone')).body === 'one', 5000);
    dns.set('gone.test', undefined);
    await waitFor('peers dropped', async () => (await get('/gone')).body === 'two', 5000);
    assert.equal((await get('/gone')).addr, `127.0.0.2:${APP}`);
  });
});

describe('resolve configuration errors', { concurrency: 2 }, () => {
  const prefix = new Prefix();
  after(() => prefix.remove());

  async function check(name: string, http: string, emerg: (file: string) => string): Promise<void> {
    const file = prefix.write(`conf/${name}`, `events {}\nhttp {\n${http}\n}\n`);
    const r = await run(['-t', '-p', prefix.dir, '-c', `conf/${name}`]);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, `nginx: [emerg] ${emerg(file)}\nnginx: configuration file ${file} test failed\n`);
  }

  test('resolve without a zone is refused', () =>
    check('nozone.conf', 'resolver 127.0.0.1;\nupstream u { server app.test resolve; }', (f) => `resolving names at run time requires upstream "u" in ${f}:4 to be in shared memory`));

  test('resolve without any resolver is refused', () =>
    check('nores.conf', 'upstream u { zone u 64k; server app.test resolve; }', (f) => `no resolver defined to resolve names at run time in upstream "u" in ${f}:3`));

  test('a resolver inside the upstream or later in http is enough', async () => {
    prefix.write('conf/ok.conf', 'events {}\nhttp {\nupstream u { zone u 64k; server app.test resolve; resolver 127.0.0.1 valid=5s; resolver_timeout 2s; }\nupstream v { zone v 64k; server app.test resolve; }\nresolver 127.0.0.1;\n}\n');
    const r = await run(['-t', '-p', prefix.dir, '-c', 'conf/ok.conf']);
    assert.equal(r.code, 0, r.stderr);
  });
});
