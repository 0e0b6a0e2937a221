/**
 * Leader election on a coordination.k8s.io/v1 Lease, as client-go does it: the holder renews renewTime every
 * renew interval; another candidate takes over only after it has seen the same record unchanged for a whole
 * lease duration (its own clock, so clock skew between nodes does not matter). Writes carry the
 * resourceVersion read, so two candidates cannot both win. Only the leader writes Ingress status.
 */
import type { Logger } from './log.ts';
import type { KubeApi } from './sources/kubeapi.ts';

/** ElectorOptions configure one candidate. */
export interface ElectorOptions {
  namespace: string;
  name: string;
  identity: string;
  leaseDurationSeconds: number;
  renewIntervalSeconds: number;
  log: Logger;
  onChange: (leading: boolean) => void;
}

function microTime(d = new Date()): string {
  return d.toISOString().replace('Z', '000Z');
}

/** LeaderElector runs the election loop for one identity. */
export class LeaderElector {
  #api: KubeApi;
  #o: ElectorOptions;
  #leading = false;
  #timer?: NodeJS.Timeout;
  #observed = '';
  #observedAt = 0;
  #lastRenew = 0;
  #stopped = false;

  constructor(api: KubeApi, o: ElectorOptions) {
    this.#api = api;
    this.#o = o;
  }

  /** leading tells whether this candidate holds the lease. */
  get leading(): boolean {
    return this.#leading;
  }

  get #path(): string {
    return `/apis/coordination.k8s.io/v1/namespaces/${this.#o.namespace}/leases`;
  }

  #set(leading: boolean): void {
    if (leading === this.#leading) return;
    this.#leading = leading;
    this.#o.log.info({ lease: `${this.#o.namespace}/${this.#o.name}`, identity: this.#o.identity }, leading ? 'became leader' : 'lost leadership');
    this.#o.onChange(leading);
  }

  /** start runs the loop (first attempt immediately). */
  start(): void {
    const loop = async () => {
      try {
        await this.tryAcquireOrRenew();
      } catch (e) {
        this.#o.log.warn({ error: (e as Error).message }, 'leader election: API request failed');
      }
      // Without a successful renew for a whole lease duration we must assume someone else leads.
      if (this.#leading && Date.now() - this.#lastRenew > this.#o.leaseDurationSeconds * 1000) this.#set(false);
      if (!this.#stopped) this.#timer = setTimeout(loop, this.#o.renewIntervalSeconds * 1000);
    };
    void loop();
  }

  /** tryAcquireOrRenew makes one attempt; it returns whether this candidate leads afterwards. */
  async tryAcquireOrRenew(): Promise<boolean> {
    const now = new Date();
    const spec = { holderIdentity: this.#o.identity, leaseDurationSeconds: Math.ceil(this.#o.leaseDurationSeconds), renewTime: microTime(now) };
    const got = await this.#api.request('GET', `${this.#path}/${this.#o.name}`);
    if (got.status === 404) {
      const r = await this.#api.request('POST', this.#path, { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: this.#o.name, namespace: this.#o.namespace }, spec: { ...spec, acquireTime: microTime(now), leaseTransitions: 0 } });
      return this.#result(r.status === 201 || r.status === 200);
    }
    if (got.status !== 200) throw new Error(`GET lease: HTTP ${got.status}`);
    const lease = got.body;
    const cur = lease.spec ?? {};
    const record = `${cur.holderIdentity ?? ''}|${cur.renewTime ?? ''}`;
    if (record !== this.#observed) {
      this.#observed = record;
      this.#observedAt = Date.now();
    }
    const mine = cur.holderIdentity === this.#o.identity;
    const expired = !cur.holderIdentity || this.#observedAt + (cur.leaseDurationSeconds ?? this.#o.leaseDurationSeconds) * 1000 < Date.now();
    if (!mine && !expired) return this.#result(false);
    const next = { ...lease, spec: { ...cur, ...spec, ...(mine ? {} : { acquireTime: microTime(now), leaseTransitions: (cur.leaseTransitions ?? 0) + 1 }) } };
    const r = await this.#api.request('PUT', `${this.#path}/${this.#o.name}`, next);
    return this.#result(r.status === 200);
  }

  #result(ok: boolean): boolean {
    if (ok) this.#lastRenew = Date.now();
    this.#set(ok);
    return ok;
  }

  /** stop ends the loop and, when leading, releases the lease so another replica takes over at once. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    if (!this.#leading) return;
    try {
      const got = await this.#api.request('GET', `${this.#path}/${this.#o.name}`);
      if (got.status === 200 && got.body.spec?.holderIdentity === this.#o.identity) {
        await this.#api.request('PUT', `${this.#path}/${this.#o.name}`, { ...got.body, spec: { ...got.body.spec, holderIdentity: '', leaseDurationSeconds: 1 } });
      }
    } catch {
      // Best effort: the lease expires on its own.
    }
    this.#set(false);
  }
}
