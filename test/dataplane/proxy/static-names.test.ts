/**
 * Host names in `server` lines and fixed `proxy_pass` / `grpc_pass` URLs are looked up once per configuration
 * with the system resolver, one peer per address, as nginx does. A name with two addresses comes from a
 * private mount namespace whose /etc/hosts is a file of the test's (`unshare -rm`; the machine's file is never
 * touched), where available. Ports 21400-21439.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import dns from 'node:dns';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { request } from 'undici';
import { directive as d } from '../../../dataplane/core/tree.ts';
import { Master } from '../../../dataplane/process/master.ts';
import { BIN, canConnect, Prefix, run, waitFor } from '../../support/dataplane.ts';
import { NGINX } from '../../support/nginx.ts';
import { httpUpstream, type TestUpstream } from '../../support/upstreams.ts';

const PORT = 21400;
const NGINX_PORT = 21401;
const APP = 21410;
const APP2 = 21411;
const PUSH_PORT = 21420;

/** A hosts file naming `two.test` with both loopback addresses. */
const HOSTS = '127.0.0.1 localhost\n127.0.0.1 two.test\n::1 two.test\n';

/** NAMESPACE tells whether this machine lets us give a process its own /etc/hosts. */
const NAMESPACE = ((): boolean => {
  const file = path.join(fs.mkdtempSync('/tmp/portico-hosts-'), 'hosts');
  fs.writeFileSync(file, HOSTS);
  const r = spawnSync('unshare', ['-rm', 'sh', '-c', 'mount --bind "$0" /etc/hosts && getent hosts two.test', file], { encoding: 'utf8' });
  return r.status === 0 && r.stdout.includes('::1');
})();

