/**
 * nginx's resolver (src/core/ngx_resolver.c) for run-time name lookups, protocol-neutral: a `resolver` directive
 * becomes a ResolverSpec at configuration time and a NameResolver per worker on first use. Lookups ask the
 * configured servers only (node:dns `Resolver`, never /etc/hosts), A and/or AAAA per `ipv4=`/`ipv6=`; answers
 * are cached for their smallest TTL or for `valid=`; concurrent lookups of one name share one query; each
 * caller waits at most its own `resolver_timeout`. Failures carry nginx's codes and words.
 */
import dns from 'node:dns';
import net from 'node:net';
import type { ConfCtx } from '../core/conf.ts';
import { parseTime } from '../core/values.ts';

/** ResolverSpec is one parsed `resolver` directive. */
export interface ResolverSpec {
  /** "127.0.0.1", "127.0.0.1:5353", "[::1]:53": node:dns setServers form. */
  servers: string[];
  /** `valid=`: cache time in ms overriding the answers' TTL; undefined uses the TTL. */
  valid: number | undefined;
  ipv4: boolean;
  ipv6: boolean;
  /** The worker's resolver, made on first lookup (configuration and the master never query). */
  instance?: NameResolver;
}

/** ResolveError is a failed lookup: nginx's code and text, as in "(3: Host not found)". */
export interface ResolveError {
  code: number;
  text: string;
}

/** Resolved is a name's cached answer; `addrs` is the same array for as long as the answer is cached. */
export interface Resolved {
  addrs: string[];
  expires: number;
}

export type ResolveCallback = (err: ResolveError | undefined, answer: Resolved | undefined) => void;

/** nginx's NGX_RESOLVE_* codes and ngx_resolver_strerror's words. */
const FORMERR: ResolveError = { code: 1, text: 'Format error' };
const SERVFAIL: ResolveError = { code: 2, text: 'Server failure' };
const NXDOMAIN: ResolveError = { code: 3, text: 'Host not found' };
const NOTIMP: ResolveError = { code: 4, text: 'Unimplemented' };
const REFUSED: ResolveError = { code: 5, text: 'Operation refused' };
const TIMEDOUT: ResolveError = { code: 110, text: 'Operation timed out' };

const FROM_CARES: Record<string, ResolveError> = {
  [dns.NOTFOUND]: NXDOMAIN,
  // NODATA (the name exists without records of the type): nginx answers "Host not found" too.
  [dns.NODATA]: NXDOMAIN,
  [dns.SERVFAIL]: SERVFAIL,
  [dns.FORMERR]: FORMERR,
  [dns.NOTIMP]: NOTIMP,
  [dns.REFUSED]: REFUSED,
  // A refused or unanswered UDP query: nginx keeps resending until resolver_timeout, so it ends as a timeout.
  [dns.TIMEOUT]: TIMEDOUT,
  [dns.CONNREFUSED]: TIMEDOUT,
};

/** Cached names per worker resolver; past this the oldest are dropped (nginx expires by time only). */
const MAX_NAMES = 10_000;
/** c-ares' own per-try timeout: below any sensible resolver_timeout, so silent servers are re-asked. */
const TRY_TIMEOUT = 2000;

/** nameKey is the cache key of a name: DNS names are case-insensitive, and a trailing dot changes nothing. */
function nameKey(name: string): string {
  return name.toLowerCase().replace(/\.$/, '');
}

interface Pending {
  waiters: { cb: ResolveCallback; timer: NodeJS.Timeout }[];
}

/** NameResolver is one `resolver` directive's lookups and cache in one worker. */
export class NameResolver {
  readonly #spec: ResolverSpec;
  readonly #dns: dns.promises.Resolver;
  readonly #cache = new Map<string, Resolved>();
  readonly #pending = new Map<string, Pending>();

  constructor(spec: ResolverSpec) {
    this.#spec = spec;
    this.#dns = new dns.promises.Resolver({ timeout: TRY_TIMEOUT, tries: 4 });
    this.#dns.setServers(spec.servers);
  }

  /** cached returns a name's unexpired answer without a query, or undefined. */
  cached(name: string, now = Date.now()): Resolved | undefined {
    const hit = this.#cache.get(nameKey(name));
    if (hit && hit.expires > now) return hit;
    return undefined;
  }

