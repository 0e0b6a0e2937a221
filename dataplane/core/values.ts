/**
 * Value parsers for directive arguments, with nginx's units. Each returns undefined on a malformed value so
 * the caller can report `invalid value "x"` (or the directive-specific wording) at the right file and line.
 */

const SIZE_UNITS: Record<string, number> = { '': 1, k: 1024, K: 1024, m: 1024 ** 2, M: 1024 ** 2, g: 1024 ** 3, G: 1024 ** 3 };

/** parseSize reads `512`, `10k`, `1m`, `2G` into bytes. */
export function parseSize(v: string): number | undefined {
  const m = /^(\d+)([kKmMgG]?)$/.exec(v);
  if (!m) return undefined;
  const n = Number(m[1]) * SIZE_UNITS[m[2]!]!;
  return Number.isSafeInteger(n) ? n : undefined;
}

/** parseOffset is parseSize that also accepts nginx's `0` and `-1`-free offsets; same units. */
export const parseOffset = parseSize;

const TIME_UNITS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 7 * 86_400_000,
  M: 30 * 86_400_000,
  y: 365 * 86_400_000,
};

/**
 * parseTime reads nginx time strings into milliseconds: `500ms`, `30s`, `1h 30m`, `1h30m`, `90` (seconds by
 * default). Units must go from larger to smaller, as nginx requires.
 */
export function parseTime(v: string, defaultUnit: 'ms' | 's' = 's'): number | undefined {
  const s = v.trim();
  if (s === '') return undefined;
  if (/^\d+$/.test(s)) return Number(s) * TIME_UNITS[defaultUnit]!;
  const re = /(\d+)\s*(ms|[smhdwMy])\s*/y;
  let total = 0;
  let last = Infinity;
  let pos = 0;
  while (pos < s.length) {
    re.lastIndex = pos;
    const m = re.exec(s);
    if (!m) return undefined;
    const unit = TIME_UNITS[m[2]!]!;
    if (unit >= last) return undefined;
    last = unit;
    total += Number(m[1]) * unit;
    pos = re.lastIndex;
  }
  return Number.isSafeInteger(total) ? total : undefined;
}

/** parseNumber reads a non-negative decimal integer. */
export function parseNumber(v: string): number | undefined {
  if (!/^\d+$/.test(v)) return undefined;
  const n = Number(v);
  return Number.isSafeInteger(n) ? n : undefined;
}

/** parseFlag reads `on`/`off` (case-insensitive, as nginx). */
export function parseFlag(v: string): boolean | undefined {
  const l = v.toLowerCase();
  return l === 'on' ? true : l === 'off' ? false : undefined;
}

/** parseKeyval splits `key=value`; the value may be empty. */
export function parseKeyval(v: string): [string, string] | undefined {
  const i = v.indexOf('=');
  return i <= 0 ? undefined : [v.slice(0, i), v.slice(i + 1)];
}

/** formatSize prints bytes with the largest exact unit, for `-T` style output and messages. */
export function formatSize(n: number): string {
  if (n !== 0 && n % 1024 ** 3 === 0) return `${n / 1024 ** 3}g`;
  if (n !== 0 && n % 1024 ** 2 === 0) return `${n / 1024 ** 2}m`;
  if (n !== 0 && n % 1024 === 0) return `${n / 1024}k`;
  return String(n);
}
