import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http2 from 'node:http2';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { request } from 'undici';
import { TestPki } from '../../support/certs.ts';
import { startDataplane, type Dataplane } from '../../support/dataplane.ts';
import { rawRequest } from '../../support/raw.ts';

const PORT = 29020;

async function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  const res = await request(url, { headers });
  return { status: res.statusCode, body: await res.body.text(), headers: res.headers };
}

describe('allow and deny', () => {
  let dp: Dataplane;
  const v4 = `http://127.0.0.1:${PORT}`;
  const v6 = `http://[::1]:${PORT}`;
  before(async () => {
    dp = await startDataplane(`http {
      server {
        listen 127.0.0.1:${PORT};
        listen [::1]:${PORT};
        error_log error.log info;
        # return would answer in the rewrite phase, before access: let the request reach content, whose 404 is
        # turned into a 200 that echoes the client address.
        error_page 404 = @echo;
        location @echo { return 200 "$remote_addr $realip_remote_addr\\n"; }
        location /v4only { allow 127.0.0.0/8; deny all; }
        location /v6only { allow ::1; deny all; }
        location /deny-loopback { deny 127.0.0.1; deny ::1/128; }
        location /order { allow 127.0.0.1; deny 127.0.0.0/8; }
        location /xff {
          set_real_ip_from 127.0.0.1;
          set_real_ip_from ::1;
          real_ip_header X-Forwarded-For;
          allow 10.1.0.0/16;
          allow 2001:db8::/32;
          deny all;
        }
        location /recursive {
          set_real_ip_from 127.0.0.1;
          set_real_ip_from 192.168.0.0/16;
          real_ip_header X-Forwarded-For;
          real_ip_recursive on;
        }
        location /xrealip { set_real_ip_from 127.0.0.1; }
        location /untrusted { set_real_ip_from 10.0.0.0/8; real_ip_header X-Forwarded-For; }
      }
    }`);
  });
  after(() => dp.stop());

  test('an IPv4 CIDR allows IPv4 loopback and denies IPv6 loopback', async () => {
    assert.equal((await get(`${v4}/v4only`)).status, 200);
    assert.equal((await get(`${v6}/v4only`)).status, 403);
  });

  test('an IPv6 address allows ::1 and denies 127.0.0.1', async () => {
    assert.equal((await get(`${v6}/v6only`)).status, 200);
    assert.equal((await get(`${v4}/v6only`)).status, 403);
  });

  test('curl over IPv6 and IPv4 sees the same rules', () => {
    const code = (u: string) => execFileSync('curl', ['-g', '-s', '-o', '/dev/null', '-w', '%{http_code}', u], { encoding: 'utf8' });
    assert.equal(code(`${v6}/v6only`), '200');
    assert.equal(code(`${v4}/v6only`), '403');
  });

  test('deny without a matching rule lets everyone else through, and logs the refusal', async () => {
    assert.equal((await get(`${v4}/deny-loopback`)).status, 403);
    assert.equal((await get(`${v6}/deny-loopback`)).status, 403);
    assert.match(dp.errorLog() + (await readPrefixLog(dp)), /access forbidden by rule, client: 127\.0\.0\.1/);
  });

  test('rules apply in order: the first match decides', async () => {
    assert.equal((await get(`${v4}/order`)).status, 200);
  });

  test('X-Forwarded-For from a trusted peer becomes the client address for allow/deny', async () => {
    assert.deepEqual(await get(`${v4}/xff`, { 'x-forwarded-for': '10.1.2.3' }).then((x) => [x.status, x.body]), [200, '10.1.2.3 127.0.0.1\n']);
    assert.equal((await get(`${v4}/xff`, { 'x-forwarded-for': '10.2.0.1' })).status, 403);
    assert.deepEqual(await get(`${v6}/xff`, { 'x-forwarded-for': '2001:db8::7' }).then((x) => [x.status, x.body]), [200, '2001:db8::7 ::1\n']);
    assert.equal((await get(`${v6}/xff`, { 'x-forwarded-for': '2001:db9::7' })).status, 403);
    assert.equal((await get(`${v4}/xff`)).status, 403, 'without the header the peer itself is checked');
  });

  test('without real_ip_recursive the last address is used; with it, trusted hops are skipped', async () => {
    assert.equal((await get(`${v4}/recursive`, { 'x-forwarded-for': '1.2.3.4, 192.168.1.1, 192.168.1.2' })).body, '1.2.3.4 127.0.0.1\n');
    assert.equal((await get(`${v4}/xff`, { 'x-forwarded-for': '1.2.3.4, 10.1.0.9' })).body, '10.1.0.9 127.0.0.1\n');
  });

  test('X-Real-IP is the default header, and an untrusted peer keeps its own address', async () => {
    assert.equal((await get(`${v4}/xrealip`, { 'x-real-ip': '203.0.113.9' })).body, '203.0.113.9 127.0.0.1\n');
    assert.equal((await get(`${v4}/untrusted`, { 'x-forwarded-for': '203.0.113.9' })).body, '127.0.0.1 127.0.0.1\n');
  });
});

