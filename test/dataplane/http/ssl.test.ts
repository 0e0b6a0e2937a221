import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { TestPki, type Pem } from '../../support/certs.ts';
import { curl, sClient } from '../../support/clients.ts';
import { startDataplane, type Dataplane } from '../../support/dataplane.ts';

const PORT = 27101;
const PLAIN = 27102;
const MTLS = 27103;
const CACHED = 27104;
const UNCACHED = 27105;
const SPLITTER = 27106;
const TUNED = 27107;
const REJECTING = 27108;

describe('TLS termination (ngx_http_ssl_module)', () => {
  let pki: TestPki;
  let dp: Dataplane;
  let rsa: Pem;
  let ec: Pem;
  let wild: Pem;
  let client: Pem;
  let stranger: Pem;
  let multi: Pem;
  let dualRsa: Pem;
  let dualEc: Pem;
  const resolve = (name: string, port = PORT) => ['--resolve', `${name}:${port}:127.0.0.1`, '--cacert', pki.ca.certFile];

  before(async () => {
    pki = new TestPki();
    rsa = pki.server(['a.test'], 'rsa');
    ec = pki.server(['a.test'], 'ec');
    wild = pki.server(['*.b.test'], 'ec');
    client = pki.client('alice');
    stranger = pki.selfSignedClient('mallory');
    multi = pki.server(['on.test', 'optional.test', 'noca.test', 'plain.test']);
    dualRsa = pki.server(['dual.test'], 'rsa');
    dualEc = pki.server(['dual.test'], 'ec');
    const dh = pki.dhparam();
    dp = await startDataplane(`http {
      ssl_session_timeout 10m;
      server {
        listen 127.0.0.1:${PORT} ssl default_server;
        server_name a.test;
        ssl_certificate ${rsa.certFile};
        ssl_certificate_key ${rsa.keyFile};
        ssl_certificate ${ec.certFile};
        ssl_certificate_key ${ec.keyFile};
        error_page 497 https://$host:${PORT}$request_uri;
        location / { return 200 "a $scheme $https $ssl_protocol $ssl_server_name\\n"; }
        location /moved { return 301 /elsewhere; }
      }
      server {
        listen 127.0.0.1:${PORT} ssl;
        server_name *.b.test;
        ssl_certificate "data:${wild.cert}";
        ssl_certificate_key "data:${wild.key}";
        ssl_protocols TLSv1.3;
        location / { return 200 "b $ssl_server_name $ssl_cipher\\n"; }
      }
      server {
        listen 127.0.0.1:${PORT} ssl;
        server_name dual.test;
        ssl_certificate ${dualRsa.certFile};
        ssl_certificate_key ${dualRsa.keyFile};
        ssl_certificate ${dualEc.certFile};
        ssl_certificate_key ${dualEc.keyFile};
        return 200 "dual\n";
      }
      server {
        listen 127.0.0.1:${REJECTING} ssl default_server;
        ssl_reject_handshake on;
      }
      server {
        listen 127.0.0.1:${REJECTING} ssl;
        server_name a.test;
        ssl_certificate ${rsa.certFile};
        ssl_certificate_key ${rsa.keyFile};
        return 200 "known\n";
      }
      server {
        listen 127.0.0.1:${TUNED} ssl;
        ssl_certificate ${rsa.certFile};
        ssl_certificate_key ${rsa.keyFile};
        ssl_protocols TLSv1.2;
        ssl_ciphers AES256-GCM-SHA384:DHE-RSA-AES128-GCM-SHA256:AES128-GCM-SHA256;
        ssl_prefer_server_ciphers on;
        ssl_dhparam "data:${dh}";
        return 200 "$ssl_protocol $ssl_cipher\n";
      }
      server {
        listen 127.0.0.1:${CACHED} ssl;
        ssl_certificate ${rsa.certFile};
        ssl_certificate_key ${rsa.keyFile};
        ssl_session_tickets off;
        ssl_session_cache shared:SSL:1m;
        return 200 "cached $ssl_session_reused\n";
      }
      server {
        listen 127.0.0.1:${UNCACHED} ssl;
        ssl_certificate ${rsa.certFile};
        ssl_certificate_key ${rsa.keyFile};
        ssl_session_tickets off;
        return 200 "uncached $ssl_session_reused\n";
      }
      server {
        listen 127.0.0.1:${PLAIN};
        server_name a.test;
        return 301 https://$host$request_uri;
      }
      server {
        listen 127.0.0.1:${MTLS} ssl;
        server_name on.test;
        ssl_certificate ${multi.certFile};
        ssl_certificate_key ${multi.keyFile};
        ssl_client_certificate ${pki.ca.certFile};
        ssl_verify_client on;
        location / { return 200 "$ssl_client_verify|$ssl_client_s_dn|$ssl_client_i_dn|$ssl_client_serial|$ssl_client_fingerprint\\n"; }
        location /cert { return 200 "$ssl_client_cert"; }
      }
      server {
        listen 127.0.0.1:${MTLS} ssl;
        server_name optional.test;
        ssl_certificate ${multi.certFile};
        ssl_certificate_key ${multi.keyFile};
        ssl_client_certificate ${pki.ca.certFile};
        ssl_verify_client optional;
        location / { return 200 "$ssl_client_verify\\n"; }
      }
      server {
        listen 127.0.0.1:${MTLS} ssl;
        server_name noca.test;
        ssl_certificate ${multi.certFile};
        ssl_certificate_key ${multi.keyFile};
        ssl_verify_client optional_no_ca;
        location / { return 200 "$ssl_client_verify $ssl_client_s_dn\\n"; }
      }
      server {
        listen 127.0.0.1:${MTLS} ssl;
        server_name plain.test;
        ssl_certificate ${multi.certFile};
        ssl_certificate_key ${multi.keyFile};
        location / { return 200 "$ssl_client_verify\\n"; }
      }
    }`);
  });
  after(async () => {
    await dp?.stop();
    pki?.remove();
  });

  test('curl gets the page over HTTP/1.1 with TLS variables set', async () => {
    const res = await curl(['--http1.1', ...resolve('a.test'), `https://a.test:${PORT}/`]);
    assert.equal(res.status, 200);
    assert.equal(res.version, '1.1');
    assert.match(res.body, /^a https on TLSv1\.3 a\.test\n$/);
  });

  test('a relative redirect becomes an https URL', async () => {
    const res = await curl(['--http1.1', ...resolve('a.test'), `https://a.test:${PORT}/moved`]);
    assert.equal(res.status, 301);
    assert.equal(res.headers.location, `https://a.test:${PORT}/elsewhere`);
  });

  test('SNI picks the wildcard server and its in-memory certificate', async () => {
    const res = await curl(['--http1.1', ...resolve('x.b.test'), `https://x.b.test:${PORT}/`]);
    assert.equal(res.status, 200);
    assert.match(res.body, /^b x\.b\.test TLS_/);
    const out = await sClient(['-connect', `127.0.0.1:${PORT}`, '-servername', 'x.b.test', '-CAfile', pki.ca.certFile]);
    assert.match(out, /subject=.*CN ?= ?\*\.b\.test/);
    assert.match(out, /Verify return code: 0 \(ok\)/);
  });

  test('an unknown or missing server name gets the default server certificate', async () => {
    const out = await sClient(['-connect', `127.0.0.1:${PORT}`, '-servername', 'nobody.test', '-CAfile', pki.ca.certFile]);
    assert.match(out, /subject=.*CN ?= ?a\.test/);
    const none = await sClient(['-connect', `127.0.0.1:${PORT}`, '-noservername', '-CAfile', pki.ca.certFile]);
    assert.match(none, /subject=.*CN ?= ?a\.test/);
  });

  test('one server serves its RSA or its ECDSA certificate as the client asks', async () => {
    const rsaOut = await sClient(['-connect', `127.0.0.1:${PORT}`, '-servername', 'a.test', '-tls1_2', '-cipher', 'ECDHE-RSA-AES128-GCM-SHA256']);
    assert.match(rsaOut, /Server public key is 2048 bit/);
    const ecOut = await sClient(['-connect', `127.0.0.1:${PORT}`, '-servername', 'a.test', '-tls1_2', '-cipher', 'ECDHE-ECDSA-AES128-GCM-SHA256']);
    assert.match(ecOut, /Server public key is 256 bit/);
  });

  test('a ClientHello split over TCP segments still selects the server and both of its certificates', async () => {
    // A relay that forwards the client's first bytes in two pieces, 50 ms apart.
    const relay = net.createServer((c) => {
      const up = net.connect(PORT, '127.0.0.1');
      let first = true;
      c.on('data', (d: Buffer) => {
        if (!first) return void up.write(d);
        first = false;
        up.write(d.subarray(0, 20));
        setTimeout(() => up.write(d.subarray(20)), 50);
      });
      up.pipe(c);
      c.on('error', () => up.destroy());
      up.on('error', () => c.destroy());
      c.on('close', () => up.destroy());
    });
    await new Promise<void>((resolve) => relay.listen(SPLITTER, '127.0.0.1', () => resolve()));
    try {
      const base = ['-connect', `127.0.0.1:${SPLITTER}`, '-servername', 'dual.test', '-tls1_2'];
      const rsaOut = await sClient([...base, '-cipher', 'ECDHE-RSA-AES128-GCM-SHA256']);
      assert.match(rsaOut, /subject=.*CN ?= ?dual\.test/);
      assert.match(rsaOut, /Server public key is 2048 bit/);
      const ecOut = await sClient([...base, '-cipher', 'ECDHE-ECDSA-AES128-GCM-SHA256']);
      assert.match(ecOut, /Server public key is 256 bit/);
    } finally {
      relay.close();
    }
  });

  test('ssl_protocols is enforced per server chosen by SNI', async () => {
    const out = await sClient(['-connect', `127.0.0.1:${PORT}`, '-servername', 'x.b.test', '-tls1_2']);
    assert.doesNotMatch(out, /Cipher is ECDHE/);
    assert.match(out, /alert|error/i);
    const ok = await sClient(['-connect', `127.0.0.1:${PORT}`, '-servername', 'a.test', '-tls1_2']);
    assert.match(ok, /Protocol *: TLSv1\.2/);
  });

  test('ssl_ciphers, ssl_prefer_server_ciphers and ssl_dhparam shape the negotiation', async () => {
    const preferred = await sClient(['-connect', `127.0.0.1:${TUNED}`, '-cipher', 'AES128-GCM-SHA256:AES256-GCM-SHA384', '-ign_eof'], 'GET / HTTP/1.0\r\n\r\n');
    assert.match(preferred, /TLSv1\.2 AES256-GCM-SHA384\n/);
    const dhe = await sClient(['-connect', `127.0.0.1:${TUNED}`, '-cipher', 'DHE-RSA-AES128-GCM-SHA256', '-ign_eof'], 'GET / HTTP/1.0\r\n\r\n');
    assert.match(dhe, /TLSv1\.2 DHE-RSA-AES128-GCM-SHA256\n/);
    const excluded = await sClient(['-connect', `127.0.0.1:${TUNED}`, '-cipher', 'ECDHE-RSA-AES128-GCM-SHA256']);
    assert.match(excluded, /Cipher is \(NONE\)/);
  });

  test('ssl_reject_handshake on the default server refuses unknown and missing server names', async () => {
    const known = await curl(['--http1.1', ...resolve('a.test', REJECTING), `https://a.test:${REJECTING}/`]);
    assert.equal(known.body, 'known\n');
    for (const sni of [['-servername', 'unknown.test'], ['-noservername']]) {
      const out = await sClient(['-connect', `127.0.0.1:${REJECTING}`, ...sni]);
      assert.match(out, /no peer certificate available/);
    }
  });

  test('sessions resume with tickets', async () => {
    const sess = `${pki.dir}/sess.pem`;
    const first = await sClient(['-connect', `127.0.0.1:${PORT}`, '-servername', 'a.test', '-tls1_2', '-sess_out', sess]);
    assert.match(first, /^New, /m);
    const second = await sClient(['-connect', `127.0.0.1:${PORT}`, '-servername', 'a.test', '-tls1_2', '-sess_in', sess]);
    assert.match(second, /^Reused, /m);
  });

  test('with tickets off, ssl_session_cache shared resumes sessions by id; without a cache nothing resumes', async () => {
    for (const [port, reused] of [[CACHED, true], [UNCACHED, false]] as const) {
      const sess = `${pki.dir}/sess-${port}.pem`;
      const first = await sClient(['-connect', `127.0.0.1:${port}`, '-tls1_2', '-sess_out', sess]);
      assert.match(first, /^New, /m);
      const second = await sClient(['-connect', `127.0.0.1:${port}`, '-tls1_2', '-sess_in', sess, '-ign_eof'], 'GET / HTTP/1.0\r\n\r\n');
      assert.match(second, reused ? /^Reused, /m : /^New, /m);
      assert.match(second, reused ? /cached r\n/ : /uncached \.\n/);
    }
  });

  test('plain HTTP on the TLS port gets nginx 400 page, or the 497 error_page', async () => {
    const res = await curl([`http://127.0.0.1:${PORT}/x?y=1`, '-H', 'Host: other.test']);
    assert.equal(res.status, 302);
    assert.equal(res.headers.location, `https://other.test:${PORT}/x?y=1`);
    const page = await curl([`http://127.0.0.1:${MTLS}/`]);
    assert.equal(page.status, 400);
    assert.match(page.body, /The plain HTTP request was sent to HTTPS port/);
  });

  test('return 301 https://$host$request_uri redirects plain HTTP to https', async () => {
    const res = await curl([`http://127.0.0.1:${PLAIN}/p?q=1`, '-H', 'Host: a.test']);
    assert.equal(res.status, 301);
    assert.equal(res.headers.location, 'https://a.test/p?q=1');
  });

  test('ssl_verify_client on refuses a request without a certificate with 496', async () => {
    const res = await curl(['--http1.1', ...resolve('on.test', MTLS), `https://on.test:${MTLS}/`]);
    assert.equal(res.status, 400);
    assert.match(res.body, /No required SSL certificate was sent/);
  });

  test('a certificate from the trusted CA passes and fills the client variables', async () => {
    const res = await curl(['--http1.1', ...resolve('on.test', MTLS), '--cert', client.certFile, '--key', client.keyFile, `https://on.test:${MTLS}/`]);
    assert.equal(res.status, 200);
    const [verify, sdn, idn, serial, fp] = res.body.trim().split('|');
    assert.equal(verify, 'SUCCESS');
    assert.equal(sdn, 'CN=alice,O=Portico Tests');
    assert.equal(idn, 'CN=Portico Test CA,O=Portico Tests');
    assert.match(serial!, /^[0-9A-F]+$/);
    assert.match(fp!, /^[0-9a-f]{40}$/);
    const cert = await curl(['--http1.1', ...resolve('on.test', MTLS), '--cert', client.certFile, '--key', client.keyFile, `https://on.test:${MTLS}/cert`]);
    assert.equal(cert.body.split('\n')[0], '-----BEGIN CERTIFICATE-----');
    assert.match(cert.body, /\n\t-----END CERTIFICATE-----\n$/);
  });

  test('openssl s_client presents a client certificate chosen by SNI', async () => {
    const out = await sClient(
      ['-connect', `127.0.0.1:${MTLS}`, '-servername', 'on.test', '-cert', client.certFile, '-key', client.keyFile, '-CAfile', pki.ca.certFile, '-ign_eof'],
      'GET / HTTP/1.1\r\nHost: on.test\r\nConnection: close\r\n\r\n',
    );
    assert.match(out, /Acceptable client certificate CA names\n.*CN ?= ?Portico Test CA/);
    assert.match(out, /HTTP\/1\.1 200 OK/);
    assert.match(out, /\r\n\r\nSUCCESS\|CN=alice/);
  });

  test('a certificate from an unknown issuer gets 495 with optional, passes with optional_no_ca', async () => {
    const bad = await curl(['--http1.1', ...resolve('optional.test', MTLS), '--cert', stranger.certFile, '--key', stranger.keyFile, `https://optional.test:${MTLS}/`]);
    assert.equal(bad.status, 400);
    assert.match(bad.body, /The SSL certificate error/);
    const none = await curl(['--http1.1', ...resolve('optional.test', MTLS), `https://optional.test:${MTLS}/`]);
    assert.equal(none.body, 'NONE\n');
    const noca = await curl(['--http1.1', ...resolve('noca.test', MTLS), '--cert', stranger.certFile, '--key', stranger.keyFile, `https://noca.test:${MTLS}/`]);
    assert.equal(noca.status, 200);
    assert.match(noca.body, /^FAILED:self[- ]signed certificate CN=mallory,O=Portico Tests\n$/);
    assert.match(dp.errorLog(), /client SSL certificate verify error/);
  });

  test('a server without ssl_verify_client does not ask for a certificate', async () => {
    const out = await sClient(['-connect', `127.0.0.1:${MTLS}`, '-servername', 'plain.test', '-CAfile', pki.ca.certFile]);
    assert.match(out, /No client certificate CA names sent/);
    const res = await curl(['--http1.1', ...resolve('plain.test', MTLS), '--cert', client.certFile, '--key', client.keyFile, `https://plain.test:${MTLS}/`]);
    assert.equal(res.body, 'NONE\n');
  });
});

