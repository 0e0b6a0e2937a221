/**
 * ngx_http_limit_conn_module: at most N requests in progress per key (a "connection" is a request being
 * processed, as in nginx). Counts live in a shared zone (shared-table.ts) seen by every worker; a request
 * takes its places at preaccess and gives them back when it is over, whatever way it ends.
 */
import type { ConfCtx } from '../../core/conf.ts';
import { LOG_LEVELS } from '../../core/log.ts';
import { ARGS, CTX } from '../../core/module.ts';
import type { ConfDirective } from '../../core/tree.ts';
import { parseNumber } from '../../core/values.ts';
import type { HttpRequest } from '../request.ts';
import { logRequest } from '../request-log.ts';
import { DECLINED, PHASE, defineHttpModule, type PhaseHandler } from '../types.ts';
import { evaluate } from '../variables.ts';
import { bindZone, checkZones, mergeSettings, settingRows, zoneArg, zoneRef, type LimitSettings, type LimitZone } from './limit-common.ts';
import { tableKey, type SharedTable, type TableKey } from './shared-table.ts';

interface LimitConn {
  zone: LimitZone;
  conn: number;
}

export interface LimitConnMainConf {
  zones: Map<string, LimitZone>;
}

export interface LimitConnLocConf extends LimitSettings {
  limits?: LimitConn[];
}

const LOC = CTX.HTTP_MAIN | CTX.HTTP_SRV | CTX.HTTP_LOC;
const TAG = 'ngx_http_limit_conn_module';

function limitConnZone(cf: ConfCtx, d: ConfDirective, lmcf: LimitConnMainConf): string | void {
  let name: string | undefined;
  let size = 0;
  for (const a of d.args.slice(1)) {
    if (a.startsWith('zone=')) [name, size] = zoneArg(cf, a);
    else cf.error(`invalid parameter "${a}"`);
  }
  if (name === undefined) cf.error(`"limit_conn_zone" must have "zone" parameter`);
  bindZone(cf, lmcf.zones, 'limit_conn_zone', name, size, TAG, d.args[0]!, {});
}

function limitConn(cf: ConfCtx, d: ConfDirective, conf: LimitConnLocConf): string | void {
  const lmcf = cf.level.main[cf.index(httpLimitConnModule)] as LimitConnMainConf;
  const name = d.args[0]!;
  const n = parseNumber(d.args[1]!);
  if (n === undefined || n === 0 || n > 65535) cf.error(`invalid number of connections "${d.args[1]}"`);
  const zone = zoneRef(lmcf.zones, name, {});
  const limits = (conf.limits ??= []);
  if (limits.some((l) => l.zone === zone)) return 'is duplicate';
  limits.push({ zone, conn: n });
}

/** take adds one to the key's count unless it is at `max`: 1 taken, 0 over the limit, -1 zone full. */
function take(t: SharedTable, key: TableKey, max: number): number {
  t.lock();
  try {
    const slot = t.find(key, true);
    if (slot < 0) return -1;
    const v = t.value(slot);
    if (v >= max) {
      if (v === 0) t.remove(slot);
      return 0;
    }
    t.setValue(slot, v + 1);
    return 1;
  } finally {
    t.unlock();
  }
}

function release(t: SharedTable, key: TableKey): void {
  t.lock();
  const slot = t.find(key, false);
  if (slot >= 0) {
    const v = t.value(slot) - 1;
    if (v <= 0) t.remove(slot);
    else t.setValue(slot, v);
  }
  t.unlock();
}

function handler(cf: ConfCtx): PhaseHandler {
  const idx = cf.index(httpLimitConnModule);
  return (r) => {
    if (r.main.mainCtx[idx] !== undefined) return DECLINED;
    const conf = r.loc.confs[idx] as LimitConnLocConf;
    const limits = conf.limits;
    if (!limits) return DECLINED;
    const held: [SharedTable, TableKey][] = [];
    const giveBack = () => {
      for (const [t, k] of held) release(t, k);
    };
    for (const limit of limits) {
      const key = evaluate(r, limit.zone.key);
      if (key === '') continue;
      const k = tableKey(key);
      const t = limit.zone.table!;
      const rc = take(t, k, limit.conn);
      if (rc === 1) {
        held.push([t, k]);
        continue;
      }
      if (rc < 0) logRequest(r, 'alert', `could not allocate node in limit_conn zone "${limit.zone.name}"`);
      else logRequest(r, LOG_LEVELS[conf.logLevel!]!, `limiting connections${conf.dryRun ? ', dry run,' : ''} by zone "${limit.zone.name}"`);
      if (conf.dryRun && rc === 0) {
        r.main.mainCtx[idx] = 'REJECTED_DRY_RUN';
        continue;
      }
      giveBack();
      r.main.mainCtx[idx] = 'REJECTED';
      return conf.status!;
    }
    r.main.mainCtx[idx] ??= 'PASSED';
    if (held.length > 0) r.onCleanup(giveBack);
    return DECLINED;
  };
}

export const httpLimitConnModule = defineHttpModule<LimitConnMainConf, undefined, LimitConnLocConf>({
  name: 'ngx_http_limit_conn_module',
  type: 'http',
  configureArg: '--without-http_limit_conn_module',
  variables: [{ name: 'limit_conn_status', get: (r) => r.main.mainCtx[idxOf(r)] as string | undefined }],
  directives: [
    { name: 'limit_conn_zone', contexts: CTX.HTTP_MAIN, args: ARGS.TWOMORE, conf: 'main', set: limitConnZone },
    { name: 'limit_conn', contexts: LOC, args: ARGS.TAKE2, conf: 'loc', set: limitConn },
    ...settingRows('limit_conn'),
  ],
  createMainConf: () => ({ zones: new Map() }),
  initMainConf(cf, lmcf) {
    checkZones(cf, lmcf.zones, 'limit_conn_zone');
  },
  createLocConf: () => ({}),
  mergeLocConf(_cf, p, c) {
    c.limits ??= p.limits;
    mergeSettings(p, c);
  },
  phases: [{ phase: PHASE.PREACCESS, handler }],
});

function idxOf(r: HttpRequest): number {
  return r.http.cycle.registry.index(httpLimitConnModule);
}
