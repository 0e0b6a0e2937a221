import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { buildCycle } from '../../../dataplane/core/cycle.ts';
import { parseConfString } from '../../../dataplane/core/parse.ts';
import { ZonePool } from '../../../dataplane/core/zones.ts';
import { createRegistry } from '../../../dataplane/modules.ts';
import { applyUpstreamPeers, cycleUpstreams } from '../../../dataplane/upstream/upstream-module.ts';

function cycleOf(conf: string, zones = new ZonePool()) {
  return buildCycle({ tree: parseConfString(conf, '/tmp/nginx.conf', { confPrefix: '/tmp' }), registry: createRegistry(), prefix: '/tmp', confFile: '/tmp/nginx.conf', zones });
}

const server = (addr: string, ...params: string[]) => ({ name: 'server', args: [addr, ...params] });

describe('upstream peers at run time', () => {
  const conf = `events {} http { upstream app { hash $uri consistent; server 10.0.0.1:80; server 10.0.0.2:80; server 10.0.0.3:80; } }`;

  test('replacing peers keeps the shared state of unchanged peers and drops removed ones', () => {
    const cycle = cycleOf(conf);
    const g = cycleUpstreams(cycle)!.groups.get('app')!;
    const kept = g.peers[1]!;
    g.table.setFails(kept.slot, 3);
    applyUpstreamPeers(cycle, 'app', [server('10.0.0.2:80'), server('10.0.0.4:80', 'weight=2')]);
    assert.deepEqual(g.peers.map((p) => p.name), ['10.0.0.2:80', '10.0.0.4:80']);
    assert.equal(g.peers[0], kept);
    assert.equal(g.table.fails(g.peers[0]!.slot), 3);
    assert.equal(g.peers[1]!.weight, 2);
    assert.equal(g.totalWeight, 3);
  });

  test('two cycles over the same zones see one peer state (as two workers do)', () => {
    const zones = new ZonePool();
    const a = cycleUpstreams(cycleOf(conf, zones))!.groups.get('app')!;
    const b = cycleUpstreams(cycleOf(conf, new ZonePool(zones.list(), true)))!.groups.get('app')!;
    a.table.addConns(a.peers[2]!.slot, 5);
    assert.equal(b.table.conns(b.peers[2]!.slot), 5);
  });

  test('consistent hashing moves only the keys of a removed peer', () => {
    const cycle = cycleOf(conf);
    const g = cycleUpstreams(cycle)!.groups.get('app')!;
    const pick = (key: string) => {
      const pc = g.startChoice(key);
      const p = g.get(pc, Date.now())!;
      g.free(pc, p, 0, Date.now(), 1);
      return p.name;
    };
    const keys = Array.from({ length: 300 }, (_, i) => `/k${i}`);
    const before = new Map(keys.map((k) => [k, pick(k)]));
    applyUpstreamPeers(cycle, 'app', [server('10.0.0.1:80'), server('10.0.0.2:80')]);
    for (const k of keys) {
      const was = before.get(k)!;
      if (was !== '10.0.0.3:80') assert.equal(pick(k), was, k);
    }
  });

  test('bad pushes are refused with a clear message and leave the group as it was', () => {
    const cycle = cycleOf(conf);
    const g = cycleUpstreams(cycle)!.groups.get('app')!;
    assert.throws(() => applyUpstreamPeers(cycle, 'nope', [server('10.0.0.1:80')]), /upstream "nope" not found/);
    assert.throws(() => applyUpstreamPeers(cycle, 'app', [server('10.0.0.1:80', 'weight=x')]), /invalid parameter "weight=x"/);
    assert.throws(() => applyUpstreamPeers(cycle, 'app', []), /no servers are inside upstream "app"/);
    assert.equal(g.peers.length, 3);
  });

  test('least_conn prefers the peer with fewer active connections', () => {
    const cycle = cycleOf(`events {} http { upstream lc { least_conn; server 10.0.0.1:80; server 10.0.0.2:80; } }`);
    const g = cycleUpstreams(cycle)!.groups.get('lc')!;
    const pc1 = g.startChoice('');
    const first = g.get(pc1, Date.now())!;
    for (let i = 0; i < 4; i++) {
      const pc = g.startChoice('');
      const p = g.get(pc, Date.now())!;
      assert.notEqual(p, first, 'the busy peer is avoided');
      g.free(pc, p, 0, Date.now(), 1);
    }
  });

  test('config errors in upstream blocks use nginx wording', () => {
    assert.throws(() => cycleOf(`events {} http { upstream x { } }`), /no servers are inside upstream/);
    assert.throws(() => cycleOf(`events {} http { upstream x { server 1.2.3.4:99999; } }`), /invalid host in upstream "1\.2\.3\.4:99999"/);
    assert.throws(() => cycleOf(`events {} http { upstream x { ip_hash; server 1.2.3.4 backup; } }`), /invalid parameter "backup"/);
    assert.throws(() => cycleOf(`events {} http { upstream x { server 1.2.3.4; } upstream x { server 1.2.3.5; } }`), /duplicate upstream "x"/);
    assert.throws(() => cycleOf(`events {} http { upstream x { random one; server 1.2.3.4; } }`), /invalid parameter "one"/);
  });
});
