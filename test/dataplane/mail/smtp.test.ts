/**
 * SMTP through the mail proxy: nodemailer as the client, aiosmtpd as the real upstream, an HTTP auth server.
 * Ports 23100-23199.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import nodemailer from 'nodemailer';
import { LineClient } from '../../support/line-client.ts';
import { authHandler, PASS, PREAMBLE, USER } from '../../support/mail-fixture.ts';
import { ensureMailPackages, makeCert, startAuthServer, startSmtpServer, type AuthServer, type SmtpServer } from '../../support/mail-servers.ts';
import { startDnsServer, type DnsServer } from '../../support/dns-server.ts';
import { startPortico, type Portico } from '../../support/portico-process.ts';

const P = {
  xclient: 23100,
  smtpAuth: 23101,
  none: 23102,
  starttlsOnly: 23103,
  delay: 23104,
  strict: 23105,
  authDown: 23106,
  authSlow: 23107,
  ssl: 23108,
  resolved: 23109,
  unresolved: 23110,
  v6: 23111,
  idle: 23112,
  smallBuffer: 23113,
  upstream: 23120,
  auth: 23121,
  slowAuth: 23122,
  deadAuth: 23129,
  dns: 23130,
  deadDns: 23131,
};

let smtp: SmtpServer;
let auth: AuthServer;
let slowAuth: AuthServer;
let portico: Portico;
let dns: DnsServer;
const b64 = (s: string) => Buffer.from(s, 'latin1').toString('base64');

before(async () => {
  ensureMailPackages();
  smtp = await startSmtpServer(P.upstream, USER, PASS);
  auth = await startAuthServer(P.auth, authHandler({ smtp: P.upstream }));
  slowAuth = await startAuthServer(P.slowAuth, () => ({ headers: { 'Auth-Status': 'OK' }, delayMs: 3000 }));
  dns = await startDnsServer(P.dns, { 'client.portico.test': '127.0.0.1' });
  portico = await startPortico(`${PREAMBLE}
mail {
  server_name mx.portico.test;
  auth_http 127.0.0.1:${P.auth}/mail/auth;
  auth_http_header X-Auth-Key "secret key";
  smtp_auth login plain cram-md5;
  server { listen 127.0.0.1:${P.xclient}; protocol smtp; }
  server { listen 127.0.0.1:${P.smtpAuth}; protocol smtp; xclient off; proxy_smtp_auth on; }
  server { listen 127.0.0.1:${P.none}; protocol smtp; smtp_auth none; }
  server {
    listen 127.0.0.1:${P.starttlsOnly};
    protocol smtp;
    starttls only;
    ssl_certificate %PREFIX%/localhost.crt;
    ssl_certificate_key %PREFIX%/localhost.key;
  }
  server { listen 127.0.0.1:${P.delay}; protocol smtp; smtp_greeting_delay 500ms; }
  server { listen 127.0.0.1:${P.strict}; protocol smtp; timeout 400ms; max_errors 3; smtp_client_buffer 128; }
  server { listen 127.0.0.1:${P.authDown}; protocol smtp; auth_http 127.0.0.1:${P.deadAuth}/; }
  server { listen 127.0.0.1:${P.authSlow}; protocol smtp; auth_http 127.0.0.1:${P.slowAuth}/; auth_http_timeout 300ms; }
  server { listen 127.0.0.1:${P.resolved}; protocol smtp; resolver 127.0.0.1:${P.dns}; }
  server { listen [::1]:${P.v6}; protocol smtp; }
  server { listen 127.0.0.1:${P.idle}; protocol smtp; proxy_timeout 500ms; }
  server { listen 127.0.0.1:${P.smallBuffer}; protocol smtp; proxy_buffer 1k; }
  server { listen 127.0.0.1:${P.unresolved}; protocol smtp; resolver 127.0.0.1:${P.deadDns}; resolver_timeout 300ms; }
  server {
    listen 127.0.0.1:${P.ssl} ssl;
    protocol smtp;
    ssl_certificate %PREFIX%/localhost.crt;
    ssl_certificate_key %PREFIX%/localhost.key;
  }
}`, (prefix) => makeCert(prefix));
});

after(async () => {
  await portico?.stop();
  await smtp?.stop();
  await auth?.stop();
  await slowAuth?.stop();
  await dns?.stop();
});

function transport(port: number, extra: Record<string, unknown> = {}) {
  return nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true, name: 'client.test', auth: { user: USER, pass: PASS }, ...extra } as never);
}

async function send(port: number, extra: Record<string, unknown> = {}, subject = 'hello'): Promise<void> {
  const t = transport(port, extra);
  try {
    await t.sendMail({ from: 'bob@example.org', to: 'alice@example.org', subject, text: `body of ${subject}` });
  } finally {
    t.close();
  }
}

async function stored(subject: string) {
  const until = Date.now() + 5000;
  for (;;) {
    const m = smtp.messages().find((r) => r.data.includes(`Subject: ${subject}`));
    if (m) return m;
    if (Date.now() > until) throw new Error(`message "${subject}" never reached the upstream`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('SMTP proxy', () => {
  it('greets with the server name and lists the configured AUTH mechanisms', async () => {
    const c = await LineClient.connect(P.xclient);
    assert.equal(await c.expect(/\r\n/), '220 mx.portico.test ESMTP ready\r\n');
    c.send('EHLO client.test\r\n');
    assert.equal(await c.expect(/250 .*\r\n/), '250-mx.portico.test\r\n250 AUTH PLAIN LOGIN CRAM-MD5\r\n');
    c.send('HELO client.test\r\n');
    assert.equal(await c.expect(/\r\n/), '250 mx.portico.test\r\n');
    c.send('QUIT\r\n');
    assert.equal(await c.expect(/\r\n/), '221 2.0.0 Bye\r\n');
    await c.closed;
  });

  it('sends a real message with nodemailer, passing the client to the upstream with XCLIENT', async () => {
    await send(P.xclient, {}, 'via xclient');
    const m = await stored('via xclient');
    assert.equal(m.xclient, 'ADDR=127.0.0.1 LOGIN=alice NAME=[UNAVAILABLE]');
    assert.equal(m.helo, 'client.test');
    assert.equal(m.from, 'bob@example.org');
    assert.deepEqual(m.to, ['alice@example.org']);
    assert.match(m.data, /body of via xclient/);
  });

  it('sends nginx\'s auth_http headers', async () => {
    const from = auth.requests.length;
    await send(P.xclient, {}, 'headers');
    const raw = auth.rawHeaders[from]!;
    // undici writes its own lower-case host and connection headers; the rest follow nginx's order.
    const names = raw.filter((_, i) => i % 2 === 0).filter((n) => n !== 'host' && n !== 'connection');
    assert.deepEqual(names, ['Auth-Method', 'Auth-User', 'Auth-Pass', 'Auth-Protocol', 'Auth-Login-Attempt', 'Client-IP', 'Client-Host', 'X-Auth-Key']);
    const h = auth.requests[from]!;
    assert.equal(h['host'], '127.0.0.1');
    assert.equal(h['auth-method'], 'plain');
    assert.equal(h['auth-user'], USER);
    assert.equal(h['auth-pass'], PASS);
    assert.equal(h['auth-protocol'], 'smtp');
    assert.equal(h['auth-login-attempt'], '1');
    assert.equal(h['client-ip'], '127.0.0.1');
    assert.equal(h['client-host'], '[UNAVAILABLE]');
    assert.equal(h['auth-salt'], undefined);
    assert.equal(h['x-auth-key'], 'secret key');
  });

  it('resolves the client name with the resolver and hands it to auth_http and XCLIENT', async () => {
    const from = auth.requests.length;
    await send(P.resolved, {}, 'resolved');
    const m = await stored('resolved');
    assert.equal(auth.requests[from]!['client-host'], 'client.portico.test');
    assert.equal(m.xclient, 'ADDR=127.0.0.1 LOGIN=alice NAME=client.portico.test');
    assert.deepEqual(dns.queries.slice(-2), ['PTR 1.0.0.127.in-addr.arpa', 'A client.portico.test']);
  });

  it('says [TEMPUNAVAIL] when the resolver does not answer', async () => {
    const from = auth.requests.length;
    await send(P.unresolved, {}, 'unresolved');
    assert.equal(auth.requests[from]!['client-host'], '[TEMPUNAVAIL]');
  });

  it('asks the auth server again after Auth-Status: WAIT', async () => {
    const saved = auth.handler;
    let calls = 0;
    auth.handler = (h) => (++calls === 1 ? { headers: { 'Auth-Status': 'WAIT', 'Auth-Wait': '1' } } : saved(h));
    const t0 = Date.now();
    try {
      await send(P.xclient, {}, 'after wait');
    } finally {
      auth.handler = saved;
    }
    assert.equal(calls, 2);
    assert.ok(Date.now() - t0 >= 900);
    await stored('after wait');
  });

  for (const method of ['PLAIN', 'LOGIN', 'CRAM-MD5']) {
    it(`authenticates with AUTH ${method}`, async () => {
      const from = auth.requests.length;
      await send(P.xclient, { auth: { user: USER, pass: PASS, method } }, `mech ${method}`);
      await stored(`mech ${method}`);
      const h = auth.requests[from]!;
      assert.equal(h['auth-method'], method === 'CRAM-MD5' ? 'cram-md5' : 'plain');
      if (method === 'CRAM-MD5') assert.match(String(h['auth-salt']), /^<\d+\.\d+@mx\.portico\.test>$/);
    });
  }

  it('logs in upstream with AUTH PLAIN when proxy_smtp_auth is on and xclient off', async () => {
    await send(P.smtpAuth, {}, 'proxy auth');
    const m = await stored('proxy auth');
    assert.equal(m.login, USER);
    assert.equal(m.xclient, null);
  });

  it('takes MAIL FROM and RCPT TO without authentication under smtp_auth none', async () => {
    const from = auth.requests.length;
    await send(P.none, { auth: undefined }, 'no auth');
    const m = await stored('no auth');
    assert.equal(m.from, 'bob@example.org');
    const h = auth.requests[from]!;
    assert.equal(h['auth-method'], 'none');
    assert.equal(h['auth-smtp-helo'], 'client.test');
    assert.equal(h['auth-smtp-from'], 'MAIL FROM:<bob@example.org>');
    assert.equal(h['auth-smtp-to'], 'RCPT TO:<alice@example.org>');
  });

  it('asks for authentication before MAIL FROM unless smtp_auth none', async () => {
    const c = await LineClient.connect(P.xclient);
    await c.expect(/220 .*\r\n/);
    c.send('MAIL FROM:<bob@example.org>\r\nRCPT TO:<alice@example.org>\r\n');
    assert.equal(await c.expect(/\r\n/), '530 5.7.1 Authentication required\r\n');
    assert.equal(await c.expect(/\r\n/), '503 5.5.1 Bad sequence of commands\r\n');
    c.close();
  });

  it('offers STARTTLS and hides AUTH until TLS with starttls only', async () => {
    const c = await LineClient.connect(P.starttlsOnly);
    await c.expect(/220 .*\r\n/);
    c.send('EHLO client.test\r\n');
    assert.equal(await c.expect(/250 .*\r\n/), '250-mx.portico.test\r\n250 STARTTLS\r\n');
    c.send(`AUTH PLAIN ${b64(`\0${USER}\0${PASS}`)}\r\n`);
    assert.equal(await c.expect(/\r\n/), '500 5.5.1 Invalid command\r\n');
    c.send('STARTTLS\r\n');
    assert.equal(await c.expect(/\r\n/), '220 2.0.0 Start TLS\r\n');
    await c.startTls();
    c.send('EHLO client.test\r\n');
    assert.equal(await c.expect(/250 .*\r\n/), '250-mx.portico.test\r\n250 AUTH PLAIN LOGIN CRAM-MD5\r\n');
    c.close();
  });

  it('sends a message over STARTTLS with nodemailer', async () => {
    const from = auth.requests.length;
    await send(P.starttlsOnly, { ignoreTLS: false, requireTLS: true, tls: { rejectUnauthorized: false } }, 'over starttls');
    await stored('over starttls');
    assert.equal(auth.requests[from]!['auth-ssl'], 'on');
  });

  it('sends a message over implicit TLS (listen … ssl)', async () => {
    await send(P.ssl, { secure: true, tls: { rejectUnauthorized: false } }, 'implicit tls');
    await stored('implicit tls');
  });

  it('holds a wrong password for Auth-Wait seconds, answers 535 and lets the client retry', async () => {
    const c = await LineClient.connect(P.xclient);
    await c.expect(/220 .*\r\n/);
    const from = auth.requests.length;
    const t0 = Date.now();
    c.send(`AUTH PLAIN ${b64(`\0${USER}\0wrong`)}\r\n`);
    assert.equal(await c.expect(/\r\n/), '535 5.7.0 Invalid login or password\r\n');
    assert.ok(Date.now() - t0 >= 900, `replied after ${Date.now() - t0}ms, Auth-Wait is 1s`);
    c.send(`AUTH PLAIN ${b64(`\0${USER}\0${PASS}`)}\r\n`);
    assert.equal(await c.expect(/\r\n/), '235 2.0.0 OK\r\n');
    assert.equal(auth.requests[from + 1]!['auth-login-attempt'], '2');
    c.send('QUIT\r\n');
    assert.match(await c.expect(/\r\n/), /^221 /);
    c.close();
  });

  it('uses Auth-Error-Code and closes when the auth server gives no Auth-Wait', async () => {
    const saved = auth.handler;
    auth.handler = () => ({ headers: { 'Auth-Status': 'Relaying denied', 'Auth-Error-Code': '550 5.7.1' } });
    try {
      const c = await LineClient.connect(P.xclient);
      await c.expect(/220 .*\r\n/);
      c.send(`AUTH PLAIN ${b64(`\0${USER}\0${PASS}`)}\r\n`);
      assert.equal(await c.expect(/\r\n/), '550 5.7.1 Relaying denied\r\n');
      await c.closed;
    } finally {
      auth.handler = saved;
    }
  });

  it('escapes Auth-User and Auth-Pass as nginx does', async () => {
    const from = auth.requests.length;
    const c = await LineClient.connect(P.xclient);
    await c.expect(/220 .*\r\n/);
    c.send(`AUTH PLAIN ${b64(`\0al ice\0p a%s"#'\u00e9`)}\r\n`);
    await c.expect(/535 .*\r\n/, 3000);
    c.close();
    const raw = auth.rawHeaders[from]!;
    const get = (n: string) => raw[raw.indexOf(n) + 1];
    assert.equal(get('Auth-User'), 'al%20ice');
    assert.equal(get('Auth-Pass'), 'p%20a%25s%22%23%27%E9');
  });

  it('answers pipelined commands in order', async () => {
    const c = await LineClient.connect(P.xclient);
    await c.expect(/220 .*\r\n/);
    c.send('EHLO a\r\nNOOP\r\nRSET\r\nVRFY x\r\nHELO b\r\nQUIT\r\n');
    await c.closed;
    assert.equal(
      c.buffer,
      '250-mx.portico.test\r\n250 AUTH PLAIN LOGIN CRAM-MD5\r\n250 2.0.0 OK\r\n250 2.0.0 OK\r\n500 5.5.1 Invalid command\r\n250 mx.portico.test\r\n221 2.0.0 Bye\r\n',
    );
  });

  it('pipelines AUTH and the next command: the command waits for the login', async () => {
    const c = await LineClient.connect(P.xclient);
    await c.expect(/220 .*\r\n/);
    c.send(`EHLO a\r\nAUTH PLAIN ${b64(`\0${USER}\0${PASS}`)}\r\nMAIL FROM:<bob@example.org>\r\n`);
    await c.expect(/250 AUTH.*\r\n/);
    assert.equal(await c.expect(/\r\n/), '235 2.0.0 OK\r\n');
    assert.match(await c.expect(/\r\n/), /^250 /); // the upstream's answer to MAIL FROM
    c.close();
  });

  it('rejects a client that talks before the delayed greeting', async () => {
    const c = await LineClient.connect(P.delay);
    c.send('EHLO impatient\r\n');
    assert.equal(await c.expect(/\r\n/), '503 5.5.0 Improper use of SMTP command pipelining\r\n');
    await c.closed;
    const patient = await LineClient.connect(P.delay);
    const t0 = Date.now();
    await patient.expect(/220 .*\r\n/);
    assert.ok(Date.now() - t0 >= 400);
    patient.close();
  });

  it('closes after max_errors invalid commands', async () => {
    const c = await LineClient.connect(P.strict);
    await c.expect(/220 .*\r\n/);
    c.send('FOO\r\nBAR\r\nBAZ\r\nNOOP\r\n');
    await c.closed;
    assert.equal(c.buffer, '500 5.5.1 Invalid command\r\n'.repeat(3));
    assert.match(portico.readLog(), /client sent too many invalid commands/);
  });

  it('answers an over-long line with the error and closes', async () => {
    const c = await LineClient.connect(P.strict);
    await c.expect(/220 .*\r\n/);
    c.send(`HELO ${'a'.repeat(300)}\r\n`);
    await c.closed;
    assert.equal(c.buffer, '500 5.5.1 Invalid command\r\n');
    assert.match(portico.readLog(), /client sent too long command/);
  });

  it('closes an idle client after timeout', async () => {
    const c = await LineClient.connect(P.strict);
    await c.expect(/220 .*\r\n/);
    const t0 = Date.now();
    await c.closed;
    const took = Date.now() - t0;
    assert.ok(took >= 300 && took < 3000, `closed after ${took}ms, timeout is 400ms`);
    assert.match(portico.readLog(), /client timed out/);
  });

  it('relays a 3 MB message intact through a 1k proxy_buffer', async () => {
    const big = Array.from({ length: 40_000 }, (_, i) => `line ${i} ${'x'.repeat(64)}`).join('\r\n');
    const t = transport(P.smallBuffer);
    try {
      await t.sendMail({ from: 'bob@example.org', to: 'alice@example.org', subject: 'big one', text: big });
    } finally {
      t.close();
    }
    const m = await stored('big one');
    assert.ok(m.data.includes('line 39999 '), 'the last line arrived');
    assert.ok(m.data.length > 2_900_000);
  });

  it('closes a proxied session idle for proxy_timeout', async () => {
    const c = await LineClient.connect(P.idle);
    await c.expect(/220 .*\r\n/);
    c.send(`AUTH PLAIN ${b64(`\0${USER}\0${PASS}`)}\r\n`);
    assert.equal(await c.expect(/\r\n/), '235 2.0.0 OK\r\n');
    const t0 = Date.now();
    await c.closed;
    const took = Date.now() - t0;
    assert.ok(took >= 400 && took < 3000, `closed after ${took}ms, proxy_timeout is 500ms`);
    assert.match(portico.readLog(), /client timed out \(110: Connection timed out\) while proxying/);
  });

  it('listens on IPv6 and hands XCLIENT an IPV6: address', async () => {
    const from = auth.requests.length;
    const t = nodemailer.createTransport({ host: '::1', port: P.v6, secure: false, ignoreTLS: true, name: 'client.test', auth: { user: USER, pass: PASS } });
    try {
      await t.sendMail({ from: 'bob@example.org', to: 'alice@example.org', subject: 'over v6', text: 'six' });
    } finally {
      t.close();
    }
    const m = await stored('over v6');
    assert.equal(m.xclient, 'ADDR=IPV6:::1 LOGIN=alice NAME=[UNAVAILABLE]');
    assert.equal(auth.requests[from]!['client-ip'], '::1');
  });

  it('answers 451 and closes when the auth server is down', async () => {
    const c = await LineClient.connect(P.authDown);
    await c.expect(/220 .*\r\n/);
    c.send(`AUTH PLAIN ${b64(`\0${USER}\0${PASS}`)}\r\n`);
    assert.equal(await c.expect(/\r\n/), '451 4.3.2 Internal server error\r\n');
    await c.closed;
    assert.match(portico.readLog(), /connect\(\) to 127\.0\.0\.1:23129 failed \(111: Connection refused\)/);
  });

  it('answers 451 when the auth server is slower than auth_http_timeout', async () => {
    const c = await LineClient.connect(P.authSlow);
    await c.expect(/220 .*\r\n/);
    const t0 = Date.now();
    c.send(`AUTH PLAIN ${b64(`\0${USER}\0${PASS}`)}\r\n`);
    assert.equal(await c.expect(/\r\n/), '451 4.3.2 Internal server error\r\n');
    assert.ok(Date.now() - t0 < 2500);
    await c.closed;
    assert.match(portico.readLog(), /auth http server 127\.0\.0\.1:23122 timed out/);
  });

  it('survives a client that disconnects while auth_http runs', async () => {
    const c = await LineClient.connect(P.authSlow);
    await c.expect(/220 .*\r\n/);
    c.send(`AUTH PLAIN ${b64(`\0${USER}\0${PASS}`)}\r\n`);
    await new Promise((r) => setTimeout(r, 100));
    c.close();
    await new Promise((r) => setTimeout(r, 300));
    const again = await LineClient.connect(P.xclient);
    assert.match(await again.expect(/\r\n/), /^220 /);
    again.close();
  });
});
