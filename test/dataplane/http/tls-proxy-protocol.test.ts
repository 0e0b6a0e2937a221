import assert from 'node:assert/strict';
import http2 from 'node:http2';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { TestPki } from '../../support/certs.ts';
import { startDataplane, type Dataplane } from '../../support/dataplane.ts';
import { h2Request } from '../../support/h2.ts';

const TLS_PP = 27601;
const H2C_PP = 27602;
const HEADER = 'PROXY TCP4 203.0.113.7 198.51.100.1 40000 443\r\n';

/** proxied opens a TCP connection that starts with a PROXY v1 header, as a load balancer's would. */
function proxied(port: number): net.Socket {
  const s = net.connect(port, '127.0.0.1');
  s.write(HEADER);
  return s;
}

describe('PROXY protocol in front of TLS and HTTP/2', () => {
  let pki: TestPki;
  let dp: Dataplane;

  before(async () => {
    pki = new TestPki();
    const cert = pki.server(['pp.test']);
    dp = await startDataplane(`http {
      set_real_ip_from 127.0.0.1;
      real_ip_header proxy_protocol;
      server {
        listen 127.0.0.1:${TLS_PP} ssl proxy_protocol;
        http2 on;
        ssl_certificate ${cert.certFile};
        ssl_certificate_key ${cert.keyFile};
        return 200 "$remote_addr $proxy_protocol_addr:$proxy_protocol_port $server_protocol $ssl_server_name\\n";
      }
      server {
        listen 127.0.0.1:${H2C_PP} proxy_protocol;
        http2 on;
        return 200 "$remote_addr $server_protocol\\n";
      }
    }`);
  });
  after(async () => {
    await dp?.stop();
    pki?.remove();
  });

  test('HTTP/1.1 over TLS after a PROXY header sees the original client', async () => {
    const body = await new Promise<string>((resolve, reject) => {
      const req = https.request(
        {
          host: '127.0.0.1', port: TLS_PP, path: '/', servername: 'pp.test', ca: pki.ca.cert, ALPNProtocols: ['http/1.1'],
          createConnection: (o: tls.ConnectionOptions) => tls.connect({ ...o, socket: proxied(TLS_PP) }),
        } as https.RequestOptions,
        (res) => {
          let b = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => (b += d));
          res.on('end', () => resolve(b));
        },
      );
      req.on('error', reject);
      req.end();
    });
    assert.equal(body, '203.0.113.7 203.0.113.7:40000 HTTP/1.1 pp.test\n');
  });

  test('HTTP/2 over TLS after a PROXY header sees the original client', async () => {
    const session = http2.connect(`https://pp.test:${TLS_PP}`, {
      createConnection: () => tls.connect({ socket: proxied(TLS_PP), servername: 'pp.test', ca: pki.ca.cert, ALPNProtocols: ['h2'] }),
    });
    try {
      const body = (await h2Request(session, { ':path': '/' })).text;
      assert.equal(body, '203.0.113.7 203.0.113.7:40000 HTTP/2.0 pp.test\n');
    } finally {
      session.close();
    }
  });

  test('cleartext HTTP/2 after a PROXY header', async () => {
    const session = http2.connect(`http://127.0.0.1:${H2C_PP}`, { createConnection: () => proxied(H2C_PP) });
    try {
      const body = (await h2Request(session, { ':path': '/' })).text;
      assert.equal(body, '203.0.113.7 HTTP/2.0\n');
    } finally {
      session.close();
    }
  });

  test('a broken PROXY header closes the connection before any TLS', async () => {
    const closed = await new Promise<string>((resolve) => {
      const s = net.connect(TLS_PP, '127.0.0.1', () => s.write('GARBAGE\r\n'));
      let got = '';
      s.on('data', (d) => (got += d));
      s.on('close', () => resolve(got));
      s.on('error', () => {});
    });
    assert.equal(closed, '');
    assert.match(dp.errorLog(), /broken header: "GARBAGE" while reading PROXY protocol/);
  });
});
