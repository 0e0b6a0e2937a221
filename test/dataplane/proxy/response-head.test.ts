/**
 * The upstream response head parser on its own: what it accepts, what it refuses as an invalid header (the
 * proxy answers 502 for those; proxy.test.ts covers that through sockets), and where a head ends.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseUpstreamHead } from '../../../dataplane/http/modules/proxy/response.ts';

const parse = (s: string) => parseUpstreamHead(Buffer.from(s, 'latin1'), 65536);

test('a head with framing, connection and ordinary headers', () => {
  const raw = 'HTTP/1.1 200 OK\r\nServer: origin\r\nContent-Length: 5\r\nX-A: \t spaced \t\r\nConnection: keep-alive, Upgrade\r\n\r\n';
  const h = parse(raw + 'hello');
  assert.ok(typeof h === 'object');
  assert.deepEqual(
    { version: h.version, status: h.status, text: h.statusText, cl: h.contentLength, close: h.connectionClose, upgrade: h.upgrade, length: h.length },
    { version: 11, status: 200, text: 'OK', cl: 5, close: false, upgrade: true, length: raw.length },
  );
  assert.deepEqual(h.headers, ['Server', 'origin', 'Content-Length', '5', 'X-A', 'spaced', 'Connection', 'keep-alive, Upgrade']);
});

test('HTTP/1.0 closes unless keep-alive is asked; a status without text; chunked', () => {
  const h10 = parse('HTTP/1.0 404 Not Found\r\n\r\n');
  assert.ok(typeof h10 === 'object' && h10.connectionClose && h10.version === 10 && h10.status === 404);
  const ka = parse('HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\n\r\n');
  assert.ok(typeof ka === 'object' && !ka.connectionClose);
  const bare = parse('HTTP/1.1 204\r\n\r\n');
  assert.ok(typeof bare === 'object' && bare.status === 204 && bare.statusText === '');
  const ch = parse('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n');
  assert.ok(typeof ch === 'object' && ch.chunked && ch.contentLength === -1);
});

test('incomplete heads wait for more bytes, up to the bound', () => {
  assert.equal(parse('HTTP/1.1 200 OK\r\nServer: x\r\n'), undefined);
  assert.equal(parse('HTTP/'), undefined);
  assert.equal(parse('SSH-2.0-OpenSSH\r\n'), 'invalid');
  assert.equal(parseUpstreamHead(Buffer.from('HTTP/1.1 200 OK\r\nX: ' + 'a'.repeat(200)), 100), 'too-big');
});

test('malformed heads are invalid', () => {
  for (const bad of [
    'HTTP/1.1 20 OK\r\n\r\n',
    'HTTP/2.0 200 OK\r\n\r\n',
    'HTTP/1.1 200OK\r\n\r\n',
    'HTTP/1.1 200 OK\r\nNo colon\r\n\r\n',
    'HTTP/1.1 200 OK\r\n: empty name\r\n\r\n',
    'HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n',
    'HTTP/1.1 200 OK\r\n folded: x\r\n\r\n',
    'HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n',
    'HTTP/1.1 200 OK\r\nX: a\nY: b\r\n\r\n',
    'HTTP/1.1 200 OK\r\nX: a\0b\r\n\r\n',
    'HTTP/1.1 200 O\nK\r\n\r\n',
    'HTTP/1.1 200 OK\r\nContent-Length: 5x\r\n\r\n',
    'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n',
    'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n',
    'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n',
  ]) {
    assert.equal(parse(bad), 'invalid', JSON.stringify(bad));
  }
  const same = parse('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n');
  assert.ok(typeof same === 'object' && same.contentLength === 5);
});
