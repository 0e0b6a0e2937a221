import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { request } from 'undici';
import { startDataplane, type Dataplane } from '../../support/dataplane.ts';

const PORT = 24101;

describe('HTTP core smoke', () => {
  let dp: Dataplane;
  before(async () => {
    dp = await startDataplane(`http {
      server { listen 127.0.0.1:${PORT}; server_name a.test; location / { return 200 "hello $host\\n"; } location = /moved { return 301 /new; } }
      server { listen 127.0.0.1:${PORT} default_server; location / { return 404; } }
    }`);
  });
  after(() => dp.stop());

  test('a return directive answers with its text and the right server is chosen by Host', async () => {
    const res = await request(`http://127.0.0.1:${PORT}/`, { headers: { host: 'a.test' } });
    assert.equal(res.statusCode, 200);
    assert.equal(await res.body.text(), 'hello a.test\n');
    assert.match(String(res.headers.server), /^portico/);
  });

  test('an unknown host falls back to the default server', async () => {
    const res = await request(`http://127.0.0.1:${PORT}/`, { headers: { host: 'other.test' } });
    assert.equal(res.statusCode, 404);
    assert.match(await res.body.text(), /<title>404 Not Found<\/title>/);
  });

  test('a redirect carries an absolute Location', async () => {
    const res = await request(`http://127.0.0.1:${PORT}/moved`, { headers: { host: 'a.test' } });
    assert.equal(res.statusCode, 301);
    assert.equal(res.headers.location, `http://a.test:${PORT}/new`);
    await res.body.dump();
  });
});
