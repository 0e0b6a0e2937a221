/**
 * ngx_http_limit_req_module: request rate limits per key with nginx's leaky bucket, counted in
 * milli-requests: each request adds 1000 to the key's excess, which leaks at `rate`; above `burst` the
 * request is refused (limit_req_status, 503), otherwise it waits until the excess above `delay=` has leaked
 * (`nodelay`: never). Buckets live in a shared zone (shared-table.ts), so every worker sees the same counts.
 */
import type { ConfCtx } from '../../core/conf.ts';
import { logLevelNumber, LOG_LEVELS, type LogLevel } from '../../core/log.ts';
import { ARGS, CTX } from '../../core/module.ts';
import type { ConfDirective } from '../../core/tree.ts';
import { parseNumber } from '../../core/values.ts';
import type { HttpRequest } from '../request.ts';
import { logRequest } from '../request-log.ts';
import { AGAIN, DECLINED, PHASE, defineHttpModule, type PhaseHandler } from '../types.ts';
import { evaluate } from '../variables.ts';
import { bindZone, checkZones, mergeSettings, settingRows, zoneArg, zoneRef, type LimitSettings, type LimitZone } from './limit-common.ts';
import { tableKey } from './shared-table.ts';

/** LimitReqZone is a `limit_req_zone`: key, rate in milli-requests per second, and its table. */
export interface LimitReqZone extends LimitZone {
  rate: number;
}

/** LimitReq is one `limit_req` of a location; burst and delay in milli-requests. */
interface LimitReq {
  zone: LimitReqZone;
  burst: number;
  delay: number;
}

export interface LimitReqMainConf {
  zones: Map<string, LimitReqZone>;
}

export interface LimitReqLocConf extends LimitSettings {
  limits?: LimitReq[];
}

/** $limit_req_status values. */
const PASSED = 'PASSED';
const DELAYED = 'DELAYED';
const REJECTED = 'REJECTED';
const DELAYED_DRY_RUN = 'DELAYED_DRY_RUN';
const REJECTED_DRY_RUN = 'REJECTED_DRY_RUN';

const LOC = CTX.HTTP_MAIN | CTX.HTTP_SRV | CTX.HTTP_LOC;
const TAG = 'ngx_http_limit_req_module';
/** Entries idle this long whose bucket has drained are reclaimed (nginx expires them after 60s too). */
const EXPIRE_MS = 60_000;
const NO_DELAY = 0x7fffffff;

function limitReqZone(cf: ConfCtx, d: ConfDirective, lmcf: LimitReqMainConf): string | void {
  let name: string | undefined;
  let size = 0;
  let rate = 0;
  for (const a of d.args.slice(1)) {
    if (a.startsWith('zone=')) [name, size] = zoneArg(cf, a);
    else if (a.startsWith('rate=')) {
      const m = /^(\d+)r\/([sm])$/.exec(a.slice(5));
      const n = m ? Number(m[1]) : 0;
      if (!m || n <= 0) cf.error(`invalid rate "${a}"`);
      rate = m[2] === 's' ? n * 1000 : Math.floor((n * 1000) / 60);
    } else if (a === 'sync') {
      // nginx Plus clustering: not applicable; zones are already shared by every worker.
    } else cf.error(`invalid parameter "${a}"`);
  }
  if (name === undefined) cf.error(`"limit_req_zone" must have "zone" parameter`);
  if (rate === 0) rate = 1000;
  bindZone(cf, lmcf.zones, 'limit_req_zone', name, size, TAG, d.args[0]!, { rate });
}

function limitReq(cf: ConfCtx, d: ConfDirective, conf: LimitReqLocConf): string | void {
  const lmcf = cf.level.main[cf.index(httpLimitReqModule)] as LimitReqMainConf;
  let name: string | undefined;
  let burst = 0;
  let delay = 0;
  for (const a of d.args) {
    if (a.startsWith('zone=')) name = a.slice(5);
    else if (a.startsWith('burst=')) {
      const n = parseNumber(a.slice(6));
      if (n === undefined || n === 0) cf.error(`invalid burst value "${a}"`);
      burst = n * 1000;
    } else if (a.startsWith('delay=')) {
      const n = parseNumber(a.slice(6));
      if (n === undefined || n === 0) cf.error(`invalid delay value "${a}"`);
      delay = n * 1000;
    } else if (a === 'nodelay') delay = NO_DELAY;
    else cf.error(`invalid parameter "${a}"`);
  }
  if (name === undefined) cf.error(`"limit_req" must have "zone" parameter`);
  // A zone may be declared after its first use: keep a placeholder that limit_req_zone fills in.
  const zone = zoneRef(lmcf.zones, name, { rate: 0 });
  const limits = (conf.limits ??= []);
  if (limits.some((l) => l.zone === zone)) return 'is duplicate';
  limits.push({ zone, burst, delay });
}

