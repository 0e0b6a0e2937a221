/**
 * Logs to the process's own output when that output is a socket (some container runtimes and log shippers
 * hand one over): opening /dev/stdout fails there with ENXIO, so the dataplane writes through the inherited
 * descriptor. Runs the real CLI (master + a worker thread) with stdout and stderr connected to sockets.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import net from 'node:net';
import { test } from 'node:test';
import { BIN, canConnect, makePrefix, waitFor } from '../../support/dataplane.ts';
import { freePort } from '../../support/upstreams.ts';

/** socketPair returns a connected client socket (for the child) and what the server side reads. */
async function socketPair(): Promise<{ child: net.Socket; text: () => string; close: () => void }> {
  let text = '';
  const server = net.createServer((s) => s.on('data', (d) => (text += d.toString('latin1'))));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const child = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  await new Promise((r) => child.once('connect', r));
  return { child, text: () => text, close: () => (child.destroy(), server.close()) };
}

test('access_log /dev/stdout and error_log /dev/stderr reach socket outputs', async () => {
  const port = await freePort();
  const prefix = makePrefix({
    'conf/nginx.conf': `worker_processes 1; daemon off; pid logs/nginx.pid; error_log /dev/stderr info;
events {}
http { log_format short '$request_method $uri $status';
  access_log /dev/stdout short;
  server { listen 127.0.0.1:${port}; location / { return 200 "ok\\n"; } location /missing { root /nonexistent; } } }\n`,
  });
  const out = await socketPair();
  const err = await socketPair();
  const proc = spawn(BIN, ['-p', prefix], { stdio: ['ignore', out.child, err.child] });
  const exited = new Promise((r) => proc.once('exit', r));
  try {
    await waitFor('the dataplane to listen', () => {
      if (proc.exitCode !== null) throw new Error(`the dataplane exited: ${err.text()}`);
      return canConnect(port);
    }, 15_000);
    assert.equal(await (await fetch(`http://127.0.0.1:${port}/hello`)).text(), 'ok\n');
    assert.equal((await fetch(`http://127.0.0.1:${port}/missing/x`)).status, 404);
    await waitFor('two access log lines', () => out.text().includes('GET /missing/x 404'), 10_000);
    assert.match(out.text(), /^GET \/hello 200\nGET \/missing\/x 404\n$/);
    await waitFor('the error log line', () => /open\(\) "\/nonexistent\/missing\/x" failed \(2: No such file or directory\)/.test(err.text()), 10_000);
    // A reopen (USR1) must keep writing to the same descriptor, not close it.
    proc.kill('SIGUSR1');
    await new Promise((r) => setTimeout(r, 200));
    await fetch(`http://127.0.0.1:${port}/after-reopen`);
    await waitFor('a line after the reopen', () => out.text().includes('GET /after-reopen 200'), 10_000);
  } finally {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
    await exited;
    out.close();
    err.close();
  }
  assert.doesNotMatch(err.text(), /ENXIO|No such device/);
});
