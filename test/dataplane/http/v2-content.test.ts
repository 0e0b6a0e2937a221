import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import http2 from 'node:http2';
import path from 'node:path';
import zlib from 'node:zlib';
import { after, before, describe, test } from 'node:test';
import { curl } from '../../support/clients.ts';
import { startDataplane, type Dataplane } from '../../support/dataplane.ts';
import { waitForLines } from '../../support/wait.ts';

const PORT = 27501;

interface Answer {
  headers: http2.IncomingHttpHeaders;
  body: Buffer;
}

/** send makes one request; `chunks` are written with a pause between them (a streamed body). */
function send(session: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders, chunks?: Buffer[]): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = session.request(headers, { endStream: chunks === undefined });
    const parts: Buffer[] = [];
    let h: http2.IncomingHttpHeaders = {};
    req.on('response', (x) => (h = x));
    req.on('data', (d: Buffer) => parts.push(d));
    req.on('end', () => resolve({ headers: h, body: Buffer.concat(parts) }));
    req.on('error', reject);
    if (chunks) {
      let i = 0;
      const next = () => {
        if (req.destroyed) return;
        if (i === chunks.length) return void req.end();
        req.write(chunks[i++]);
        setTimeout(next, 10);
      };
      next();
    }
  });
}

describe('HTTP/2 with bodies, files, filters and logs', () => {
  let dp: Dataplane;
  let session: http2.ClientHttp2Session;
  const big = crypto.randomBytes(3 * 1024 * 1024);
  const text = 'portico over h2 '.repeat(4000);

  before(async () => {
    dp = await startDataplane(
      `http {
        log_format h2 '$request|$server_protocol|$status|$body_bytes_sent';
        server {
          listen 127.0.0.1:${PORT};
          http2 on;
          access_log access.log h2;
          client_max_body_size 64k;
          location /echo { echo_body; }
          location /files/ { root html; }
          location /text { gzip on; gzip_types text/plain; default_type text/plain; alias html/text.txt; }
        }
      }`,
      { 'html/files/big.bin': big, 'html/text.txt': text },
    );
    session = http2.connect(`http://127.0.0.1:${PORT}`);
  });
  after(async () => {
    session?.close();
    await dp?.stop();
  });

  test('a request body with Content-Length reaches the content handler', async () => {
    const body = Buffer.from('hello body');
    const res = await send(session, { ':method': 'POST', ':path': '/echo', 'content-length': String(body.length) }, [body]);
    assert.equal(res.headers[':status'], 200);
    assert.equal(res.body.toString(), `len=${body.length}\nhello body`);
  });

  test('a streamed body without Content-Length is read to its end', async () => {
    const chunks = Array.from({ length: 5 }, (_, i) => Buffer.from(`part${i};`));
    const res = await send(session, { ':method': 'POST', ':path': '/echo' }, chunks);
    assert.equal(res.body.toString(), 'len=30\npart0;part1;part2;part3;part4;');
  });

  test('a streamed body beyond client_max_body_size gets 413 and the session lives on', async () => {
    const chunks = Array.from({ length: 10 }, () => crypto.randomBytes(10_000));
    const res = await send(session, { ':method': 'POST', ':path': '/echo' }, chunks);
    assert.equal(res.headers[':status'], 413);
    const again = await send(session, { ':method': 'POST', ':path': '/echo', 'content-length': '2' }, [Buffer.from('ok')]);
    assert.equal(again.body.toString(), 'len=2\nok');
  });

  test('a 3 MB static file arrives whole under HTTP/2 flow control, and ranges work', async () => {
    const res = await send(session, { ':path': '/files/big.bin' });
    assert.equal(res.headers[':status'], 200);
    assert.equal(res.body.length, big.length);
    assert.ok(res.body.equals(big));
    const part = await send(session, { ':path': '/files/big.bin', range: 'bytes=100-199' });
    assert.equal(part.headers[':status'], 206);
    assert.ok(part.body.equals(big.subarray(100, 200)));
    const viaCurl = await curl(['--http2-prior-knowledge', '-r', '0-9', `http://127.0.0.1:${PORT}/files/big.bin`]);
    assert.equal(viaCurl.status, 206);
    assert.equal(viaCurl.version, '2');
  });

  test('gzip compresses an HTTP/2 response', async () => {
    const res = await send(session, { ':path': '/text', 'accept-encoding': 'gzip' });
    assert.equal(res.headers['content-encoding'], 'gzip');
    assert.equal(zlib.gunzipSync(res.body).toString(), text);
  });

  test('HTTP/2 requests are logged with their protocol', async () => {
    await send(session, { ':path': '/files/missing?x=1' });
    // Every request of this suite is logged; this one is the ninth.
    const lines = await waitForLines(path.join(dp.prefix, 'access.log'), 9);
    assert.ok(lines.some((l) => /^GET \/files\/missing\?x=1 HTTP\/2\.0\|HTTP\/2\.0\|404\|\d+$/.test(l)), lines.join('\n'));
  });
});
