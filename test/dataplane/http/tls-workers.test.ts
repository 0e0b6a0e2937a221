import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http2 from 'node:http2';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { TestPki, type Pem } from '../../support/certs.ts';
import { sClient } from '../../support/clients.ts';
import { makePrefix } from '../../support/dataplane.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const TICKETS = 27401;
const SHARED = 27402;
const H2 = 27403;

const connects = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });

/** Runs bin/portico-dataplane (master + 2 worker threads) on `conf` until it listens on `port`. */
async function startMaster(prefix: string, conf: string, port: number): Promise<ChildProcess> {
  fs.writeFileSync(path.join(prefix, 'nginx.conf'), conf);
  fs.mkdirSync(path.join(prefix, 'logs'), { recursive: true });
  const child = spawn(path.join(ROOT, 'bin/portico-dataplane'), ['-p', `${prefix}/`, '-c', 'nginx.conf'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  // The master writes its pid file only once every worker has bound every address; wait for that (a loaded
  // CI machine can take several seconds to start three threads), then for the port itself.
  const pidFile = path.join(prefix, 'logs/nginx.pid');
  for (let i = 0; !(fs.existsSync(pidFile) && (await connects(port))); i++) {
    if (child.exitCode !== null) throw new Error(`dataplane exited: ${err}`);
    if (i >= 600) throw new Error(`dataplane did not listen on ${port} within 60s: ${err}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return child;
}

const exited = (child: ChildProcess) => new Promise<void>((resolve) => (child.exitCode !== null ? resolve() : child.once('exit', () => resolve())));

describe('TLS and HTTP/2 with worker threads', () => {
  let pki: TestPki;
  let cert: Pem;
  let prefix: string;
  let master: ChildProcess;
  const conf = (body: string) => `worker_processes 2; daemon off; pid logs/nginx.pid; error_log logs/error.log info;
events {}
http {
  server { listen 127.0.0.1:${TICKETS} ssl; ssl_certificate ${cert.certFile}; ssl_certificate_key ${cert.keyFile}; return 200 "t\\n"; }
  server { listen 127.0.0.1:${SHARED} ssl; ssl_certificate ${cert.certFile}; ssl_certificate_key ${cert.keyFile};
    ssl_session_tickets off; ssl_session_cache shared:SSL:1m; return 200 "s\\n"; }
  server { listen 127.0.0.1:${H2}; http2 on; location / { return 200 "${body}\\n"; } location /slow { return 200 "x"; } }
}`;

  before(async () => {
    pki = new TestPki();
    cert = pki.server(['127.0.0.1']);
    prefix = makePrefix();
    master = await startMaster(prefix, conf('v1'), H2);
  });
  after(async () => {
    if (master.exitCode === null) {
      master.kill('SIGTERM');
      await exited(master);
    }
    pki.remove();
  });

  for (const [what, port] of [['session tickets', TICKETS], ['ssl_session_cache shared', SHARED]] as const) {
    test(`${what} resume on every worker`, async () => {
      const sess = path.join(pki.dir, `w-${port}.pem`);
      assert.match(await sClient(['-connect', `127.0.0.1:${port}`, '-tls1_2', '-sess_out', sess]), /^New, /m);
      // New connections land on either worker (SO_REUSEPORT); every one must resume.
      for (let i = 0; i < 8; i++) {
        assert.match(await sClient(['-connect', `127.0.0.1:${port}`, '-tls1_2', '-sess_in', sess]), /^Reused, /m, `attempt ${i}`);
      }
    });
  }

  test('a reload reaches the next stream of an open HTTP/2 session; QUIT sends GOAWAY', async () => {
    const session = http2.connect(`http://127.0.0.1:${H2}`);
    const ask = () =>
      new Promise<string>((resolve, reject) => {
        const req = session.request({ ':path': '/' });
        let body = '';
        req.setEncoding('utf8');
        req.on('data', (d: string) => (body += d));
        req.on('end', () => resolve(body));
        req.on('error', reject);
      });
    try {
      assert.equal(await ask(), 'v1\n');
      fs.writeFileSync(path.join(prefix, 'nginx.conf'), conf('v2'));
      master.kill('SIGHUP');
      let body = '';
      for (let i = 0; i < 50 && body !== 'v2\n'; i++) {
        body = await ask();
        if (body !== 'v2\n') await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal(body, 'v2\n');
      const goaway = new Promise<number>((resolve) => session.once('goaway', (c: number) => resolve(c)));
      master.kill('SIGQUIT');
      assert.equal(await goaway, http2.constants.NGHTTP2_NO_ERROR);
      await exited(master);
    } finally {
      session.destroy();
    }
  });
});
