/**
 * A reload (SIGHUP to bin/portico-dataplane) while a mail session is being proxied: the session goes on to
 * the end and is still logged, new sessions get the new configuration. Ports 23550-23599.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { LineClient } from '../../support/line-client.ts';
import { authHandler, PASS, PREAMBLE, USER } from '../../support/mail-fixture.ts';
import { ensureMailPackages, startAuthServer, startSmtpServer, type AuthServer, type SmtpServer } from '../../support/mail-servers.ts';
import { startPortico, type Portico } from '../../support/portico-process.ts';

const P = { smtp: 23550, upstream: 23570, auth: 23571 };
let smtp: SmtpServer;
let auth: AuthServer;
let portico: Portico;
const conf = (name: string) => `${PREAMBLE}
mail {
  server_name ${name};
  auth_http 127.0.0.1:${P.auth}/;
  server { listen 127.0.0.1:${P.smtp}; protocol smtp; }
}`;

before(async () => {
  ensureMailPackages();
  smtp = await startSmtpServer(P.upstream, USER, PASS);
  auth = await startAuthServer(P.auth, authHandler({ smtp: P.upstream }));
  portico = await startPortico(conf('before.test'));
});

after(async () => {
  await portico?.stop();
  await smtp?.stop();
  await auth?.stop();
});

describe('mail across a reload', () => {
  it('keeps a proxied session through a reload while new sessions use the new configuration', async () => {
    const old = await LineClient.connect(P.smtp);
    assert.equal(await old.expect(/\r\n/), '220 before.test ESMTP ready\r\n');
    old.send(`EHLO client.test\r\nAUTH PLAIN ${Buffer.from(`\0${USER}\0${PASS}`).toString('base64')}\r\n`);
    assert.equal(await old.expect(/235 .*\r\n/), '250-before.test\r\n250 AUTH PLAIN LOGIN\r\n235 2.0.0 OK\r\n');

    portico.reload(conf('after.test'));
    let greeting = '';
    for (let i = 0; i < 100 && !greeting.includes('after.test'); i++) {
      const c = await LineClient.connect(P.smtp);
      greeting = await c.expect(/\r\n/);
      c.close();
      if (!greeting.includes('after.test')) await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(greeting, '220 after.test ESMTP ready\r\n');

    old.send('MAIL FROM:<bob@example.org>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\n');
    await old.expect(/354 .*\r\n/);
    old.send('Subject: across reload\r\n\r\nstill here\r\n.\r\nQUIT\r\n');
    assert.match(await old.expect(/221 .*\r\n/), /250 2\.0\.0 Stored\r\n221 /);
    await old.closed;
    const [m] = await smtp.waitForMessages(1);
    assert.match(m!.data, /still here/);
    const number = /\*(\d+) client logged in/.exec(portico.readLog())![1];
    const done = new RegExp(`\\*${number} proxied session done`);
    let log = '';
    for (let i = 0; i < 100 && !done.test(log); i++) {
      await new Promise((r) => setTimeout(r, 20));
      log = portico.readLog();
    }
    assert.match(log, done);
    assert.equal((log.match(/\*1 client .* connected/g) ?? []).length, 1, 'connection numbers continue across the reload');
  });
});
