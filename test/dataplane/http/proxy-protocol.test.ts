import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { readProxyHeader } from '../../../dataplane/http/proxy-protocol.ts';

const V1 = Buffer.from('PROXY TCP6 2001:db8::1 2001:db8::2 65535 1\r\nGET / HTTP/1.1\r\n\r\n');
const V2 = Buffer.concat([
  Buffer.from('0d0a0d0a000d0a515549540a', 'hex'),
  Buffer.from([0x21, 0x21, 0, 36]),
  Buffer.from('20010db8000000000000000000000001', 'hex'),
  Buffer.from('20010db8000000000000000000000002', 'hex'),
  Buffer.from([0x1f, 0x90, 0x01, 0xbb]),
]);

test('valid v1 and v2 headers parse at every split point as "need more" then the header', () => {
  for (const [buf, want, len] of [
    [V1, { srcAddr: '2001:db8::1', srcPort: 65535, dstAddr: '2001:db8::2', dstPort: 1 }, 44],
    [V2, { srcAddr: '2001:db8::1', srcPort: 8080, dstAddr: '2001:db8::2', dstPort: 443 }, 52],
  ] as const) {
    for (let i = 1; i < len; i++) assert.equal(readProxyHeader(buf.subarray(0, i)), undefined, `prefix ${i}`);
    const res = readProxyHeader(buf);
    assert.ok(res && typeof res !== 'string');
    assert.deepEqual(res.info, want);
    assert.equal(res.length, len);
  }
});

test('random and mutated input never throws and never claims more bytes than it was given', () => {
  const until = Date.now() + 1500;
  for (let n = 0; n < 20_000 && Date.now() < until; n++) {
    let buf: Buffer;
    if (n % 3 === 0) buf = randomBytes(1 + (n % 120));
    else {
      buf = Buffer.from(n % 3 === 1 ? V1 : V2);
      for (let k = 0; k < 1 + (n % 4); k++) buf[Math.floor(Math.random() * buf.length)] = Math.floor(Math.random() * 256);
    }
    const res = readProxyHeader(buf);
    if (res !== undefined && typeof res !== 'string') assert.ok(res.length <= buf.length);
  }
});

test('a v1 line longer than 107 bytes and a wrong v2 version are refused', () => {
  assert.equal(readProxyHeader(Buffer.from(`PROXY TCP4 ${'1'.repeat(120)}`)), 'too long header');
  const bad = Buffer.from(V2);
  bad[12] = 0x31;
  assert.equal(readProxyHeader(bad), 'unknown PROXY protocol version');
});
