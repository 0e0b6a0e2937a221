/**
 * TLS secrets: a kubernetes.io/tls Secret becomes an in-memory certificate after checks (PEM parses, key
 * matches, host covered); anything else is reported and the default certificate is used.
 */
import crypto from 'node:crypto';
import type { KubeObject } from './objects.ts';
import type { Certificate } from './types.ts';

/** secretText decodes a Secret data key (base64) or reads stringData (folder manifests may use either). */
export function secretText(secret: KubeObject, key: string): string | undefined {
  const s = secret.stringData?.[key];
  if (s !== undefined) return s;
  const d = secret.data?.[key];
  return d === undefined ? undefined : Buffer.from(d, 'base64').toString('utf8');
}

/** certificateFromSecret validates a TLS Secret for a host; it returns the certificate or the reason it is unusable. */
export function certificateFromSecret(secret: KubeObject | undefined, ref: string, host: string): Certificate | string {
  if (!secret) return `secret ${ref} not found`;
  if (secret.type !== undefined && secret.type !== 'kubernetes.io/tls') return `secret ${ref} has type ${secret.type}, not kubernetes.io/tls`;
  const cert = secretText(secret, 'tls.crt');
  const key = secretText(secret, 'tls.key');
  if (!cert || !key) return `secret ${ref} lacks tls.crt or tls.key`;
  let x509: crypto.X509Certificate;
  let pkey: crypto.KeyObject;
  try {
    x509 = new crypto.X509Certificate(cert);
  } catch {
    return `secret ${ref}: tls.crt is not a PEM certificate`;
  }
  try {
    pkey = crypto.createPrivateKey(key);
  } catch {
    return `secret ${ref}: tls.key is not a PEM private key`;
  }
  if (!x509.checkPrivateKey(pkey)) return `secret ${ref}: tls.key does not match tls.crt`;
  if (host && x509.checkHost(host.startsWith('*.') ? `x${host.slice(1)}` : host) === undefined) return `secret ${ref}: certificate does not cover host ${host}`;
  if (Date.parse(x509.validTo) < Date.now()) return `secret ${ref}: certificate expired on ${x509.validTo}`;
  return { id: ref, cert, key };
}
