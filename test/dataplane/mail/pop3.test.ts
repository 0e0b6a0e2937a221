/**
 * POP3 through the mail proxy: node-pop3 and a raw client, Debian's dovecot as the real upstream, an HTTP auth
 * server. Ports 23300-23399.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import Pop3Command from 'node-pop3';
import { LineClient } from '../../support/line-client.ts';
import { authHandler, PASS, PREAMBLE, unescapeAuth, USER } from '../../support/mail-fixture.ts';
import { ensureMailPackages, makeCert, startAuthServer, startDovecot, type AuthServer, type Dovecot } from '../../support/mail-servers.ts';
import { startPortico, type Portico } from '../../support/portico-process.ts';

const P = { plain: 23300, ssl: 23301, only: 23302, passError: 23303, imap: 23320, pop3: 23321, auth: 23322, closed: 23329 };
const TLS_FILES = `ssl_certificate %PREFIX%/localhost.crt; ssl_certificate_key %PREFIX%/localhost.key;`;

let dovecot: Dovecot;
let auth: AuthServer;
let portico: Portico;
const b64 = (s: string) => Buffer.from(s, 'latin1').toString('base64');
const ok = (port: number, extra: Record<string, string> = {}) => ({ headers: { 'Auth-Status': 'OK', 'Auth-Server': '127.0.0.1', 'Auth-Port': String(port), ...extra } });

before(async () => {
  ensureMailPackages();
  dovecot = await startDovecot({ imapPort: P.imap, pop3Port: P.pop3, users: { [USER]: PASS } });
  dovecot.deliver(USER, 'From: bob@example.org\nTo: alice@example.org\nSubject: POP3 via Portico\n\nLine one.\n.dot-stuffed line\n');
  const normal = authHandler({ pop3: P.pop3 });
  auth = await startAuthServer(P.auth, (h) => {
    if (unescapeAuth(String(h['auth-user'])).startsWith('mallory')) return ok(P.pop3, { 'Auth-Pass': PASS });
    switch (unescapeAuth(String(h['auth-user']))) {
      case 'bob':
        return ok(P.closed, { 'Auth-Pass': PASS });
      case 'carol':
        return ok(P.pop3, { 'Auth-User': USER, 'Auth-Pass': PASS });
      case 'dave':
        return ok(P.pop3, { 'Auth-User': USER, 'Auth-Pass': 'not-the-password' });
    }
    return normal(h);
  });
  portico = await startPortico(`${PREAMBLE}
mail {
  server_name pop.portico.test;
  auth_http 127.0.0.1:${P.auth}/auth;
  pop3_auth plain apop cram-md5;
  server { listen 127.0.0.1:${P.plain}; protocol pop3; }
  server { listen 127.0.0.1:${P.ssl} ssl; protocol pop3; ${TLS_FILES} }
  server { listen 127.0.0.1:${P.only}; protocol pop3; starttls only; pop3_auth plain; ${TLS_FILES} }
  server { listen 127.0.0.1:${P.passError}; protocol pop3; proxy_pass_error_message on; }
}`, (prefix) => makeCert(prefix));
});

after(async () => {
  await portico?.stop();
  await dovecot?.stop();
  await auth?.stop();
});

async function greet(port: number): Promise<{ c: LineClient; salt: string }> {
  const c = await LineClient.connect(port);
  const line = await c.expect(/\r\n/);
  const salt = /(<[^>]+>)/.exec(line)?.[1] ?? '';
  return { c, salt };
}

describe('POP3 proxy', () => {
  it('logs in with node-pop3 (USER/PASS) and retrieves a real message from dovecot', async () => {
    const pop = new Pop3Command({ host: '127.0.0.1', port: P.plain, user: USER, password: PASS });
    const list = await pop.UIDL();
    assert.equal(list.length, 1);
    const msg = await pop.RETR(1);
    assert.match(msg, /Subject: POP3 via Portico/);
    assert.match(msg, /\.dot-stuffed line/);
    await pop.QUIT();
  });

  it('retrieves over implicit TLS (listen … ssl) with node-pop3', async () => {
    const from = auth.requests.length;
    const pop = new Pop3Command({ host: '127.0.0.1', port: P.ssl, user: USER, password: PASS, tls: true, tlsOptions: { rejectUnauthorized: false } });
    assert.equal((await pop.UIDL()).length, 1);
    await pop.QUIT();
    assert.equal(auth.requests[from]!['auth-ssl'], 'on');
  });

  it('puts the APOP challenge in the greeting and logs in with APOP', async () => {
    const { c, salt } = await greet(P.plain);
    assert.match(salt, /^<\d+\.\d+@pop\.portico\.test>$/);
    const from = auth.requests.length;
    c.send(`APOP ${USER} ${crypto.createHash('md5').update(salt + PASS).digest('hex')}\r\n`);
    assert.match(await c.expect(/\r\n/), /^\+OK /);
    assert.equal(auth.requests[from]!['auth-method'], 'apop');
    assert.equal(auth.requests[from]!['auth-salt'], salt);
    c.send('STAT\r\n');
    assert.match(await c.expect(/\r\n/), /^\+OK 1 /);
    c.close();
  });

  it('logs in with AUTH CRAM-MD5, AUTH PLAIN and AUTH LOGIN', async () => {
    const cram = await greet(P.plain);
    cram.c.send('AUTH CRAM-MD5\r\n');
    const challenge = Buffer.from((await cram.c.expect(/\r\n/)).slice(2, -2), 'base64').toString();
    assert.equal(challenge, cram.salt);
    cram.c.send(`${b64(`${USER} ${crypto.createHmac('md5', PASS).update(challenge).digest('hex')}`)}\r\n`);
    assert.match(await cram.c.expect(/\r\n/), /^\+OK /);
    cram.c.close();

    const plain = await greet(P.plain);
    plain.c.send(`AUTH PLAIN ${b64(`\0${USER}\0${PASS}`)}\r\n`);
    assert.match(await plain.c.expect(/\r\n/), /^\+OK /);
    plain.c.close();

    const login = await greet(P.plain);
    login.c.send('AUTH LOGIN\r\n');
    assert.equal(await login.c.expect(/\r\n/), '+ VXNlcm5hbWU6\r\n');
    login.c.send(`${b64(USER)}\r\n`);
    assert.equal(await login.c.expect(/\r\n/), '+ UGFzc3dvcmQ6\r\n');
    login.c.send(`${b64(PASS)}\r\n`);
    assert.match(await login.c.expect(/\r\n/), /^\+OK /);
    login.c.close();
  });

  it('lists capabilities with SASL, and hides USER and SASL before STLS under starttls only', async () => {
    const { c } = await greet(P.plain);
    c.send('CAPA\r\nAUTH\r\n');
    assert.equal(await c.expect(/\.\r\n/), '+OK Capability list follows\r\nTOP\r\nUSER\r\nUIDL\r\nSASL LOGIN PLAIN CRAM-MD5\r\n.\r\n');
    assert.equal(await c.expect(/\.\r\n/), '+OK methods supported:\r\nLOGIN\r\nPLAIN\r\nCRAM-MD5\r\n.\r\n');
    c.close();
    const only = await greet(P.only);
    assert.equal(only.salt, '');
    only.c.send(`CAPA\r\nUSER ${USER}\r\nSTLS\r\n`);
    assert.equal(await only.c.expect(/\.\r\n/), '+OK Capability list follows\r\nTOP\r\nUIDL\r\nSTLS\r\n.\r\n');
    assert.equal(await only.c.expect(/\r\n/), '-ERR invalid command\r\n');
    assert.equal(await only.c.expect(/\r\n/), '+OK\r\n');
    await only.c.startTls();
    only.c.send(`CAPA\r\nUSER ${USER}\r\nPASS ${PASS}\r\n`);
    assert.equal(await only.c.expect(/\.\r\n/), '+OK Capability list follows\r\nTOP\r\nUSER\r\nUIDL\r\nSASL LOGIN PLAIN\r\n.\r\n');
    assert.equal(await only.c.expect(/\r\n/), '+OK\r\n');
    assert.match(await only.c.expect(/\r\n/), /^\+OK /);
    only.c.close();
  });

  it('holds a wrong password for Auth-Wait and answers -ERR, then accepts a retry', async () => {
    const { c } = await greet(P.plain);
    const t0 = Date.now();
    c.send(`USER ${USER}\r\nPASS wrong\r\n`);
    assert.equal(await c.expect(/\r\n/), '+OK\r\n');
    assert.equal(await c.expect(/\r\n/), '-ERR Invalid login or password\r\n');
    assert.ok(Date.now() - t0 >= 900);
    c.send(`USER ${USER}\r\nPASS ${PASS}\r\n`);
    assert.equal(await c.expect(/\r\n/), '+OK\r\n');
    assert.match(await c.expect(/\r\n/), /^\+OK /);
    c.close();
  });

  it('logs in upstream with the Auth-User and Auth-Pass the auth server returns', async () => {
    const pop = new Pop3Command({ host: '127.0.0.1', port: P.plain, user: 'carol', password: 'whatever' });
    assert.match(await pop.RETR(1), /Subject: POP3 via Portico/);
    await pop.QUIT();
  });

  it('answers -ERR internal server error when the upstream refuses the connection', async () => {
    const { c } = await greet(P.plain);
    c.send(`USER bob\r\nPASS ${PASS}\r\n`);
    assert.equal(await c.expect(/\r\n/), '+OK\r\n');
    assert.equal(await c.expect(/\r\n/), '-ERR internal server error\r\n');
    await c.closed;
    assert.match(portico.readLog(), /connect\(\) failed \(111: Connection refused\).*upstream: 127\.0\.0\.1:23329/);
  });

  it('passes the upstream error to the client only with proxy_pass_error_message', async () => {
    const quiet = await greet(P.plain);
    quiet.c.send('USER dave\r\nPASS x\r\n');
    await quiet.c.expect(/\r\n/);
    assert.equal(await quiet.c.expect(/\r\n/), '-ERR internal server error\r\n');
    quiet.c.close();
    const loud = await greet(P.passError);
    loud.c.send('USER dave\r\nPASS x\r\n');
    await loud.c.expect(/\r\n/);
    assert.match(await loud.c.expect(/\r\n/), /^-ERR \[AUTH\] Authentication failed/);
    loud.c.close();
  });

  it('never lets a line break in a decoded login reach the upstream as a new command', async () => {
    const { c } = await greet(P.plain);
    c.send(`AUTH PLAIN ${b64(`\0mallory\r\nDELE 1\0${PASS}`)}\r\n`);
    assert.equal(await c.expect(/\r\n/), '-ERR internal server error\r\n');
    await c.closed;
    assert.match(portico.readLog(), /login or password contains a line break .*login: "mallory\\x0d\\x0aDELE 1"/);
  });

  it('rejects commands out of order and lines longer than its 128-byte buffer', async () => {
    const { c } = await greet(P.plain);
    c.send(`PASS early\r\nUSER ${USER}\r\nAPOP ${USER} x\r\nRETR 1\r\n`);
    assert.equal(await c.expect(/\r\n/), '-ERR invalid command\r\n');
    assert.equal(await c.expect(/\r\n/), '+OK\r\n');
    assert.equal(await c.expect(/\r\n/), '-ERR invalid command\r\n');
    assert.equal(await c.expect(/\r\n/), '-ERR invalid command\r\n');
    c.send(`USER ${'x'.repeat(200)}\r\n`);
    assert.equal(await c.expect(/\r\n/), '-ERR invalid command\r\n');
    await c.closed;
  });
});
