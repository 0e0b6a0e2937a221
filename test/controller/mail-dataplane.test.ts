// MailProxy rendered by the controller and served by the real dataplane's mail stack: the SMTP listener greets with
// the server name and offers the configured AUTH methods and STARTTLS; the IMAP listener speaks implicit TLS with
// the Secret's certificate.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import tls from 'node:tls';
import { printConf } from '../../dataplane/core/print.ts';
import type { KubeObject } from '../../controller/model/objects.ts';
import { renderStore } from '../../controller/pipeline.ts';
import { Store } from '../../controller/store.ts';
import { selfSignedCertificate } from '../../controller/tls/selfsigned.ts';
import { startDataplane, type Dataplane } from '../support/dataplane.ts';
import { testOptions } from '../support/controller-fixtures.ts';
import { freePort } from '../support/upstreams.ts';

const [SMTP, IMAPS, HTTP, HTTPS] = await Promise.all([0, 1, 2, 3].map(() => freePort()));
const cert = selfSignedCertificate('mail.example.com');

function objects(): KubeObject[] {
  return [
    { apiVersion: 'v1', kind: 'Secret', type: 'kubernetes.io/tls', metadata: { name: 'mail-tls', namespace: 'mail' }, stringData: { 'tls.crt': cert.cert, 'tls.key': cert.key } },
    {
      apiVersion: 'portico.dev/v1alpha1', kind: 'MailProxy', metadata: { name: 'corp', namespace: 'mail' },
      spec: {
        serverName: 'mail.example.com',
        listeners: [
          { name: 'submission', port: SMTP, protocol: 'smtp', tls: { mode: 'starttls', secretRef: { name: 'mail-tls' } }, authMethods: ['plain', 'login'] },
          { name: 'imaps', port: IMAPS, protocol: 'imap', tls: { mode: 'implicit', secretRef: { name: 'mail-tls' } } },
        ],
        auth: { url: 'http://127.0.0.1:9/auth' },
      },
    },
  ];
}

/** converse sends lines and collects what the server says until `until` matches. */
function converse(sock: net.Socket, send: string | undefined, until: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const onData = (d: Buffer) => {
      text += d;
      if (until.test(text)) {
        sock.off('data', onData);
        resolve(text);
      }
    };
    sock.on('data', onData);
    sock.once('error', reject);
    if (send) sock.write(send);
  });
}

describe('MailProxy through the dataplane', () => {
  let dp: Dataplane;
  before(async () => {
    const store = new Store();
    for (const o of objects()) store.upsert(o.kind as never, o);
    const { tree, model } = renderStore(store, { ...testOptions, defaultCertificate: selfSignedCertificate(), httpPort: HTTP, httpsPort: HTTPS, listenAddress: '127.0.0.1' });
    assert.deepEqual(model.conditions.map((c) => [c.object.name, c.accepted]), [['corp', true]]);
    dp = await startDataplane(printConf(tree));
  });
  after(() => dp?.stop());

  test('SMTP greets with the server name and offers STARTTLS and the configured AUTH methods', async () => {
    const sock = net.connect(SMTP, '127.0.0.1');
    try {
      assert.match(await converse(sock, undefined, /\r\n$/), /^220 mail\.example\.com /);
      const ehlo = await converse(sock, 'EHLO client.example.com\r\n', /^250 [^\r\n]*\r\n/m);
      assert.match(ehlo, /STARTTLS/);
      assert.match(ehlo, /AUTH PLAIN LOGIN/);
    } finally {
      sock.destroy();
    }
  });

  test('IMAPS presents the Secret\'s certificate and greets', async () => {
    const sock = tls.connect({ host: '127.0.0.1', port: IMAPS, servername: 'mail.example.com', rejectUnauthorized: false });
    try {
      await new Promise<void>((ok, fail) => (sock.once('secureConnect', () => ok()), sock.once('error', fail)));
      assert.equal(sock.getPeerCertificate().raw.toString('base64'), new crypto.X509Certificate(cert.cert).raw.toString('base64'));
      assert.match(await converse(sock, undefined, /\r\n$/), /^\* OK/);
    } finally {
      sock.destroy();
    }
  });
});
