/**
 * Random and mutated client input against a running dataplane (bin/portico-dataplane): every protocol keeps
 * answering, nothing crashes, and each connection ends (reply, error or timeout) instead of hanging.
 * Ports 23450-23499.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { LineClient } from '../../support/line-client.ts';
import { PREAMBLE, rng } from '../../support/mail-fixture.ts';
import { startAuthServer, type AuthServer } from '../../support/mail-servers.ts';
import { startPortico, type Portico } from '../../support/portico-process.ts';

const P = { smtp: 23450, imap: 23451, pop3: 23452, auth: 23460 };
let portico: Portico;
let auth: AuthServer;

before(async () => {
  auth = await startAuthServer(P.auth, () => ({ headers: { 'Auth-Status': 'Invalid login', 'Auth-Wait': '0' } }));
  portico = await startPortico(`${PREAMBLE}
mail {
  auth_http 127.0.0.1:${P.auth}/;
  timeout 1s;
  max_errors 50;
  server { listen 127.0.0.1:${P.smtp}; protocol smtp; smtp_auth plain login cram-md5; }
  server { listen 127.0.0.1:${P.imap}; protocol imap; imap_auth plain login cram-md5; }
  server { listen 127.0.0.1:${P.pop3}; protocol pop3; pop3_auth plain apop cram-md5; }
}`);
});

after(async () => {
  await portico?.stop();
  await auth?.stop();
});

const WORDS = ['EHLO', 'HELO', 'AUTH', 'PLAIN', 'LOGIN', 'CRAM-MD5', 'MAIL', 'RCPT', 'STARTTLS', 'USER', 'PASS', 'APOP', 'CAPA', 'STLS', 'a1', 'CAPABILITY', 'AUTHENTICATE', '{5}', '{99999}', '{3+}', '"x', '\\', '*', '=', 'AGFAAGI='];

function garbage(r: () => number): Buffer {
  if (r() < 0.3) return Buffer.from(Array.from({ length: 1 + Math.floor(r() * 2000) }, () => Math.floor(r() * 256)));
  const parts: string[] = [];
  const n = 1 + Math.floor(r() * 30);
  for (let i = 0; i < n; i++) {
    parts.push(WORDS[Math.floor(r() * WORDS.length)]!);
    parts.push(r() < 0.7 ? ' ' : r() < 0.5 ? '\r\n' : '\n');
  }
  return Buffer.from(parts.join(''), 'latin1');
}

/** session sends garbage in a few writes and waits (bounded) for the server to answer or close. */
function session(port: number, r: () => number): Promise<void> {
  return new Promise((resolve) => {
    const c = net.connect(port, '127.0.0.1');
    const done = () => (clearTimeout(t), c.destroy(), resolve());
    const t = setTimeout(done, 3000);
    c.on('error', done);
    c.on('close', done);
    c.once('data', () => {
      const writes = 1 + Math.floor(r() * 4);
      for (let i = 0; i < writes; i++) c.write(garbage(r));
      if (r() < 0.5) c.end();
      setTimeout(done, 50 + Math.floor(r() * 200));
    });
  });
}

describe('mail proxy under random input', () => {
  it('answers 300 garbage sessions per protocol and keeps serving', async () => {
    const r = rng(20261122);
    for (const port of [P.smtp, P.imap, P.pop3]) {
      for (let batch = 0; batch < 10; batch++) await Promise.all(Array.from({ length: 30 }, () => session(port, r)));
    }
    for (const [port, greeting] of [
      [P.smtp, /^220 /],
      [P.imap, /^\* OK IMAP4 ready/],
      [P.pop3, /^\+OK POP3 ready/],
    ] as const) {
      const c = await LineClient.connect(port);
      assert.match(await c.expect(/\r\n/), greeting);
      c.close();
    }
    assert.doesNotThrow(() => process.kill(portico.pid, 0));
    assert.doesNotMatch(portico.readLog(), /\[(alert|emerg|crit)\]|TypeError|RangeError/);
  });
});
