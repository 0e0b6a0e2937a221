/**
 * Host names the dataplane will look up (ExternalName Services, auth-url annotations), looked up by the
 * controller first.
 *
 * The dataplane looks a `server name:port` or a `proxy_pass http://name` up when it builds a configuration and, as
 * nginx does, refuses the whole configuration when the name is not found. For an ingress controller that would let
 * one Service or Ingress naming a host that does not exist hold back every other change. So the reconciler asks
 * `prepare` before each render (new names are looked up, bounded by LOOKUP_TIMEOUT_MS), and the model renders a
 * Service whose host was not found as one without endpoints (503 and a warning event, as ingress-nginx does) and
 * rejects an Ingress whose auth-url host was not found. Answers are kept for TTL_MS; a later lookup that changes
 * the answer calls `onChange` so the next render follows it.
 */
import dns from 'node:dns';
import net from 'node:net';
import { PREFIXES } from '../annotations/table.ts';
import type { Store } from '../store.ts';

const TTL_MS = 30_000;
const LOOKUP_TIMEOUT_MS = 5_000;

interface Answer {
  found: boolean;
  at: number;
}

export class HostLookups {
  #answers = new Map<string, Answer>();
  #inflight = new Map<string, Promise<void>>();
  /** Names a render counted as found before any answer came (prepare gave up waiting, or was not asked). */
  #assumed = new Set<string>();
  #onChange: () => void;
  #ttlMs: number;

  constructor(onChange: () => void = () => {}, ttlMs = TTL_MS) {
    this.#onChange = onChange;
    this.#ttlMs = ttlMs;
  }

  /** found tells whether `name` was found at its last lookup; a name not looked up yet counts as found. */
  found(name: string): boolean {
    if (net.isIP(name)) return true;
    const a = this.#answers.get(name);
    if (a === undefined) {
      this.#assumed.add(name);
      void this.#lookup(name);
      return true;
    }
    if (Date.now() - a.at > this.#ttlMs) void this.#lookup(name);
    return a.found;
  }

  /** prepare looks up the names not known yet and resolves once they are answered (or LOOKUP_TIMEOUT_MS passed). */
  async prepare(names: Iterable<string>): Promise<void> {
    const waits: Promise<void>[] = [];
    for (const name of names) {
      if (net.isIP(name) || this.#answers.has(name)) continue;
      waits.push(this.#lookup(name));
    }
    if (waits.length === 0) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(waits), new Promise<void>((r) => (timer = setTimeout(r, LOOKUP_TIMEOUT_MS)))]);
    clearTimeout(timer);
  }

  #lookup(name: string): Promise<void> {
    let p = this.#inflight.get(name);
    if (p) return p;
    p = new Promise<void>((resolve) => {
      dns.lookup(name, { all: true }, (err, addresses) => {
        this.#inflight.delete(name);
        const found = !err && addresses.length > 0;
        const before = this.#answers.get(name);
        this.#answers.set(name, { found, at: Date.now() });
        // A changed answer needs another render; so does a first "not found" for a name a render already counted
        // as found.
        const assumed = this.#assumed.delete(name);
        if (before === undefined ? assumed && !found : before.found !== found) this.#onChange();
        resolve();
      });
    });
    this.#inflight.set(name, p);
    return p;
  }
}

/** hostsToLookUp lists the host names of the store's ExternalName Services and of its Ingresses' auth-url annotations. */
export function hostsToLookUp(store: Store): string[] {
  const names: string[] = [];
  for (const svc of store.list('Service')) {
    const spec = svc.spec as { type?: string; externalName?: string } | undefined;
    if (spec?.type === 'ExternalName' && spec.externalName) names.push(spec.externalName);
  }
  for (const ing of store.list('Ingress')) {
    const ann = (ing.metadata as { annotations?: Record<string, string> }).annotations ?? {};
    for (const prefix of PREFIXES) {
      const host = hostOfUrl(ann[`${prefix}auth-url`]);
      if (host) names.push(host);
    }
  }
  return names;
}

/** hostOfUrl returns the host of an http(s) URL without IPv6 brackets, or undefined for anything else. */
export function hostOfUrl(url: string | undefined): string | undefined {
  if (!url) return undefined;
  try {
    const u = new URL(url);
    return u.protocol === 'http:' || u.protocol === 'https:' ? u.hostname.replace(/^\[(.*)\]$/, '$1') : undefined;
  } catch {
    return undefined;
  }
}
