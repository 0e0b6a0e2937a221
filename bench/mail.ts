/**
 * Mail proxy benchmark: POP3 through bin/portico-dataplane against a fake upstream on loopback.
 * - relay: MB/s of one 64 MB RETR, through Portico and direct (the upstream alone), same client;
 * - logins: full sessions per second (greeting, USER, PASS → auth_http → upstream login, QUIT), 50 at a time.
 * Run: node_modules/.bin/node bench/mail.ts   (ports 23600-23699)
 */
import http from 'node:http';
import net from 'node:net';
import { startPortico } from '../test/support/portico-process.ts';

const P = { portico: 23600, upstream: 23610, auth: 23611 };
const BODY = Buffer.alloc(64 * 1024 * 1024, 'x');
const LOGINS = 2000;

const upstream = net.createServer((c) => {
  c.write('+OK fake ready\r\n');
  let buf = '';
  c.on('data', (d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\r\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 2);
      if (line.startsWith('RETR')) {
        c.write('+OK\r\n');
        c.write(BODY);
        c.write('\r\n.\r\n');
      } else if (line === 'QUIT') c.end('+OK bye\r\n');
      else c.write('+OK\r\n');
    }
  });
  c.on('error', () => {});
});
await new Promise<void>((r) => upstream.listen(P.upstream, '127.0.0.1', r));
const auth = http.createServer((_req, res) => {
  res.writeHead(200, { 'Auth-Status': 'OK', 'Auth-Server': '127.0.0.1', 'Auth-Port': String(P.upstream), 'Auth-Pass': 'x' });
  res.end();
});
await new Promise<void>((r) => auth.listen(P.auth, '127.0.0.1', r));
const portico = await startPortico(`events { worker_connections 4096; }
error_log %PREFIX%/error.log error;
mail { auth_http 127.0.0.1:${P.auth}/; server { listen 127.0.0.1:${P.portico}; protocol pop3; proxy_buffer 64k; } }`);

/** session logs in (through Portico when `login`), optionally RETRs, and resolves with bytes received. */
function session(port: number, login: boolean, retr: boolean): Promise<number> {
  return new Promise((resolve, reject) => {
    const c = net.connect(port, '127.0.0.1');
    // Replies expected before RETR/QUIT: greeting, USER (+ PASS through Portico).
    let lines = login ? 3 : 2;
    let got = 0;
    let tail = '';
    let phase: 'login' | 'retr' | 'quit' = 'login';
    c.write(login ? 'USER u\r\nPASS p\r\n' : 'USER u\r\n');
    c.on('data', (d: Buffer) => {
      got += d.length;
      if (phase === 'login') {
        for (const b of d) if (b === 0x0a && --lines === 0) break;
        if (lines > 0) return;
        phase = retr ? 'retr' : 'quit';
        c.write(retr ? 'RETR 1\r\n' : 'QUIT\r\n');
        return;
      }
      tail = (tail + d.toString('latin1', Math.max(0, d.length - 5))).slice(-5);
      if (phase === 'retr' && tail === '\r\n.\r\n') {
        phase = 'quit';
        c.write('QUIT\r\n');
      }
    });
    c.on('close', () => resolve(got));
    c.on('error', reject);
  });
}

async function relay(port: number, login: boolean): Promise<number> {
  const t0 = process.hrtime.bigint();
  const bytes = await session(port, login, true);
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  return bytes / 1024 / 1024 / s;
}

const direct = await relay(P.upstream, false);
const proxied = await relay(P.portico, true);
const t0 = process.hrtime.bigint();
for (let done = 0; done < LOGINS; done += 50) await Promise.all(Array.from({ length: 50 }, () => session(P.portico, true, false)));
const perSec = LOGINS / (Number(process.hrtime.bigint() - t0) / 1e9);
console.log(`relay 64 MB RETR: direct ${direct.toFixed(0)} MB/s, through Portico ${proxied.toFixed(0)} MB/s`);
console.log(`POP3 logins (auth_http + upstream login + QUIT), 50 concurrent: ${perSec.toFixed(0)} sessions/s`);
await portico.stop();
upstream.close();
auth.close();
