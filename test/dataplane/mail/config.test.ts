/**
 * `mail {}` configuration: what nginx accepts, and the errors it gives in its words (in-process: buildCycle).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { buildCycle, type Cycle } from '../../../dataplane/core/cycle.ts';
import { parseConfString } from '../../../dataplane/core/parse.ts';
import { mailModule } from '../../../dataplane/mail/mail-module.ts';
import { createRegistry } from '../../../dataplane/modules.ts';
import { makeCert } from '../../support/mail-servers.ts';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'portico-mail-conf-'));
const FILE = path.join(dir, 'nginx.conf');

function build(mail: string): Cycle {
  const text = `events {}\nmail {\n${mail}\n}\n`;
  return buildCycle({ tree: parseConfString(text, FILE, { confPrefix: dir }), registry: createRegistry(), prefix: dir, confFile: FILE });
}

function fails(mail: string, message: string | RegExp): void {
  assert.throws(() => build(mail), (err: Error) => {
    if (typeof message === 'string') assert.equal(err.message, message);
    else assert.match(err.message, message);
    return true;
  });
}

const AUTH = 'auth_http 127.0.0.1:9000/auth;';

describe('mail configuration', () => {
  it('takes the protocol from the port as nginx does', () => {
    const cycle = build(`${AUTH}
      server { listen 127.0.0.1:25; }
      server { listen 127.0.0.1:587; }
      server { listen 127.0.0.1:110; }
      server { listen 127.0.0.1:993; }`);
    assert.deepEqual(cycle.conf(mailModule).servers.map((s) => s.protocol.name), ['smtp', 'smtp', 'pop3', 'imap']);
    assert.deepEqual(cycle.listening.map((l) => [l.key, l.owner]), [
      ['127.0.0.1:25', 'mail'],
      ['127.0.0.1:587', 'mail'],
      ['127.0.0.1:110', 'mail'],
      ['127.0.0.1:993', 'mail'],
    ]);
  });

  it('refuses a server whose protocol cannot be told', () => {
    fails(`${AUTH}\n server { listen 127.0.0.1:2525; }`, `unknown mail protocol for server in ${FILE}:4`);
  });

  it('refuses an unknown protocol name', () => {
    fails(`${AUTH}\n server { listen 127.0.0.1:2525; protocol smtps; }`, `unknown protocol "smtps" in ${FILE}:4`);
  });

  it('requires listen and auth_http', () => {
    fails(`${AUTH}\n server { protocol smtp; }`, `no "listen" is defined for server in ${FILE}:4`);
    fails(`server { listen 127.0.0.1:2525; protocol smtp; }`, `no "auth_http" is defined for server in ${FILE}:3`);
  });

  it('inherits settings from the mail level into servers', () => {
    const cycle = build(`${AUTH} timeout 5s; server_name mx.example; max_errors 2;
      server { listen 127.0.0.1:2525; protocol smtp; }
      server { listen 127.0.0.1:2526; protocol smtp; timeout 1s; }`);
    const [a, b] = cycle.conf(mailModule).servers;
    assert.deepEqual([a!.timeout, a!.serverName, a!.maxErrors], [5000, 'mx.example', 2]);
    assert.deepEqual([b!.timeout, b!.serverName], [1000, 'mx.example']);
  });

  it('defaults server_name to the host name', () => {
    const cycle = build(`${AUTH} server { listen 127.0.0.1:2525; protocol imap; }`);
    assert.equal(cycle.conf(mailModule).servers[0]!.serverName, os.hostname());
  });

  it('reports listen mistakes in nginx\'s words', () => {
    fails(`${AUTH} server { listen 127.0.0.1:2525; listen 127.0.0.1:2525; protocol smtp; }`, `duplicate "127.0.0.1:2525" address and port pair in ${FILE}:3`);
    fails(`${AUTH} server { listen 127.0.0.1:2525 fast; protocol smtp; }`, `the invalid "fast" parameter in ${FILE}:3`);
    fails(`${AUTH} server { listen 127.0.0.1:99999; protocol smtp; }`, `invalid port in "127.0.0.1:99999" of the "listen" directive in ${FILE}:3`);
    fails(`${AUTH} server { listen 127.0.0.1:2525 backlog=0; protocol smtp; }`, `invalid backlog "backlog=0" in ${FILE}:3`);
  });

  it('serves specific addresses of a port from its wildcard socket', () => {
    const cycle = build(`${AUTH}
      server { listen 2525; protocol smtp; }
      server { listen 127.0.0.1:2525; protocol pop3; }
      server { listen 127.0.0.2:2525 bind; protocol imap; }`);
    assert.deepEqual(cycle.listening.map((l) => l.key).sort(), ['*:2525', '127.0.0.2:2525']);
  });

  it('checks directive values and contexts', () => {
    fails(`${AUTH} smtp_auth login digest;`, `invalid value "digest" in ${FILE}:3`);
    fails(`${AUTH} starttls maybe;`, `invalid value "maybe" in ${FILE}:3`);
    fails(`${AUTH} ssl_protocols TLSv1.2 SSLv3;`, `invalid value "SSLv3" in ${FILE}:3`);
    fails(`auth_http https://auth.example/;`, `invalid URL prefix in auth_http "https://auth.example/" in ${FILE}:3`);
    fails(`${AUTH} server { listen 127.0.0.1:2525; protocol smtp; server { } }`, `"server" directive is not allowed here in ${FILE}:3`);
    fails(`${AUTH} mail { }`, /unknown directive "mail"|"mail" directive is not allowed here/);
  });

  it('requires a certificate for listen … ssl and for starttls, and loads it from a file or data:', () => {
    fails(`${AUTH} server { listen 127.0.0.1:2525 ssl; protocol smtp; }`, `no "ssl_certificate" is defined for server in ${FILE}:3`);
    fails(`${AUTH} server { listen 127.0.0.1:2525; protocol imap; starttls on; }`, `no "ssl_certificate" is defined for the "starttls" directive in ${FILE}:3`);
    fails(`${AUTH} server { listen 127.0.0.1:2525 ssl; protocol smtp; ssl_certificate missing.crt; ssl_certificate_key missing.key; }`, /cannot load certificate ".*missing\.crt": BIO_new_file\(\) failed \(2: No such file or directory\)/);
    const { cert, key } = makeCert(dir);
    const pem = (f: string) => JSON.stringify(`data:${fs.readFileSync(f, 'utf8')}`);
    const cycle = build(`${AUTH} server { listen 127.0.0.1:2525 ssl; protocol smtp; ssl_certificate ${pem(cert)}; ssl_certificate_key ${pem(key)}; }
      server { listen 127.0.0.1:2526; protocol pop3; starttls only; ssl_certificate ${cert}; ssl_certificate_key ${key}; }`);
    assert.ok(cycle.conf(mailModule).servers.every((s) => s.secureContext));
  });

  it('refuses a second mail block', () => {
    const text = `events {}\nmail { ${AUTH} }\nmail { }\n`;
    assert.throws(() => buildCycle({ tree: parseConfString(text, FILE, { confPrefix: dir }), registry: createRegistry(), prefix: dir, confFile: FILE }), {
      message: `"mail" directive is duplicate in ${FILE}:3`,
    });
  });
});