  /** resolve answers from the cache or asks the servers; `cb` always runs later, never synchronously. */
  resolve(name: string, timeoutMs: number, cb: ResolveCallback): void {
    const key = nameKey(name);
    const hit = this.cached(key);
    if (hit) {
      queueMicrotask(() => cb(undefined, hit));
      return;
    }
    let p = this.#pending.get(key);
    if (!p) {
      p = { waiters: [] };
      this.#pending.set(key, p);
      this.#query(key, p);
    }
    const waiter = { cb, timer: setTimeout(() => this.#timeout(p, waiter), timeoutMs) };
    // The caller (a request, an upstream) keeps the process alive if it must; a lookup alone does not.
    waiter.timer.unref();
    p.waiters.push(waiter);
  }

  #timeout(p: Pending, waiter: Pending['waiters'][number]): void {
    const i = p.waiters.indexOf(waiter);
    if (i < 0) return;
    p.waiters.splice(i, 1);
    // Nobody waits any more: the next lookup starts a fresh query instead of joining one that may never end.
    if (!p.waiters.length) this.#pending.forEach((v, k) => v === p && this.#pending.delete(k));
    waiter.cb(TIMEDOUT, undefined);
  }

  async #query(key: string, p: Pending): Promise<void> {
    const spec = this.#spec;
    const [v4, v6] = await Promise.allSettled([
      spec.ipv4 ? this.#dns.resolve4(key, { ttl: true }) : Promise.resolve([]),
      spec.ipv6 ? this.#dns.resolve6(key, { ttl: true }) : Promise.resolve([]),
    ]);
    if (this.#pending.get(key) === p) this.#pending.delete(key);
    const records = [...(v4.status === 'fulfilled' ? v4.value : []), ...(v6.status === 'fulfilled' ? v6.value : [])];
    let err: ResolveError | undefined;
    let answer: Resolved | undefined;
    if (records.length) {
      const ttl = Math.min(...records.map((r) => r.ttl));
      answer = { addrs: records.map((r) => r.address), expires: Date.now() + (spec.valid ?? ttl * 1000) };
      if (this.#cache.size >= MAX_NAMES) this.#cache.delete(this.#cache.keys().next().value!);
      this.#cache.delete(key);
      this.#cache.set(key, answer);
    } else {
      // Failures are not cached (nginx drops the node on errors); the A error speaks first, as nginx's does.
      const failed = [v4, v6].find((r) => r.status === 'rejected') as PromiseRejectedResult | undefined;
      const code = (failed?.reason as NodeJS.ErrnoException | undefined)?.code ?? dns.NODATA;
      err = FROM_CARES[code] ?? SERVFAIL;
    }
    for (const w of p.waiters) {
      clearTimeout(w.timer);
      w.cb(err, answer);
    }
  }
}

/**
 * parseResolver reads `resolver address[:port] … [valid=time] [ipv4=on|off] [ipv6=on|off] [status_zone=zone]`
 * with nginx's messages. Name server addresses must be IP addresses (or localhost): nginx would look a name up
 * with the system resolver here, which a configuration pass cannot do synchronously.
 */
export function parseResolver(cf: ConfCtx, args: string[]): ResolverSpec {
  const spec: ResolverSpec = { servers: [], valid: undefined, ipv4: true, ipv6: true };
  for (const a of args) {
    const eq = a.indexOf('=');
    const key = eq < 0 ? '' : a.slice(0, eq);
    const val = a.slice(eq + 1);
    if (key === 'valid') {
      const t = parseTime(val, 's');
      if (t === undefined) cf.error(`invalid parameter: ${a}`);
      spec.valid = t;
    } else if (key === 'ipv4' || key === 'ipv6') {
      if (val !== 'on' && val !== 'off') cf.error(`invalid parameter: ${a}`);
      spec[key] = val === 'on';
    } else if (key === 'status_zone') {
      // NGINX Plus' per-resolver statistics; accepted, nothing is counted.
    } else spec.servers.push(serverAddress(cf, a));
  }
  if (!spec.ipv4 && !spec.ipv6) cf.error(`"ipv4" and "ipv6" cannot both be "off"`);
  return spec;
}

function serverAddress(cf: ConfCtx, a: string): string {
  const m = /^\[([^\]]*)\](?::(.*))?$/.exec(a) ?? /^([^:]*)(?::(.*))?$/.exec(a);
  if (!m) cf.error(`invalid host in resolver "${a}"`);
  const host = m![1] === 'localhost' ? '127.0.0.1' : m![1]!;
  const port = m![2];
  if (port !== undefined && (!/^\d+$/.test(port) || Number(port) < 1 || Number(port) > 65535)) cf.error(`invalid port in resolver "${a}"`);
  if (!net.isIP(host)) cf.error(`host not found in resolver "${a}"`);
  const text = net.isIPv6(host) ? `[${host}]` : host;
  return port === undefined ? host : `${text}:${port}`;
}

/** resolverOf returns the spec's worker resolver, made on first use. */
export function resolverOf(spec: ResolverSpec): NameResolver {
  return (spec.instance ??= new NameResolver(spec));
}
