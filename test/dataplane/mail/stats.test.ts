/**
 * The mail counters a worker keeps for the metrics exporter (in-process API: the cycle runs in a worker thread
 * of the test), including that every session is closed and uncounted from `active` however it ends.
 * Ports 23400-23449.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import nodemailer from 'nodemailer';
import { LineClient } from '../../support/line-client.ts';
import { PASS, PREAMBLE, USER, passwordOk, unescapeAuth } from '../../support/mail-fixture.ts';
import { ensureMailPackages, startAuthServer, startSmtpServer, type AuthReply, type AuthServer, type SmtpServer } from '../../support/mail-servers.ts';
import { startCycleWorker, type CycleWorker } from '../../support/portico-worker.ts';

const P = { smtp: 23400, down: 23401, upstream: 23420, auth: 23421, closed: 23429, deadAuth: 23430 };
let smtp: SmtpServer;
let auth: AuthServer;
let portico: CycleWorker;
const b64 = (s: string) => Buffer.from(s, 'latin1').toString('base64');

before(async () => {
  ensureMailPackages();
  smtp = await startSmtpServer(P.upstream, USER, PASS);
  auth = await startAuthServer(P.auth, (h): AuthReply => {
    const user = unescapeAuth(String(h['auth-user']));
    if (user === 'slow') return { headers: { 'Auth-Status': 'OK' }, delayMs: 2000 };
    if (user === 'nowhere') return { headers: { 'Auth-Status': 'OK', 'Auth-Server': '127.0.0.1', 'Auth-Port': String(P.closed) } };
    if (!passwordOk(h)) return { headers: { 'Auth-Status': 'Invalid login or password' } };
    return { headers: { 'Auth-Status': 'OK', 'Auth-Server': '127.0.0.1', 'Auth-Port': String(P.upstream) } };
  });
  portico = await startCycleWorker(`${PREAMBLE}
mail {
  auth_http 127.0.0.1:${P.auth}/;
  server { listen 127.0.0.1:${P.smtp}; protocol smtp; }
  server { listen 127.0.0.1:${P.down}; protocol smtp; auth_http 127.0.0.1:${P.deadAuth}/; }
}`);
});

after(async () => {
  await portico?.stop();
  await smtp?.stop();
  await auth?.stop();
});

async function login(port: number, user: string, pass: string): Promise<LineClient> {
  const c = await LineClient.connect(port);
  await c.expect(/220 .*\r\n/);
  c.send(`AUTH PLAIN ${b64(`\0${user}\0${pass}`)}\r\n`);
  return c;
}

async function settled(): Promise<any> {
  for (let i = 0; ; i++) {
    const stats = await portico.stats();
    if (stats.active.smtp === 0 || i === 60) return stats;
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('mail counters', () => {
  it('count sessions and auth results, and close every session however it ends', async () => {
    const t = nodemailer.createTransport({ host: '127.0.0.1', port: P.smtp, secure: false, ignoreTLS: true, auth: { user: USER, pass: PASS } });
    await t.sendMail({ from: 'bob@example.org', to: 'alice@example.org', subject: 'counted', text: 'x' });
    t.close();

    const wrong = await login(P.smtp, USER, 'wrong');
    assert.match(await wrong.expect(/\r\n/), /^535 /);
    await wrong.closed;

    const down = await login(P.down, USER, PASS);
    assert.match(await down.expect(/\r\n/), /^451 /);
    await down.closed;

    const nowhere = await login(P.smtp, 'nowhere', PASS);
    assert.match(await nowhere.expect(/\r\n/), /^451 /);
    await nowhere.closed;

    const slow = await login(P.smtp, 'slow', PASS); // hangs up while auth_http is still waiting
    await new Promise((r) => setTimeout(r, 100));
    slow.close();

    const relayed = await login(P.smtp, USER, PASS); // hangs up in the middle of the relay
    assert.equal(await relayed.expect(/\r\n/), '235 2.0.0 OK\r\n');
    relayed.send('MAIL FROM:<bob@example.org>\r\n');
    await relayed.expect(/\r\n/);
    relayed.close();

    const stats = await settled();
    assert.equal(stats.active.smtp, 0);
    assert.equal(stats.sessions.smtp, 6);
    assert.deepEqual(stats.auth.smtp, { ok: 3, fail: 1, error: 1 });
    assert.equal(stats.upstreamErrors.smtp, 1);
    assert.equal(stats.sessions.imap + stats.sessions.pop3, 0);
  });
});