async function readPrefixLog(dp: Dataplane): Promise<string> {
  const fs = await import('node:fs');
  const path = await import('node:path');
  await new Promise((r) => setTimeout(r, 50));
  try {
    return fs.readFileSync(path.join(dp.prefix, 'error.log'), 'utf8');
  } catch {
    return '';
  }
}

describe('satisfy', () => {
  let dp: Dataplane;
  const P = PORT + 1;
  before(async () => {
    dp = await startDataplane(
      `http {
        server {
          listen 127.0.0.1:${P};
          error_page 404 = @in;
          location @in { return 200 "in\\n"; }
          location /any { satisfy any; allow 10.0.0.0/8; deny all; auth_basic "zone"; auth_basic_user_file "data:u:{PLAIN}p"; }
          location /any-ip { satisfy any; allow 127.0.0.1; deny all; auth_basic "zone"; auth_basic_user_file "data:u:{PLAIN}p"; }
          location /all { satisfy all; allow 127.0.0.1; deny all; auth_basic "zone"; auth_basic_user_file "data:u:{PLAIN}p"; }
          location /all-denied { allow 10.0.0.0/8; deny all; auth_basic "zone"; auth_basic_user_file "data:u:{PLAIN}p"; }
        }
      }`,
    );
  });
  after(() => dp.stop());
  const basic = { authorization: `Basic ${Buffer.from('u:p').toString('base64')}` };

  test('satisfy any: a denied address still gets in with a password, and is asked for one without', async () => {
    assert.equal((await get(`http://127.0.0.1:${P}/any`, basic)).status, 200);
    const r = await get(`http://127.0.0.1:${P}/any`);
    assert.equal(r.status, 401);
    assert.equal(r.headers['www-authenticate'], 'Basic realm="zone"');
  });

  test('satisfy any: an allowed address needs no password', async () => {
    assert.equal((await get(`http://127.0.0.1:${P}/any-ip`)).status, 200);
  });

  test('satisfy all: both the address and the password are required', async () => {
    assert.equal((await get(`http://127.0.0.1:${P}/all`)).status, 401);
    assert.equal((await get(`http://127.0.0.1:${P}/all`, basic)).status, 200);
    assert.equal((await get(`http://127.0.0.1:${P}/all-denied`, basic)).status, 403);
  });
});

