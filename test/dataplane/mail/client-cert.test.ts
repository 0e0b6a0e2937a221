/**
 * Client certificates (ssl_verify_client, auth_http_pass_client_cert) and AUTH EXTERNAL, over POP3 with
 * implicit TLS: the certificate details reach the auth server as nginx's Auth-SSL-* headers. Dovecot is the
 * upstream. Ports 23500-23549.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { PASS, PREAMBLE, USER, unescapeAuth } from '../../support/mail-fixture.ts';
import { ensureMailPackages, makeCert, startAuthServer, startDovecot, type AuthReply, type AuthServer, type Dovecot } from '../../support/mail-servers.ts';
import { startPortico, type Portico } from '../../support/portico-process.ts';

const P = { pop3s: 23500, optional: 23501, imap: 23520, pop3: 23521, auth: 23522 };
let dovecot: Dovecot;
let auth: AuthServer;
let portico: Portico;
let files: Record<'ca' | 'caKey' | 'client' | 'clientKey' | 'stranger' | 'strangerKey', string>;

function openssl(...args: string[]): void {
  execFileSync('openssl', args, { stdio: 'ignore' });
}

/** makePki writes a CA, a client certificate it signed (CN=alice) and a self-signed stranger. */
function makePki(dir: string): void {
  const f = (n: string) => path.join(dir, n);
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('ca.key'), '-out', f('ca.crt'), '-subj', '/CN=Portico Test CA', '-days', '1');
  openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('client.key'), '-out', f('client.csr'), '-subj', '/O=Example/CN=alice');
  openssl('x509', '-req', '-in', f('client.csr'), '-CA', f('ca.crt'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f('client.crt'), '-days', '1');
  const s = makeCert(dir, 'stranger');
  files = { ca: f('ca.crt'), caKey: f('ca.key'), client: f('client.crt'), clientKey: f('client.key'), stranger: s.cert, strangerKey: s.key };
  makeCert(dir);
}

before(async () => {
  ensureMailPackages();
  dovecot = await startDovecot({ imapPort: P.imap, pop3Port: P.pop3, users: { [USER]: PASS } });
  auth = await startAuthServer(P.auth, (h): AuthReply =>
    h['auth-ssl-verify'] === 'SUCCESS' || h['auth-method'] === 'plain'
      ? { headers: { 'Auth-Status': 'OK', 'Auth-Server': '127.0.0.1', 'Auth-Port': String(P.pop3), 'Auth-User': USER, 'Auth-Pass': PASS } }
      : { headers: { 'Auth-Status': 'Certificate required' } },
  );
  const TLS = `ssl_certificate %PREFIX%/localhost.crt; ssl_certificate_key %PREFIX%/localhost.key; ssl_client_certificate %PREFIX%/ca.crt;`;
  portico = await startPortico(`${PREAMBLE}
mail {
  auth_http 127.0.0.1:${P.auth}/;
  auth_http_pass_client_cert on;
  pop3_auth plain external;
  server { listen 127.0.0.1:${P.pop3s} ssl; protocol pop3; ${TLS} ssl_verify_client on; }
  server { listen 127.0.0.1:${P.optional} ssl; protocol pop3; ${TLS} ssl_verify_client optional; }
}`, makePki);
});

after(async () => {
  if (process.env.DEBUG_MAIL) console.log(portico?.readLog());
  await portico?.stop();
  await dovecot?.stop();
  await auth?.stop();
});

/** dial opens implicit TLS, optionally presenting a certificate, and returns a tiny line reader. */
async function dial(port: number, cert?: string, key?: string) {
  const s = tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false, cert: cert && fs.readFileSync(cert), key: key && fs.readFileSync(key) });
  let got = '';
  let closed = false;
  s.on('data', (d) => (got += d));
  s.on('error', () => {});
  s.on('close', () => (closed = true));
  const line = async (): Promise<string> => {
    for (let i = 0; i < 500; i++) {
      const n = got.indexOf('\r\n');
      if (n >= 0) {
        const out = got.slice(0, n + 2);
        got = got.slice(n + 2);
        return out;
      }
      if (closed) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error(`no line; have ${JSON.stringify(got)}`);
  };
  return { s, line, closed: () => closed };
}

describe('client certificates', () => {
  it('refuses a client without a certificate under ssl_verify_client on', async () => {
    const c = await dial(P.pop3s);
    assert.equal(await c.line(), '-ERR No required SSL certificate\r\n');
    c.s.destroy();
  });

  it('refuses a certificate the CA did not sign', async () => {
    const c = await dial(P.pop3s, files.stranger, files.strangerKey);
    assert.equal(await c.line(), '-ERR SSL certificate error\r\n');
    c.s.destroy();
  });

  it('logs in with AUTH EXTERNAL and sends the certificate to auth_http', async () => {
    const from = auth.requests.length;
    const c = await dial(P.pop3s, files.client, files.clientKey);
    assert.match(await c.line(), /^\+OK POP3 ready/);
    c.s.write(`AUTH EXTERNAL ${Buffer.from(USER).toString('base64')}\r\n`);
    assert.match(await c.line(), /^\+OK /);
    c.s.write('STAT\r\n');
    assert.match(await c.line(), /^\+OK 0 0/);
    c.s.destroy();
    const h = auth.requests[from]!;
    const pem = fs.readFileSync(files.client, 'utf8');
    const x509 = new crypto.X509Certificate(pem);
    assert.equal(h['auth-method'], 'external');
    assert.equal(h['auth-user'], USER);
    assert.equal(h['auth-ssl'], 'on');
    assert.equal(h['auth-ssl-verify'], 'SUCCESS');
    assert.equal(h['auth-ssl-subject'], 'CN=alice,O=Example');
    assert.equal(h['auth-ssl-issuer'], 'CN=Portico Test CA');
    assert.equal(h['auth-ssl-serial'], x509.serialNumber.toUpperCase());
    assert.equal(h['auth-ssl-fingerprint'], crypto.createHash('sha1').update(x509.raw).digest('hex'));
    assert.equal(unescapeAuth(String(h['auth-ssl-cert'])).trim(), pem.trim());
  });

  it('reports NONE for a client without a certificate under optional', async () => {
    const from = auth.requests.length;
    const c = await dial(P.optional);
    assert.match(await c.line(), /^\+OK POP3 ready/);
    c.s.write(`USER ${USER}\r\nPASS ${PASS}\r\n`);
    assert.equal(await c.line(), '+OK\r\n');
    assert.match(await c.line(), /^\+OK /);
    c.s.destroy();
    assert.equal(auth.requests[from]!['auth-ssl-verify'], 'NONE');
  });
});
