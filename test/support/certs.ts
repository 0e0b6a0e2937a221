/**
 * Test certificates made at test time with the openssl CLI: a CA, server certificates (RSA or ECDSA) for
 * given names, and client certificates. Nothing with a private key is committed.
 */
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** Pem is one certificate with its key, as text and as files. */
export interface Pem {
  cert: string;
  key: string;
  certFile: string;
  keyFile: string;
}

/** TestPki is a folder with one CA that signs everything issued from it. */
export class TestPki {
  readonly dir: string;
  readonly ca: Pem;
  #n = 0;

  constructor(caName = 'Portico Test CA') {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'portico-pki-'));
    this.ca = this.#selfSigned('ca', caName);
  }

  #openssl(args: string[]): void {
    execFileSync('openssl', args, { cwd: this.dir, stdio: ['ignore', 'ignore', 'pipe'] });
  }

  #read(base: string): Pem {
    const certFile = path.join(this.dir, `${base}.crt`);
    const keyFile = path.join(this.dir, `${base}.key`);
    return { cert: fs.readFileSync(certFile, 'latin1'), key: fs.readFileSync(keyFile, 'latin1'), certFile, keyFile };
  }

  #key(base: string, kind: 'rsa' | 'ec'): void {
    if (kind === 'rsa') this.#openssl(['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', `${base}.key`]);
    else this.#openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', `${base}.key`]);
  }

  #selfSigned(base: string, cn: string, ext = ['basicConstraints=critical,CA:TRUE', 'keyUsage=critical,keyCertSign,cRLSign']): Pem {
    this.#key(base, 'ec');
    this.#openssl(['req', '-x509', '-new', '-key', `${base}.key`, '-days', '2', '-subj', `/O=Portico Tests/CN=${cn}`,
      ...ext.flatMap((e) => ['-addext', e]), '-out', `${base}.crt`]);
    return this.#read(base);
  }

  #issue(cn: string, kind: 'rsa' | 'ec', ext: string[], issuer: Pem = this.ca): Pem {
    const base = `c${++this.#n}`;
    this.#key(base, kind);
    this.#openssl(['req', '-new', '-key', `${base}.key`, '-subj', `/O=Portico Tests/CN=${cn}`, '-out', `${base}.csr`]);
    fs.writeFileSync(path.join(this.dir, `${base}.ext`), ext.join('\n') + '\n');
    const serial = '0x' + crypto.randomBytes(8).toString('hex');
    this.#openssl(['x509', '-req', '-in', `${base}.csr`, '-CA', issuer.certFile, '-CAkey', issuer.keyFile, '-set_serial', serial,
      '-days', '2', '-extfile', `${base}.ext`, '-out', `${base}.crt`]);
    return this.#read(base);
  }

  /** server issues a server certificate for `names` (the first is the CN); `kind` picks RSA or ECDSA. */
  server(names: string[], kind: 'rsa' | 'ec' = 'rsa'): Pem {
    const san = names.map((n) => (/^[\d.]+$/.test(n) ? `IP:${n}` : `DNS:${n}`)).join(',');
    return this.#issue(names[0]!, kind, [`subjectAltName=${san}`, 'extendedKeyUsage=serverAuth', 'basicConstraints=CA:FALSE']);
  }

  /** client issues a client certificate with common name `cn`. */
  client(cn: string): Pem {
    return this.#issue(cn, 'ec', ['extendedKeyUsage=clientAuth', 'basicConstraints=CA:FALSE']);
  }

  /** selfSignedClient makes a client certificate no CA vouches for. */
  selfSignedClient(cn: string): Pem {
    return this.#selfSigned(`self${++this.#n}`, cn, ['basicConstraints=CA:FALSE', 'extendedKeyUsage=clientAuth']);
  }

  /** dhparam writes 2048-bit DH parameters (the RFC 7919 ffdhe2048 group: no slow prime search). */
  dhparam(): string {
    this.#openssl(['genpkey', '-genparam', '-algorithm', 'DH', '-pkeyopt', 'dh_param:ffdhe2048', '-out', 'dh.pem']);
    return fs.readFileSync(path.join(this.dir, 'dh.pem'), 'latin1');
  }

  /** remove deletes the folder. */
  remove(): void {
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
