import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import type net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type tls from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { request } from 'undici';
import { startDataplane, type Dataplane } from '../../support/dataplane.ts';

const PORT = 26501;

/** makePki creates a CA, a server certificate for upstream.test and a client certificate, with openssl. */
function makePki(): Record<string, string> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'portico-pki-'));
  const run = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  run('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=Test CA');
  for (const [name, cn] of [['server', 'upstream.test'], ['client', 'portico-client']]) {
    run('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`);
    fs.writeFileSync(path.join(dir, `${name}.ext`), `subjectAltName=DNS:${cn}\n`);
    run('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.pem`, '-days', '2', '-extfile', `${name}.ext`);
  }
  const out: Record<string, string> = {};
  for (const f of ['ca.pem', 'server.pem', 'server.key', 'client.pem', 'client.key']) out[f] = fs.readFileSync(path.join(dir, f), 'utf8');
  fs.rmSync(dir, { recursive: true, force: true });
  return out;
}

describe('TLS to upstreams', () => {
  let dp: Dataplane;
  let server: https.Server;
  before(async () => {
    const pki = makePki();
    server = https.createServer({ key: pki['server.key'], cert: pki['server.pem'], ca: pki['ca.pem'], requestCert: true, rejectUnauthorized: false }, (req, res) => {
      const s = req.socket as tls.TLSSocket;
      const peer = s.getPeerCertificate();
      res.end(JSON.stringify({ sni: (s as tls.TLSSocket & { servername?: string | false }).servername || '', client: peer?.subject?.CN ?? '', authorized: s.authorized }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const up = (server.address() as net.AddressInfo).port;
    dp = await startDataplane(`http { server { listen 127.0.0.1:${PORT};
      location /verify { proxy_pass https://127.0.0.1:${up}; proxy_ssl_verify on; proxy_ssl_trusted_certificate ca.pem;
        proxy_ssl_name upstream.test; proxy_ssl_server_name on; proxy_ssl_certificate client.pem; proxy_ssl_certificate_key client.key; }
      location /wrongname { proxy_pass https://127.0.0.1:${up}; proxy_ssl_verify on; proxy_ssl_trusted_certificate ca.pem; proxy_ssl_name other.test; }
      location /untrusted { proxy_pass https://127.0.0.1:${up}; proxy_ssl_verify on; proxy_ssl_name upstream.test; }
      location /noverify { proxy_pass https://127.0.0.1:${up}; }
    } }`, { 'ca.pem': pki['ca.pem']!, 'client.pem': pki['client.pem']!, 'client.key': pki['client.key']! });
  });
  after(async () => {
    await dp.stop();
    server.closeAllConnections();
    server.close();
  });

  test('a verified upstream gets SNI from proxy_ssl_name and our client certificate', async () => {
    const res = await request(`http://127.0.0.1:${PORT}/verify`);
    assert.equal(res.statusCode, 200);
    assert.deepEqual(await res.body.json(), { sni: 'upstream.test', client: 'portico-client', authorized: true });
  });

  test('without proxy_ssl_server_name no SNI is sent, and without verification any certificate is accepted', async () => {
    const res = await request(`http://127.0.0.1:${PORT}/noverify`);
    assert.equal(res.statusCode, 200);
    assert.deepEqual(await res.body.json(), { sni: '', client: '', authorized: false });
  });

  test('a certificate for another name or from an untrusted CA is 502 with a verify error in the log', async () => {
    for (const p of ['/wrongname', '/untrusted']) {
      const res = await request(`http://127.0.0.1:${PORT}${p}`);
      assert.equal(res.statusCode, 502, p);
      await res.body.dump();
    }
    assert.match(dp.errorLog(), /upstream SSL certificate verify error: \(ERR_TLS_CERT_ALTNAME_INVALID.*while SSL handshaking to upstream.*\/wrongname/);
    assert.match(dp.errorLog(), /upstream SSL certificate verify error: \(\w+.*while SSL handshaking to upstream.*\/untrusted/);
  });
});