/** lookup runs one bucket under the zone lock: the new excess, or -1 when over the burst, -2 when the zone is full. */
function lookup(zone: LimitReqZone, key: string, burst: number, now: number): number {
  const t = zone.table!;
  const rate = zone.rate;
  t.lock();
  try {
    const slot = t.find(tableKey(key), true, (s) => now - t.last(s) > EXPIRE_MS && t.value(s) - (rate * (now - t.last(s))) / 1000 <= 0);
    if (slot < 0) return -2;
    const last = t.last(slot);
    if (last === 0) {
      t.setValue(slot, 0);
      t.setLast(slot, now);
      return 0;
    }
    let ms = now - last;
    if (ms < 0) ms = 0;
    let excess = t.value(slot) - Math.floor((rate * ms) / 1000) + 1000;
    if (excess < 0) excess = 0;
    if (excess > burst) return -1;
    t.setValue(slot, excess);
    t.setLast(slot, now);
    return excess;
  } finally {
    t.unlock();
  }
}

/** refund takes back one request from a bucket when a later limit refused the request. */
function refund(zone: LimitReqZone, key: string): void {
  const t = zone.table!;
  t.lock();
  const slot = t.find(tableKey(key), false);
  if (slot >= 0) t.setValue(slot, Math.max(0, t.value(slot) - 1000));
  t.unlock();
}

const fmtExcess = (e: number) => `${Math.floor(e / 1000)}.${String(e % 1000).padStart(3, '0')}`;

function handler(cf: ConfCtx): PhaseHandler {
  const idx = cf.index(httpLimitReqModule);
  return (r) => {
    if (r.main.mainCtx[idx] !== undefined) return DECLINED;
    const conf = r.loc.confs[idx] as LimitReqLocConf;
    const limits = conf.limits;
    if (!limits) return DECLINED;
    const now = Date.now();
    const taken: [LimitReq, string][] = [];
    let maxDelay = 0;
    let delayBy: [LimitReq, number] | undefined;
    for (const limit of limits) {
      const key = evaluate(r, limit.zone.key);
      if (key === '') continue;
      const excess = lookup(limit.zone, key, limit.burst, now);
      if (excess === -2) {
        logRequest(r, 'alert', `could not allocate node in limit_req zone "${limit.zone.name}"`);
        for (const [l, k] of taken) refund(l.zone, k);
        return 500;
      }
      if (excess === -1) {
        for (const [l, k] of taken) refund(l.zone, k);
        const dry = conf.dryRun!;
        logRequest(r, LOG_LEVELS[conf.logLevel!]!, `limiting requests${dry ? ', dry run' : ''}, excess: ${fmtExcess(excessNow(limit, key, now))} by zone "${limit.zone.name}"`);
        r.main.mainCtx[idx] = dry ? REJECTED_DRY_RUN : REJECTED;
        return dry ? DECLINED : conf.status!;
      }
      taken.push([limit, key]);
      if (limit.delay !== NO_DELAY && excess > limit.delay) {
        const ms = Math.ceil(((excess - limit.delay) * 1000) / limit.zone.rate);
        if (ms > maxDelay) [maxDelay, delayBy] = [ms, [limit, excess]];
      }
    }
    if (maxDelay === 0) {
      r.main.mainCtx[idx] = PASSED;
      return DECLINED;
    }
    const dry = conf.dryRun!;
    const level = delayLevel(conf.logLevel!);
    logRequest(r, level, `delaying request${dry ? ', dry run' : ''}, excess: ${fmtExcess(delayBy![1])}, by zone "${delayBy![0].zone.name}"`);
    r.main.mainCtx[idx] = dry ? DELAYED_DRY_RUN : DELAYED;
    if (dry) return DECLINED;
    setTimeout(resume, maxDelay, r);
    return AGAIN;
  };
}

/** excessNow is the excess a refused request would have had (for the log line). */
function excessNow(limit: LimitReq, key: string, now: number): number {
  const t = limit.zone.table!;
  t.lock();
  const slot = t.find(tableKey(key), false);
  const v = slot < 0 ? 0 : t.value(slot) - Math.floor((limit.zone.rate * Math.max(0, now - t.last(slot))) / 1000) + 1000;
  t.unlock();
  return Math.max(0, v);
}

/** delayLevel: nginx logs delays one level below refusals (info stays info). */
function delayLevel(level: number): LogLevel {
  return LOG_LEVELS[level === logLevelNumber('info') ? level : level + 1]!;
}

function resume(r: HttpRequest): void {
  if (r.finalized) return;
  r.phaseIndex++;
  r.http.runPhases(r);
}

export const httpLimitReqModule = defineHttpModule<LimitReqMainConf, undefined, LimitReqLocConf>({
  name: 'ngx_http_limit_req_module',
  type: 'http',
  configureArg: '--without-http_limit_req_module',
  variables: [{ name: 'limit_req_status', get: (r) => r.main.mainCtx[idxOf(r)] as string | undefined }],
  directives: [
    { name: 'limit_req_zone', contexts: CTX.HTTP_MAIN, args: ARGS.TWOMORE, conf: 'main', set: limitReqZone },
    { name: 'limit_req', contexts: LOC, args: ARGS.TAKE123, conf: 'loc', set: limitReq },
    ...settingRows('limit_req'),
  ],
  createMainConf: () => ({ zones: new Map() }),
  initMainConf(cf, lmcf) {
    checkZones(cf, lmcf.zones, 'limit_req_zone');
  },
  createLocConf: () => ({}),
  mergeLocConf(_cf, p, c) {
    c.limits ??= p.limits;
    mergeSettings(p, c);
  },
  phases: [{ phase: PHASE.PREACCESS, handler }],
});

function idxOf(r: HttpRequest): number {
  return r.http.cycle.registry.index(httpLimitReqModule);
}
