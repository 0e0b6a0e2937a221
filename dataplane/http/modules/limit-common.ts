/** What limit_req and limit_conn share: the `zone=name:size` argument, their log level and status directives. */
import type { ConfCtx } from '../../core/conf.ts';
import { logLevelNumber } from '../../core/log.ts';
import { ARGS, CTX, type Directive } from '../../core/module.ts';
import { flagSlot } from '../../core/slots.ts';
import { parseNumber, parseSize } from '../../core/values.ts';
import { compileTemplate, type Template } from '../variables.ts';
import { MIN_ZONE_SIZE, SharedTable } from './shared-table.ts';

/** LimitZone is a declared zone; `table` is undefined while only referenced (declared later in the block). */
export interface LimitZone {
  name: string;
  key: Template;
  table: SharedTable | undefined;
}

/** zoneArg reads `zone=name:size` into name and bytes, with nginx's errors. */
export function zoneArg(cf: ConfCtx, a: string): [string, number] {
  const spec = a.slice(5);
  const colon = spec.lastIndexOf(':');
  if (colon <= 0) cf.error(`invalid zone size "${a}"`);
  const size = parseSize(spec.slice(colon + 1));
  if (size === undefined) cf.error(`invalid zone size "${a}"`);
  const name = spec.slice(0, colon);
  if (size < MIN_ZONE_SIZE) cf.error(`zone "${name}" is too small`);
  return [name, size];
}

const LEVELS = ['info', 'notice', 'warn', 'error'];

/** levelSlot stores one of info|notice|warn|error as a log level number. */
export function levelSlot(field: string): Directive['set'] {
  return (cf, d, conf: Record<string, unknown>) => {
    if (conf[field] !== undefined) return 'is duplicate';
    if (!LEVELS.includes(d.args[0]!)) cf.error(`invalid value "${d.args[0]}"`);
    conf[field] = logLevelNumber(d.args[0]!);
  };
}

/** statusSlot stores a refusal status between 400 and 599. */
export function statusSlot(field: string): Directive['set'] {
  return (cf, d, conf: Record<string, unknown>) => {
    if (conf[field] !== undefined) return 'is duplicate';
    const n = parseNumber(d.args[0]!);
    if (n === undefined) return 'invalid number';
    if (n < 400 || n > 599) cf.error('value must be between 400 and 599');
    conf[field] = n;
  };
}

/**
 * bindZone creates (or fills the placeholder of) zone `name` for a `*_zone` directive: the shared buffer comes
 * from the cycle's zone pool under `tag`, so it is shared by workers and kept across reloads.
 */
export function bindZone<Z extends LimitZone>(cf: ConfCtx, zones: Map<string, Z>, directive: string, name: string, size: number, tag: string, key: string, extra: Omit<Z, keyof LimitZone>): void {
  const cur = zones.get(name);
  if (cur?.table) cf.error(`${directive} "${name}" is already bound to key "${cur.key.source}"`);
  let buffer: SharedArrayBuffer;
  try {
    buffer = cf.zones.get(name, size, tag);
  } catch (err) {
    cf.error((err as Error).message);
  }
  const zone = { ...extra, name, key: compileTemplate(cf, key), table: new SharedTable(buffer) } as Z;
  if (cur) Object.assign(cur, zone);
  else zones.set(name, zone);
}

/** zoneRef returns zone `name`, or a placeholder that its `*_zone` directive fills in later in the block. */
export function zoneRef<Z extends LimitZone>(zones: Map<string, Z>, name: string, extra: Omit<Z, keyof LimitZone>): Z {
  let zone = zones.get(name);
  if (!zone) zones.set(name, (zone = { ...extra, name, key: undefined as unknown as Template, table: undefined } as Z));
  return zone;
}

/** checkZones reports zones used by a limit directive but never declared (`unknown limit_req_zone "x"`). */
export function checkZones(cf: ConfCtx, zones: Map<string, LimitZone>, directive: string): void {
  for (const z of zones.values()) if (!z.table) cf.error(`unknown ${directive} "${z.name}"`);
}

/** LimitSettings are the per-location settings both limit modules have: log level, refusal status, dry run. */
export interface LimitSettings {
  logLevel?: number;
  status?: number;
  dryRun?: boolean;
}

/** settingRows declares `<prefix>_log_level`, `<prefix>_status` and `<prefix>_dry_run`. */
export function settingRows(prefix: string): Directive[] {
  const LOC = CTX.HTTP_MAIN | CTX.HTTP_SRV | CTX.HTTP_LOC;
  return [
    { name: `${prefix}_log_level`, contexts: LOC, args: ARGS.TAKE1, conf: 'loc', set: levelSlot('logLevel') },
    { name: `${prefix}_status`, contexts: LOC, args: ARGS.TAKE1, conf: 'loc', set: statusSlot('status') },
    { name: `${prefix}_dry_run`, contexts: LOC, args: ARGS.FLAG, conf: 'loc', set: flagSlot('dryRun') },
  ];
}

/** mergeSettings fills the settings with nginx's defaults: error, 503, off. */
export function mergeSettings(p: LimitSettings, c: LimitSettings): void {
  c.logLevel ??= p.logLevel ?? logLevelNumber('error');
  c.status ??= p.status ?? 503;
  c.dryRun ??= p.dryRun ?? false;
}
