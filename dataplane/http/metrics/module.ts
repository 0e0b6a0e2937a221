/**
 * ngx_http_portico_metrics_module: request metrics for locations rendered from Ingresses. The controller
 * marks such locations with `portico_ingress NAMESPACE INGRESS SERVICE PATH [CANARY];`; a log-phase handler
 * records every request there into the worker's HttpMetricsStore. Labels are fixed per location (the rule
 * path, never the URI), so series stay bounded by the number of Ingress paths × statuses × methods.
 */
import type { ConfCtx } from '../../core/conf.ts';
import { ARGS, CTX } from '../../core/module.ts';
import { flagSlot } from '../../core/slots.ts';
import type { CoreMainConf } from '../core-conf.ts';
import { httpCoreModule } from '../core-module.ts';
import type { HttpRequest } from '../request.ts';
import { OK, PHASE, defineHttpModule, type PhaseHandler, type VariableDef } from '../types.ts';
import { findVariable, getVariable } from '../variables.ts';
import {
  H_BYTES_SENT,
  H_CONNECT_TIME,
  H_HEADER_TIME,
  H_REQUEST_SIZE,
  H_REQUEST_TIME,
  H_RESPONSE_SIZE,
  H_RESPONSE_TIME,
  HttpMetricsStore,
} from './store.ts';

export interface MetricsMainConf {
  perHost?: boolean;
  statusClasses?: boolean;
}

export interface MetricsLocConf {
  labels?: { namespace: string; ingress: string; service: string; path: string; canary: string };
  /** The label-set key prefix shared by all requests of this location. */
  key?: string;
}

/** STORE_KEY names the worker store holding HTTP metrics (read by the master when it gathers metrics). */
export const STORE_KEY = 'http_metrics';

/** metricsStore returns the worker's store, creating it on first use. */
export function metricsStore(r: HttpRequest): HttpMetricsStore | undefined {
  return r.http.cycle.runtime?.store(STORE_KEY, () => new HttpMetricsStore());
}

/** lastValue reads the last entry of an nginx upstream list variable ("0.001, 0.002 : 0.003"), or -1. */
export function lastValue(v: string | undefined): number {
  if (v === undefined || v === '' || v === '-') return -1;
  const i = Math.max(v.lastIndexOf(','), v.lastIndexOf(':'));
  const n = Number(i < 0 ? v : v.slice(i + 1).trim());
  return Number.isFinite(n) ? n : -1;
}

function logHandler(cf: ConfCtx): PhaseHandler {
  const idx = cf.index(httpMetricsModule);
  const main = cf.level.main[idx] as MetricsMainConf;
  const cmcf = cf.level.main[cf.index(httpCoreModule)] as CoreMainConf;
  const upstream = (name: string): VariableDef | undefined => findVariable(cmcf, name);
  const vResponse = upstream('upstream_response_time');
  const vHeader = upstream('upstream_header_time');
  const vConnect = upstream('upstream_connect_time');
  const perHost = main.perHost!;
  const classes = main.statusClasses!;
  const timing = (r: HttpRequest, def: VariableDef | undefined, name: string) => (def ? lastValue(getVariable(r, def, name)) : -1);

  return (r) => {
    const store = metricsStore(r);
    if (!store) return OK;
    store.requestsTotal++;
    const lc = r.loc.confs[idx] as MetricsLocConf | undefined;
    const labels = lc?.labels;
    if (!labels) return OK;
    const status = classes ? `${String(r.out.status)[0]}xx` : String(r.out.status);
    const host = perHost ? hostLabel(r) : '';
    const key = `${lc.key}\u0000${status}\u0000${r.method}\u0000${host}`;
    const s = store.get(key, () => {
      const l: Record<string, string> = { status, method: r.method, path: labels.path, namespace: labels.namespace, ingress: labels.ingress, service: labels.service, canary: labels.canary };
      if (perHost) l.host = host;
      return l;
    });
    s.requests++;
    s.observe(H_REQUEST_TIME, Number(process.hrtime.bigint() - r.startHr) / 1e9);
    s.observe(H_REQUEST_SIZE, r.requestLength);
    s.observe(H_RESPONSE_SIZE, r.bytesSent);
    s.observe(H_BYTES_SENT, r.bytesSent);
    const rt = timing(r, vResponse, 'upstream_response_time');
    if (rt >= 0) s.observe(H_RESPONSE_TIME, rt);
    const ht = timing(r, vHeader, 'upstream_header_time');
    if (ht >= 0) s.observe(H_HEADER_TIME, ht);
    const ct = timing(r, vConnect, 'upstream_connect_time');
    if (ct >= 0) s.observe(H_CONNECT_TIME, ct);
    return OK;
  };
}

/** hostLabel is the Host when it is one of the server's exact names, else the server's first name (bounded). */
function hostLabel(r: HttpRequest): string {
  const names = r.srv.serverNames;
  for (const n of names) if (!n.regex && n.name === r.host) return r.host;
  return names[0]?.name ?? '';
}

export const httpMetricsModule = defineHttpModule<MetricsMainConf, undefined, MetricsLocConf>({
  name: 'ngx_http_portico_metrics_module',
  type: 'http',
  directives: [
    {
      name: 'portico_ingress',
      contexts: CTX.HTTP_LOC,
      args: ARGS.TAKE4 | ARGS.TAKE5,
      conf: 'loc',
      set(_cf, d, lc: MetricsLocConf) {
        if (lc.labels) return 'is duplicate';
        const [namespace, ingress, service, path, canary = ''] = d.args as [string, string, string, string, string?];
        lc.labels = { namespace, ingress, service, path, canary };
        lc.key = [namespace, ingress, service, path, canary].join('\u0000');
      },
    },
    { name: 'portico_metrics_per_host', contexts: CTX.HTTP_MAIN, args: ARGS.FLAG, conf: 'main', set: flagSlot('perHost') },
    { name: 'portico_metrics_status_classes', contexts: CTX.HTTP_MAIN, args: ARGS.FLAG, conf: 'main', set: flagSlot('statusClasses') },
  ],
  createMainConf: () => ({}),
  initMainConf(_cf, c) {
    c.perHost ??= true;
    c.statusClasses ??= false;
  },
  createLocConf: () => ({}),
  phases: [{ phase: PHASE.LOG, handler: logHandler }],
});
