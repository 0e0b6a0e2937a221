// The in-process Master behind the sink interface, with trees the dataplane can and cannot apply.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { request } from 'undici';
import { directive as d } from '../../dataplane/core/tree.ts';
import { MasterSink } from '../../controller/master-sink.ts';
import { freePort } from '../support/upstreams.ts';

const PORT = await freePort();

function tree(body: string) {
  return [d('master_process', ['off']), d('events', [], []), d('http', [], [d('server', [], [d('listen', [`127.0.0.1:${PORT}`]), d('location', ['/'], [d('return', ['200', body])])])])];
}

test('the first apply starts the dataplane, later applies swap the tree, a rejected tree keeps the old one serving', async () => {
  const sink = new MasterSink();
  try {
    assert.deepEqual(await sink.apply(tree('one')), { ok: true });
    let r = await request(`http://127.0.0.1:${PORT}/`);
    assert.equal(await r.body.text(), 'one');
    assert.deepEqual(await sink.apply(tree('two')), { ok: true });
    r = await request(`http://127.0.0.1:${PORT}/`);
    assert.equal(await r.body.text(), 'two');
    const bad = await sink.apply([...tree('three'), d('no_such_directive', ['x'])]);
    assert.equal(bad.ok, false);
    assert.match(bad.error!, /unknown directive "no_such_directive"/);
    r = await request(`http://127.0.0.1:${PORT}/`);
    assert.equal(await r.body.text(), 'two');
  } finally {
    await sink.quit();
  }
});

test('a first tree the dataplane rejects is reported with nginx\'s words', async () => {
  const sink = new MasterSink();
  const r = await sink.apply([d('events', [], []), d('http', [], [d('server', [], [d('listen', [`127.0.0.1:${await freePort()}`]), d('ewma')])])]);
  assert.equal(r.ok, false);
  assert.match(r.error!, /"ewma" directive is not allowed here|unknown directive "ewma"/);
  await sink.quit();
});

test('quit while the first apply is still starting the dataplane leaves nothing running', async () => {
  const sink = new MasterSink();
  const first = sink.apply(tree('early'));
  // Shutdown arrives while Master.start is in flight (the controller got SIGTERM during its first apply).
  await sink.quit();
  assert.deepEqual(await first, { ok: false, error: 'shutting down' });
  assert.deepEqual(await sink.workerMetrics(), []);
  await assert.rejects(request(`http://127.0.0.1:${PORT}/`), /ECONNREFUSED/);
  assert.deepEqual(await sink.apply(tree('late')), { ok: false, error: 'shutting down' });
});