describe('PROXY protocol', () => {
  let dp: Dataplane;
  const P = PORT + 2;
  before(async () => {
    dp = await startDataplane(`http {
      server {
        listen 127.0.0.1:${P} proxy_protocol;
        location / { return 200 "$proxy_protocol_addr:$proxy_protocol_port $proxy_protocol_server_addr:$proxy_protocol_server_port $remote_addr\\n"; }
        location /real { set_real_ip_from 127.0.0.1; real_ip_header proxy_protocol; allow 198.51.100.0/24; deny all; error_page 404 = @real; }
        location @real { return 200 "$remote_addr:$remote_port\\n"; }
      }
    }`);
  });
  after(() => dp.stop());
  const body = (b: Buffer) => b.toString('latin1').split('\r\n\r\n')[1];

  test('a v1 header is read before the request and exposed in variables', async () => {
    const res = await rawRequest(P, 'PROXY TCP4 198.51.100.7 203.0.113.1 51234 443\r\nGET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    assert.equal(body(res), '198.51.100.7:51234 203.0.113.1:443 127.0.0.1\n');
  });

  test('real_ip_header proxy_protocol makes the header address the client address', async () => {
    const res = await rawRequest(P, 'PROXY TCP4 198.51.100.7 203.0.113.1 51234 443\r\nGET /real HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    assert.equal(body(res), '198.51.100.7:51234\n');
    const denied = await rawRequest(P, 'PROXY TCP6 2001:db8::1 2001:db8::2 1000 443\r\nGET /real HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    assert.match(denied.toString('latin1'), /^HTTP\/1.1 403/);
  });

  test('a v2 binary header is read, byte by byte as it trickles in', async () => {
    const sig = Buffer.from('0d0a0d0a000d0a515549540a', 'hex');
    const addrs = Buffer.from([192, 0, 2, 10, 192, 0, 2, 20, 0x1f, 0x90, 0x01, 0xbb]);
    const hdr = Buffer.concat([sig, Buffer.from([0x21, 0x11, 0, addrs.length]), addrs]);
    const req = Buffer.concat([hdr, Buffer.from('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')]);
    const res = await new Promise<Buffer>((resolve, reject) => {
      const s = net.connect(P, '127.0.0.1');
      const chunks: Buffer[] = [];
      s.on('data', (d) => chunks.push(d));
      s.on('close', () => resolve(Buffer.concat(chunks)));
      s.on('error', reject);
      let i = 0;
      const step = () => {
        if (i >= req.length) return;
        s.write(req.subarray(i, i + 7));
        i += 7;
        setTimeout(step, 2);
      };
      step();
    });
    assert.equal(body(res), '192.0.2.10:8080 192.0.2.20:443 127.0.0.1\n');
  });

  test('a connection without a valid header is closed without a response', async () => {
    const res = await rawRequest(P, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.equal(res.length, 0);
    const bad = await rawRequest(P, 'PROXY TCP4 999.1.1.1 1.1.1.1 1 2\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.equal(bad.length, 0);
  });
});

describe('access configuration errors', () => {
  for (const [d, want] of [
    ['allow 10.0.0.0/33;', /invalid parameter "10.0.0.0\/33"/],
    ['deny nonsense;', /invalid parameter "nonsense"/],
    ['allow;', /invalid number of arguments in "allow" directive/],
    ['set_real_ip_from foo;', /invalid parameter "foo"/],
    ['real_ip_recursive maybe;', /invalid value "maybe" in "real_ip_recursive" directive, it must be "on" or "off"/],
  ] as const) {
    test(`${d} is refused`, async () => {
      await assert.rejects(startDataplane(`http { server { listen 127.0.0.1:${PORT + 3}; location / { ${d} } } }`), want);
    });
  }
});

describe('PROXY protocol before TLS and HTTP/2', () => {
  let dp: Dataplane;
  let pki: TestPki;
  const P = PORT + 4;
  before(async () => {
    pki = new TestPki();
    const cert = pki.server(['pp.test']);
    dp = await startDataplane(`http {
      server {
        listen 127.0.0.1:${P} ssl proxy_protocol;
        http2 on;
        server_name pp.test;
        ssl_certificate ${cert.certFile};
        ssl_certificate_key ${cert.keyFile};
        location / { return 200 "$proxy_protocol_addr $server_protocol\\n"; }
      }
    }`);
  });
  after(async () => {
    await dp.stop();
    pki.remove();
  });

  /** connectTls sends a PROXY v1 header on a raw socket, then starts TLS over it. */
  function connectTls(alpn: string[]): Promise<tls.TLSSocket> {
    return new Promise((resolve, reject) => {
      const raw = net.connect(P, '127.0.0.1', () => {
        raw.write('PROXY TCP4 198.51.100.44 203.0.113.1 40000 443\r\n');
        const s = tls.connect({ socket: raw, servername: 'pp.test', ca: fs.readFileSync(path.join(pki.dir, 'ca.crt')), ALPNProtocols: alpn }, () => resolve(s));
        s.on('error', reject);
      });
      raw.on('error', reject);
    });
  }

  test('HTTPS after a PROXY header: the header is read off the raw socket before the handshake', async () => {
    const s = await connectTls(['http/1.1']);
    const res = await new Promise<string>((resolve) => {
      let out = '';
      s.on('data', (d) => (out += d));
      s.on('end', () => resolve(out));
      s.write('GET / HTTP/1.1\r\nHost: pp.test\r\nConnection: close\r\n\r\n');
    });
    assert.equal(res.split('\r\n\r\n')[1], '198.51.100.44 HTTP/1.1\n');
  });

  test('HTTP/2 over TLS after a PROXY header sees the same address', async () => {
    const s = await connectTls(['h2']);
    const session = http2.connect('https://pp.test', { createConnection: () => s });
    const body = await new Promise<string>((resolve, reject) => {
      const req = session.request({ ':path': '/' });
      let out = '';
      req.setEncoding('utf8');
      req.on('data', (d) => (out += d));
      req.on('end', () => resolve(out));
      req.on('error', reject);
    });
    session.close();
    assert.equal(body, '198.51.100.44 HTTP/2.0\n');
  });
});
