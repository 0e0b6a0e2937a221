/** The event layer's NameResolver against a real (test) DNS server on loopback. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { NameResolver, type ResolveError, type Resolved, type ResolverSpec } from '../../../dataplane/event/resolver.ts';
import { startDnsServer, type DnsServer } from '../../support/dns-server.ts';

const DNS_PORT = 21250;

function lookup(res: NameResolver, name: string, timeoutMs = 2000): Promise<{ err?: ResolveError; answer?: Resolved }> {
  return new Promise((resolve) => res.resolve(name, timeoutMs, (err, answer) => resolve({ err, answer })));
}

function resolver(over: Partial<ResolverSpec> = {}): NameResolver {
  return new NameResolver({ servers: [`127.0.0.1:${DNS_PORT}`], valid: undefined, ipv4: true, ipv6: true, ...over });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('NameResolver', () => {
  let dns: DnsServer;
  before(async () => {
    dns = await startDnsServer(DNS_PORT, {
      'both.test': { a: ['127.0.0.1', '127.0.0.2'], aaaa: ['::1'] },
      'v4.test': { a: ['127.0.0.3'] },
      'v6.test': { aaaa: ['::1'] },
      'fail.test': { mode: 'servfail' },
      'quiet.test': { mode: 'silent' },
    });
  });
  after(() => dns.stop());

  test('asks A and AAAA and answers every address', async () => {
    dns.queries.length = 0;
    const { err, answer } = await lookup(resolver(), 'Both.Test');
    assert.equal(err, undefined);
    assert.deepEqual(answer!.addrs, ['127.0.0.1', '127.0.0.2', '::1']);
    assert.deepEqual(dns.queries.sort(), ['A both.test', 'AAAA both.test']);
  });

  test('ipv6=off sends no AAAA question', async () => {
    dns.queries.length = 0;
    const { answer } = await lookup(resolver({ ipv6: false }), 'both.test');
    assert.deepEqual(answer!.addrs, ['127.0.0.1', '127.0.0.2']);
    assert.deepEqual(dns.queries, ['A both.test']);
  });

  test('ipv4=off sends no A question', async () => {
    dns.queries.length = 0;
    const { answer } = await lookup(resolver({ ipv4: false }), 'v6.test');
    assert.deepEqual(answer!.addrs, ['::1']);
    assert.deepEqual(dns.queries, ['AAAA v6.test']);
  });

  test('concurrent lookups of one name share one query', async () => {
    dns.queries.length = 0;
    const res = resolver({ ipv6: false });
    const [a, b] = await Promise.all([lookup(res, 'v4.test'), lookup(res, 'v4.test')]);
    assert.equal(a.answer, b.answer);
    assert.deepEqual(dns.queries, ['A v4.test']);
  });

  test('an answer is cached for its TTL, then asked again', async () => {
    dns.set('ttl.test', { a: ['127.0.0.4'], ttl: 1 });
    const res = resolver({ ipv6: false });
    assert.deepEqual((await lookup(res, 'ttl.test')).answer!.addrs, ['127.0.0.4']);
    dns.set('ttl.test', { a: ['127.0.0.5'], ttl: 1 });
    dns.queries.length = 0;
    assert.deepEqual((await lookup(res, 'ttl.test')).answer!.addrs, ['127.0.0.4']);
    assert.deepEqual(dns.queries, []);
    await sleep(1100);
    assert.deepEqual((await lookup(res, 'ttl.test')).answer!.addrs, ['127.0.0.5']);
    assert.deepEqual(dns.queries, ['A ttl.test']);
  });

  test('valid= overrides a longer TTL', async () => {
    dns.set('valid.test', { a: ['127.0.0.6'], ttl: 3600 });
    const res = resolver({ ipv6: false, valid: 500 });
    assert.deepEqual((await lookup(res, 'valid.test')).answer!.addrs, ['127.0.0.6']);
    dns.set('valid.test', { a: ['127.0.0.7'], ttl: 3600 });
    assert.deepEqual(res.cached('valid.test')!.addrs, ['127.0.0.6']);
    await sleep(600);
    assert.equal(res.cached('valid.test'), undefined);
    assert.deepEqual((await lookup(res, 'valid.test')).answer!.addrs, ['127.0.0.7']);
  });

  test('an unknown name is (3: Host not found)', async () => {
    assert.deepEqual((await lookup(resolver(), 'nx.test')).err, { code: 3, text: 'Host not found' });
  });

  test('a name without records of the asked type is (3: Host not found)', async () => {
    assert.deepEqual((await lookup(resolver({ ipv6: false }), 'v6.test')).err, { code: 3, text: 'Host not found' });
  });

  test('SERVFAIL is (2: Server failure) and is not cached', async () => {
    const res = resolver();
    assert.deepEqual((await lookup(res, 'fail.test')).err, { code: 2, text: 'Server failure' });
    assert.equal(res.cached('fail.test'), undefined);
  });

  test('a silent server is (110: Operation timed out) after the caller\'s timeout', async () => {
    const started = Date.now();
    const { err } = await lookup(resolver({ ipv6: false }), 'quiet.test', 300);
    assert.deepEqual(err, { code: 110, text: 'Operation timed out' });
    const took = Date.now() - started;
    assert.ok(took >= 290 && took < 1500, `took ${took} ms`);
  });
});
