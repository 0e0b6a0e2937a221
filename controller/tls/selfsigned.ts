/**
 * The default certificate: a self-signed ECDSA P-256 certificate made at start (in memory, never on disk) when
 * --default-ssl-certificate is not given. Node can sign but not build X.509, so this encodes the few DER
 * structures a certificate needs.
 */
import crypto from 'node:crypto';
import type { Certificate } from '../model/types.ts';

function len(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v >>= 8) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

function tlv(tag: number, ...parts: Buffer[]): Buffer {
  const body = Buffer.concat(parts);
  return Buffer.concat([Buffer.from([tag]), len(body.length), body]);
}

function oid(text: string): Buffer {
  const [a, b, ...rest] = text.split('.').map(Number);
  const out = [a! * 40 + b!];
  for (const n of rest) {
    const groups: number[] = [];
    for (let v = n; ; v = Math.floor(v / 128)) {
      groups.unshift(v % 128);
      if (v < 128) break;
    }
    groups.forEach((g, i) => out.push(i < groups.length - 1 ? g | 0x80 : g));
  }
  return tlv(0x06, Buffer.from(out));
}

function utcTime(t: Date): Buffer {
  const s = t.toISOString().replace(/[-:T]/g, '').slice(2, 14) + 'Z';
  return tlv(0x17, Buffer.from(s, 'ascii'));
}

function name(cn: string): Buffer {
  return tlv(0x30, tlv(0x31, tlv(0x30, oid('2.5.4.3'), tlv(0x0c, Buffer.from(cn, 'utf8')))));
}

/** selfSignedCertificate makes a certificate for `host` valid for `days` days from now. */
export function selfSignedCertificate(host = 'ingress.local', days = 365): Certificate {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const sigAlg = tlv(0x30, oid('1.2.840.10045.4.3.2'));
  const serial = crypto.randomBytes(16);
  // DER INTEGER: positive (top bit clear) and minimal (no leading zero byte), or OpenSSL refuses it as padding.
  serial[0] = (serial[0]! & 0x7f) | 0x40;
  const now = Date.now();
  const san = tlv(0x30, oid('2.5.29.17'), tlv(0x04, tlv(0x30, tlv(0x82, Buffer.from(host, 'ascii')))));
  const tbs = tlv(
    0x30,
    tlv(0xa0, tlv(0x02, Buffer.from([2]))),
    tlv(0x02, serial),
    sigAlg,
    name('Portico Default Certificate'),
    tlv(0x30, utcTime(new Date(now - 3600_000)), utcTime(new Date(now + days * 86400_000))),
    name('Portico Default Certificate'),
    publicKey.export({ type: 'spki', format: 'der' }),
    tlv(0xa3, tlv(0x30, san)),
  );
  const sig = crypto.sign('sha256', tbs, privateKey);
  const der = tlv(0x30, tbs, sigAlg, tlv(0x03, Buffer.from([0]), sig));
  const b64 = der.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n?$/, '\n');
  return { id: 'default', cert: `-----BEGIN CERTIFICATE-----\n${b64}-----END CERTIFICATE-----\n`, key: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string };
}
