/**
 * Ingress status: `.status.loadBalancer.ingress` gets the controller's address, from --publish-status-address or
 * from the --publish-service Service (load balancer ingress, external IPs, or ClusterIP). Only the leader calls
 * this; writes go to the status subresource and happen only when the status differs.
 */
import net from 'node:net';
import type { Logger } from './log.ts';
import type { ObjectRef, ResourceCondition } from './model/types.ts';
import { kindPath } from './model/objects.ts';
import type { KubeApi } from './sources/kubeapi.ts';
import type { Store } from './store.ts';

/** LoadBalancerIngress is one address in an Ingress status. */
export type LoadBalancerIngress = { ip: string } | { hostname: string };

/** StatusOptions say where the address comes from. */
export interface StatusOptions {
  publishService?: string;
  publishStatusAddress: string[];
  log: Logger;
}

function sortAddrs(a: LoadBalancerIngress[]): LoadBalancerIngress[] {
  return a.sort((x, y) => ('ip' in x ? x.ip : x.hostname).localeCompare('ip' in y ? y.ip : y.hostname));
}

/** StatusUpdater writes Ingress status. */
export class StatusUpdater {
  #api: KubeApi;
  #store: Store;
  #o: StatusOptions;

  constructor(api: KubeApi, store: Store, o: StatusOptions) {
    this.#api = api;
    this.#store = store;
    this.#o = o;
  }

  /** addresses returns the address list to publish (empty when nothing is configured or known). */
  async addresses(): Promise<LoadBalancerIngress[]> {
    if (this.#o.publishStatusAddress.length) return sortAddrs(this.#o.publishStatusAddress.map((a) => (net.isIP(a) ? { ip: a } : { hostname: a })));
    if (!this.#o.publishService) return [];
    const [ns, name] = this.#o.publishService.split('/') as [string, string];
    const r = await this.#api.request('GET', `/api/v1/namespaces/${ns}/services/${name}`);
    if (r.status !== 200) {
      this.#o.log.warn({ service: this.#o.publishService, status: r.status }, '--publish-service not found; Ingress status not updated');
      return [];
    }
    const svc = r.body;
    const lb = (svc.status?.loadBalancer?.ingress ?? []) as { ip?: string; hostname?: string }[];
    if (lb.length) return sortAddrs(lb.map((x) => (x.ip ? { ip: x.ip } : { hostname: x.hostname! })));
    if (svc.spec?.externalIPs?.length) return sortAddrs(svc.spec.externalIPs.map((ip: string) => ({ ip })));
    return svc.spec?.clusterIP && svc.spec.clusterIP !== 'None' ? [{ ip: svc.spec.clusterIP }] : [];
  }

  /** sync sets the status of the given Ingresses; it returns how many were written. */
  async sync(ingresses: ObjectRef[]): Promise<number> {
    const addrs = await this.addresses();
    if (addrs.length === 0) return 0;
    let written = 0;
    for (const ref of ingresses) {
      const ing = this.#store.get('Ingress', ref.namespace, ref.name);
      if (!ing) continue;
      const have = sortAddrs(((ing.status?.loadBalancer?.ingress ?? []) as LoadBalancerIngress[]).map((x) => ('ip' in x && x.ip ? { ip: x.ip } : { hostname: (x as { hostname: string }).hostname })));
      if (JSON.stringify(have) === JSON.stringify(addrs)) continue;
      const path = `/apis/networking.k8s.io/v1/namespaces/${ref.namespace}/ingresses/${ref.name}/status`;
      const r = await this.#api.request('PUT', path, { ...ing, status: { loadBalancer: { ingress: addrs } } });
      if (r.status === 200) written++;
      else this.#o.log.warn({ ingress: `${ref.namespace}/${ref.name}`, status: r.status, message: r.body?.message }, 'Ingress status update failed');
    }
    return written;
  }

  /** syncConditions writes Accepted and Programmed conditions on our custom resources; it returns how many were written. */
  async syncConditions(conditions: ResourceCondition[], applied: boolean): Promise<number> {
    let written = 0;
    for (const c of conditions) {
      const kind = c.object.kind as 'MailProxy' | 'HTTPRoutePolicy';
      const mp = this.#store.get(kind, c.object.namespace, c.object.name);
      if (!mp) continue;
      const want = [
        { type: 'Accepted', status: c.accepted ? 'True' : 'False', reason: c.reason, message: c.message },
        c.accepted
          ? applied
            ? { type: 'Programmed', status: 'True', reason: 'Programmed', message: 'the dataplane serves this configuration' }
            : { type: 'Programmed', status: 'False', reason: 'Pending', message: 'the dataplane has not accepted the configuration' }
          : { type: 'Programmed', status: 'False', reason: 'Invalid', message: 'not accepted' },
      ];
      const have = (mp.status?.conditions ?? []) as Record<string, unknown>[];
      const same = want.every((w) => have.some((h) => h['type'] === w.type && h['status'] === w.status && h['reason'] === w.reason && h['message'] === w.message && h['observedGeneration'] === c.generation));
      if (same) continue;
      const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
      const conditionsOut = want.map((w) => {
        const old = have.find((h) => h['type'] === w.type);
        return { ...w, observedGeneration: c.generation, lastTransitionTime: old && old['status'] === w.status ? old['lastTransitionTime'] : now };
      });
      const path = `${kindPath(kind, c.object.namespace)}/${c.object.name}/status`;
      const r = await this.#api.request('PUT', path, { ...mp, status: { ...(mp.status ?? {}), conditions: conditionsOut } });
      if (r.status === 200) written++;
      else this.#o.log.warn({ kind, object: `${c.object.namespace}/${c.object.name}`, status: r.status }, 'status update failed');
    }
    return written;
  }
}