/** withHosts runs `cmd args` with HOSTS as its /etc/hosts (a bind mount in a private mount namespace). */
function withHosts(dir: string, cmd: string, args: string[]): ChildProcess {
  const file = path.join(dir, 'hosts');
  fs.writeFileSync(file, HOSTS);
  return spawn('unshare', ['-rm', 'sh', '-c', 'mount --bind "$0" /etc/hosts && exec "$@"', file, cmd, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
}

async function stopChild(c: ChildProcess): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null) return;
  const exited = new Promise((r) => c.once('exit', r));
  c.kill('SIGTERM');
  const kill = setTimeout(() => c.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(kill);
}

/** get returns the body and `$upstream_addr` (X-Addr) of one request. */
async function get(port: number, p: string): Promise<{ status: number; body: string; addr: string }> {
  const res = await request(`http://127.0.0.1:${port}${p}`);
  return { status: res.statusCode, body: await res.body.text(), addr: String(res.headers['x-addr']) };
}

/** The same http block for Portico and nginx; upstreams listen on 127.0.0.1 and ::1 on one port. */
function httpBlock(port: number): string {
  return `http {
    access_log off;
    upstream two { server two.test:${APP} max_fails=0; }
    upstream weighted { server two.test:${APP} weight=3; server 127.0.0.2:${APP}; }
    server { listen 127.0.0.1:${port};
      add_header X-Addr $upstream_addr always;
      location /up { proxy_pass http://two; }
      location /weighted { proxy_pass http://weighted; }
      location /fixed { proxy_pass http://two.test:${APP}; }
    }
  }\n`;
}

describe('a name with two addresses', { skip: NAMESPACE ? false : 'no private mount namespace (unshare -rm) here' }, () => {
  const ups: TestUpstream[] = [];
  const prefix = new Prefix();
  let dp: ChildProcess;
  before(async () => {
    ups.push(await httpUpstream('v4', undefined, { host: '127.0.0.1', port: APP }));
    ups.push(await httpUpstream('v6', undefined, { host: '::1', port: APP }));
    ups.push(await httpUpstream('other', undefined, { host: '127.0.0.2', port: APP }));
    prefix.conf(`daemon off;\nworker_processes 1;\nerror_log logs/error.log;\nevents {}\n${httpBlock(PORT)}`);
    dp = withHosts(prefix.dir, BIN, ['-p', prefix.dir]);
    await waitFor('the dataplane', () => canConnect(PORT), 30_000);
  });
  after(async () => {
    await stopChild(dp);
    for (const u of ups) await u.close();
    prefix.remove();
  });

  test('server name:port becomes one peer per address; requests rotate over both', async () => {
    const seen = [];
    for (let i = 0; i < 4; i++) seen.push(await get(PORT, '/up'));
    assert.deepEqual(new Set(seen.map((r) => r.body)), new Set(['v4', 'v6']));
    assert.deepEqual(new Set(seen.map((r) => r.addr)), new Set([`127.0.0.1:${APP}`, `[::1]:${APP}`]));
    for (const r of seen) assert.equal(r.addr, r.body === 'v4' ? `127.0.0.1:${APP}` : `[::1]:${APP}`);
  });

  test('each address keeps the line\'s parameters (weight=3 twice against weight 1)', async () => {
    const bodies: string[] = [];
    for (let i = 0; i < 7; i++) bodies.push((await get(PORT, '/weighted')).body);
    assert.deepEqual([bodies.filter((b) => b === 'v4').length, bodies.filter((b) => b === 'v6').length, bodies.filter((b) => b === 'other').length], [3, 3, 1]);
  });

  test('a fixed proxy_pass http://name:port uses every address too', async () => {
    const seen = [];
    for (let i = 0; i < 4; i++) seen.push(await get(PORT, '/fixed'));
    assert.deepEqual(new Set(seen.map((r) => r.addr)), new Set([`127.0.0.1:${APP}`, `[::1]:${APP}`]));
  });

  test('nginx makes the same peers from the same hosts file', { skip: NGINX ? false : 'no nginx' }, async () => {
    const dir = new Prefix();
    dir.conf(`daemon off;\nmaster_process off;\npid ${dir.path('nginx.pid')};\nerror_log ${dir.path('logs/error.log')};\nevents {}\n${httpBlock(NGINX_PORT)}`);
    const ngx = withHosts(dir.dir, NGINX!, ['-p', dir.dir, '-c', dir.path('conf/nginx.conf')]);
    try {
      await waitFor('nginx', () => canConnect(NGINX_PORT), 10_000);
      for (const p of ['/up', '/fixed']) {
        const ours = new Set<string>();
        const theirs = new Set<string>();
        for (let i = 0; i < 4; i++) {
          ours.add((await get(PORT, p)).addr);
          theirs.add((await get(NGINX_PORT, p)).addr);
        }
        assert.deepEqual(ours, theirs, p);
      }
    } finally {
      await stopChild(ngx);
      dir.remove();
    }
  });
});

describe('localhost', () => {
  const ups: TestUpstream[] = [];
  let dp: ChildProcess | undefined;
  const prefix = new Prefix();
  after(async () => {
    if (dp) await stopChild(dp);
    for (const u of ups) await u.close();
    prefix.remove();
  });

  test('server localhost:port and proxy_pass http://localhost:port get the system resolver\'s addresses', async () => {
    const addrs = (await dns.promises.lookup('localhost', { all: true })).map((a) => (a.family === 6 ? `[${a.address}]` : a.address));
    ups.push(await httpUpstream('v4', undefined, { host: '127.0.0.1', port: APP2 }));
    ups.push(await httpUpstream('v6', undefined, { host: '::1', port: APP2 }));
    prefix.conf(`daemon off;\nworker_processes 1;\nerror_log logs/error.log;\nevents {}\nhttp {
      access_log off;
      upstream lh { server localhost:${APP2}; }
      server { listen 127.0.0.1:${PORT + 2}; add_header X-Addr $upstream_addr always;
        location /up { proxy_pass http://lh; }
        location /fixed { proxy_pass http://localhost:${APP2}; }
      }
    }\n`);
    dp = spawn(BIN, ['-p', prefix.dir], { stdio: 'ignore' });
    await waitFor('the dataplane', () => canConnect(PORT + 2), 30_000);
    for (const p of ['/up', '/fixed']) {
      const seen = new Set<string>();
      for (let i = 0; i < 2 * addrs.length; i++) seen.add((await get(PORT + 2, p)).addr);
      assert.deepEqual(seen, new Set(addrs.map((a) => `${a}:${APP2}`)), p);
    }
  });
});

describe('names that are not found', { concurrency: 2 }, () => {
  const prefix = new Prefix();
  after(() => prefix.remove());

  /** check runs `-t` on the http block and expects nginx's words (and nginx's own, when it is installed). */
  async function check(name: string, http: string, message: string, line: number): Promise<void> {
    const file = prefix.write(`conf/${name}`, `events {}\nhttp {\n${http}\n}\n`);
    const r = await run(['-t', '-p', prefix.dir, '-c', `conf/${name}`]);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, `nginx: [emerg] ${message} in ${file}:${line}\nnginx: configuration file ${file} test failed\n`);
    if (!NGINX) return;
    const ngx = spawnSync(NGINX, ['-t', '-p', prefix.dir, '-c', file, '-g', `pid ${prefix.path('nginx.pid')}; error_log stderr;`], { encoding: 'utf8' });
    assert.equal(ngx.status, 1);
    assert.match(ngx.stderr, new RegExp(`\\[emerg\\] \\d+#\\d+: ${message.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} in ${file}:${line}\\n`));
  }

  test('in a server line', () =>
    check('server.conf', 'upstream u {\nserver 127.0.0.1:1;\nserver nonexistent.invalid:8080 weight=2;\n}', 'host not found in upstream "nonexistent.invalid:8080"', 5));

  test('in a server line without a port', () =>
    check('noport.conf', 'upstream u { server nonexistent.invalid backup; server 127.0.0.1:1; }', 'host not found in upstream "nonexistent.invalid"', 3));

  test('in proxy_pass with a port and a URI (the host alone is named)', () =>
    check('pass.conf', 'server {\nlisten 127.0.0.1:1;\nlocation / { proxy_pass http://nonexistent.invalid:8080/x/; }\n}', 'host not found in upstream "nonexistent.invalid"', 5));

  test('in proxy_pass without a port (no upstream of that name follows)', () =>
    check('later.conf', 'server {\nlisten 127.0.0.1:1;\nlocation / { proxy_pass http://nonexistent.invalid; }\n}\nupstream other { server 127.0.0.1:1; }', 'host not found in upstream "nonexistent.invalid"', 5));

  test('in grpc_pass', () =>
    check('grpc.conf', 'server {\nlisten 127.0.0.1:1;\nlocation / { grpc_pass grpc://nonexistent.invalid:50051; }\n}', 'host not found in upstream "nonexistent.invalid"', 5));

  test('an upstream named like a host is not looked up', async () => {
    prefix.write('conf/ok.conf', 'events {}\nhttp {\nserver { listen 127.0.0.1:1; location / { proxy_pass http://backend; } }\nupstream backend { server 127.0.0.1:1; }\n}\n');
    const r = await run(['-t', '-p', prefix.dir, '-c', 'conf/ok.conf']);
    assert.equal(r.code, 0, r.stderr);
  });
});