describe('TLS configuration errors', () => {
  let pki: TestPki;
  before(() => {
    pki = new TestPki();
  });
  after(() => pki.remove());

  const fails = async (conf: string, message: RegExp) => {
    await assert.rejects(startDataplane(conf), (err: Error) => {
      assert.match(err.message, message);
      return true;
    });
  };

  test('a certificate without a key is refused', async () => {
    const p = pki.server(['k.test']);
    await fails(`http { server { listen 127.0.0.1:27110 ssl; ssl_certificate ${p.certFile}; } }`, /no "ssl_certificate_key" is defined for certificate ".*\.crt"/);
  });

  test('listen ssl without a certificate is refused', async () => {
    await fails(`http { server { listen 127.0.0.1:27111 ssl; } }`, /no "ssl_certificate" is defined for the "listen \.\.\. ssl" directive in .*nginx\.conf:\d+/);
  });

  test('an unreadable certificate file names the file', async () => {
    await fails(`http { server { listen 127.0.0.1:27112 ssl; ssl_certificate /nonexistent.crt; ssl_certificate_key /nonexistent.key; } }`, /cannot load certificate "\/nonexistent\.crt": BIO_new_file\(\) failed/);
  });

  test('a key that does not match its certificate is refused', async () => {
    const a = pki.server(['a.test']);
    const b = pki.server(['b.test']);
    await fails(`http { server { listen 127.0.0.1:27113 ssl; ssl_certificate ${a.certFile}; ssl_certificate_key ${b.keyFile}; } }`, /cannot load certificate ".*": .*key values mismatch/);
  });

  test('bad values of ssl_verify_client and ssl_protocols are refused', async () => {
    await fails(`http { server { ssl_verify_client maybe; } }`, /invalid value "maybe" in "ssl_verify_client" directive/);
    await fails(`http { server { ssl_protocols TLSv1.2 TLSv9; } }`, /invalid value "TLSv9"/);
  });
});
