import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { readProxyProtocol } from '../../../dataplane/event/proxy-protocol.ts';

const SIG = Buffer.from('0d0a0d0a000d0a515549540a', 'hex');
/** v2 builds a binary header: version/command, family/transport, and the address block. */
const v2 = (verCmd: number, famTrans: number, body: Buffer): Buffer =>
  Buffer.concat([SIG, Buffer.from([verCmd, famTrans, body.length >> 8, body.length & 0xff]), body]);
const V6_BODY = Buffer.concat([
  Buffer.from('20010db8000000000000000000000001', 'hex'),
  Buffer.from('20010db8000000000000000000000002', 'hex'),
  Buffer.from([0x1f, 0x90, 0x01, 0xbb]),
]);
const V4_BODY = Buffer.from([192, 0, 2, 1, 192, 0, 2, 2, 0x1f, 0x90, 0x01, 0xbb]);
const V1 = Buffer.from('PROXY TCP6 2001:db8::1 2001:db8::2 65535 1\r\nGET / HTTP/1.1\r\n\r\n');
const V2 = v2(0x21, 0x21, V6_BODY);

const errorOf = (buf: Buffer | string): string => {
  const r = readProxyProtocol(typeof buf === 'string' ? Buffer.from(buf, 'latin1') : buf);
  assert.ok(typeof r === 'object' && 'error' in r, `refused: ${JSON.stringify(r)}`);
  return r.error;
};
const addrsOf = (buf: Buffer | string) => {
  const r = readProxyProtocol(typeof buf === 'string' ? Buffer.from(buf, 'latin1') : buf);
  assert.ok(typeof r === 'object' && !('error' in r), `accepted: ${JSON.stringify(r)}`);
  return r.addrs;
};

test('valid v1 and v2 headers parse at every split point as "again" then the header', () => {
  for (const [buf, want, len] of [
    [V1, { srcAddr: '2001:db8::1', srcPort: 65535, dstAddr: '2001:db8::2', dstPort: 1 }, 44],
    [V2, { srcAddr: '2001:db8::1', srcPort: 8080, dstAddr: '2001:db8::2', dstPort: 443 }, 52],
  ] as const) {
    for (let i = 1; i < len; i++) assert.equal(readProxyProtocol(buf.subarray(0, i)), 'again', `prefix ${i}`);
    const res = readProxyProtocol(buf);
    assert.ok(typeof res === 'object' && !('error' in res));
    assert.deepEqual(res.addrs, want);
    assert.equal(res.size, len);
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
    const res = readProxyProtocol(buf);
    if (typeof res === 'object' && !('error' in res)) assert.ok(res.size <= buf.length);
  }
});

test('a v1 line longer than 107 bytes is a broken header, as nginx logs it', () => {
  assert.equal(errorOf(`PROXY TCP4 ${'1'.repeat(120)}`), `broken header: "PROXY TCP4 ${'1'.repeat(96)}"`);
  // 107 bytes with the CRLF is the longest legal line (spec 2.1: UNKNOWN with two full IPv6 addresses).
  const longest = `PROXY UNKNOWN ${'ffff:'.repeat(7)}ffff ${'ffff:'.repeat(7)}ffff 65535 65535\r\n`;
  assert.equal(longest.length, 107);
  assert.deepEqual(readProxyProtocol(Buffer.from(longest)), { size: 107 });
  assert.match(errorOf(longest.replace('65535\r', '65535 \r')), /^broken header/);
});

test('the logged header stops at the first CR or LF so the request after it is not logged', () => {
  assert.equal(errorOf('PROXY TCP4 999.1.1.1 1.1.1.1 1 2\r\nGET /secret HTTP/1.1\r\n\r\n'), 'broken header: "PROXY TCP4 999.1.1.1 1.1.1.1 1 2"');
  assert.equal(errorOf('GARBAGE\r\n'), 'broken header: "GARBAGE"');
});

test('v1 addresses must be what inet_pton reads for the family named', () => {
  for (const line of [
    'PROXY TCP4 999.1.1.1 1.1.1.1 1 2\r\n',
    'PROXY TCP4 01.2.3.4 1.1.1.1 1 2\r\n',
    'PROXY TCP4 ::1 ::2 1 2\r\n', // nginx 1.22 takes this; the family and the address disagree
    'PROXY TCP6 fe80::1%eth0 ::2 1 2\r\n',
    'PROXY TCP6 [::1] ::2 1 2\r\n',
    'PROXY TCP4 1.2.3.4 5.6.7.8 1 65536\r\n',
    'PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n', // LF without CR
  ]) errorOf(line);
  assert.deepEqual(addrsOf('PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n'), { srcAddr: '1.2.3.4', srcPort: 1, dstAddr: '5.6.7.8', dstPort: 2 });
  assert.equal(addrsOf('PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n'), undefined);
});

test('a v2 header of another version, or larger than 4 KiB, is refused with nginx words', () => {
  assert.equal(errorOf(v2(0x31, 0x21, V6_BODY)), 'unknown PROXY protocol version: 3');
  assert.equal(errorOf(v2(0x21, 0x11, Buffer.alloc(4096 - 16 + 1))), 'header is too large');
  assert.ok(addrsOf(v2(0x21, 0x11, Buffer.concat([V4_BODY, Buffer.alloc(4096 - 16 - 12)]))));
});

test('v2 LOCAL, UNSPEC and DGRAM are accepted without addresses; unknown commands are refused', () => {
  assert.equal(addrsOf(v2(0x20, 0x11, V4_BODY)), undefined);
  assert.equal(addrsOf(v2(0x21, 0x00, Buffer.alloc(0))), undefined);
  assert.equal(addrsOf(v2(0x21, 0x12, V4_BODY)), undefined);
  assert.match(errorOf(v2(0x22, 0x11, V4_BODY)), /^broken header/);
});

test('a v2 address block shorter than its family needs is refused, as nginx closes it', () => {
  assert.match(errorOf(v2(0x21, 0x11, V4_BODY.subarray(0, 4))), /^broken header/);
  assert.match(errorOf(v2(0x21, 0x21, V6_BODY.subarray(0, 20))), /^broken header/);
});

test('v2 IPv6 addresses are written as nginx writes them: the longest zero run compressed, v4-mapped dotted', () => {
  const six = (hex: string) => v2(0x21, 0x21, Buffer.concat([Buffer.from(hex, 'hex'), V6_BODY.subarray(16)]));
  assert.equal(addrsOf(six('20010db8000000000001000000000000'))?.srcAddr, '2001:db8:0:0:1::');
  assert.equal(addrsOf(six('00000000000000000000ffff01020304'))?.srcAddr, '::ffff:1.2.3.4');
  assert.equal(addrsOf(six('20010db8000100020003000400050006'))?.srcAddr, '2001:db8:1:2:3:4:5:6');
  assert.deepEqual(addrsOf(v2(0x21, 0x11, V4_BODY)), { srcAddr: '192.0.2.1', srcPort: 8080, dstAddr: '192.0.2.2', dstPort: 443 });
});