describe('peers pushed at run time', () => {
  let up: TestUpstream;
  before(async () => {
    up = await httpUpstream('app', undefined, { host: '127.0.0.1', port: APP + 5 });
  });
  after(() => up.close());

  test('a pushed name is looked up: one peer per address; a name not found is refused', async () => {
    const p = new Prefix();
    const tree = [
      d('worker_processes', ['1']),
      d('events', [], []),
      d('http', [], [
        d('access_log', ['off']),
        d('upstream', ['app'], [d('server', ['127.0.0.1:1'])]),
        d('server', [], [d('listen', [`127.0.0.1:${PUSH_PORT}`]), d('add_header', ['X-Addr', '$upstream_addr', 'always']), d('location', ['/'], [d('proxy_pass', ['http://app'])])]),
      ]),
    ];
    const m = await Master.start({ prefix: p.dir, confFile: p.path('conf/nginx.conf'), tree, errorLog: p.path('logs/error.log') });
    try {
      const addrs = (await dns.promises.lookup('localhost', { all: true })).filter((a) => a.family === 4).map((a) => `${a.address}:${APP + 5}`);
      assert.deepEqual(await m.applyPeers({ app: [d('server', [`localhost:${APP + 5}`])] }), { ok: true });
      const r = await get(PUSH_PORT, '/');
      assert.equal(r.body, 'app');
      // Where localhost is also ::1 (nothing listens there), that try fails and the next one answers.
      assert.ok(addrs.includes(r.addr.split(', ').at(-1)!), r.addr);
      const bad = await m.applyPeers({ app: [d('server', ['nonexistent.invalid:80'])] });
      assert.deepEqual(bad, { ok: false, error: 'host not found in upstream "nonexistent.invalid:80"' });
      assert.equal((await get(PUSH_PORT, '/')).body, 'app');
    } finally {
      await m.stop();
      p.remove();
    }
  });
});
