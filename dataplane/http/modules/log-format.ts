/**
 * Access log formats (ngx_http_log_module's log_format): a format compiles once into literal text and
 * variable operations; each variable value is escaped as the format says (`default`: `"`, `\`, control and
 * non-ASCII bytes as `\xHH`; `json`: JSON string escapes; `none`: as is). Strings here are latin1, one char
 * per byte, so escaping by char code is escaping by byte and the file gets the bytes the client sent.
 */
import type { ConfCtx } from '../../core/conf.ts';
import type { HttpRequest } from '../request.ts';
import { timeIso8601, timeLocal } from '../variables-core.ts';
import { captureOf, compileTemplate, getVariable, type VarRef } from '../variables.ts';

/** The escaping modes of `log_format … escape=`. */
export const ESCAPE_DEFAULT = 0;
export const ESCAPE_JSON = 1;
export const ESCAPE_NONE = 2;

/** LogOp is one piece of a compiled format: literal text, a variable, or a cached clock field. */
type LogOp = string | { ref: VarRef; lname: string } | typeof TIME_LOCAL | typeof TIME_ISO;

const TIME_LOCAL = 1;
const TIME_ISO = 2;

/** LogFormat is a compiled `log_format`. */
export interface LogFormat {
  name: string;
  escape: number;
  ops: LogOp[];
}

/** COMBINED is nginx's predefined format, the default of `access_log`. */
export const COMBINED =
  '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"';

/** compileLogFormat turns the format strings of a `log_format` (joined, as nginx does) into operations. */
export function compileLogFormat(cf: ConfCtx, name: string, escape: number, text: string): LogFormat {
  const t = compileTemplate(cf, text);
  const ops: LogOp[] = [];
  for (const p of t.parts) {
    if (typeof p === 'string') ops.push(Buffer.from(p, 'utf8').toString('latin1'));
    else if (p.name === 'time_local') ops.push(TIME_LOCAL);
    else if (p.name === 'time_iso8601') ops.push(TIME_ISO);
    else ops.push({ ref: p, lname: p.name.toLowerCase() });
  }
  return { name, escape, ops };
}

// The clock fields change once a second; format them once a second (nginx caches them the same way).
let clockSecond = -1;
let clockLocal = '';
let clockIso = '';

function tick(): void {
  const now = Date.now();
  const sec = Math.floor(now / 1000);
  if (sec === clockSecond) return;
  clockSecond = sec;
  const d = new Date(sec * 1000);
  clockLocal = timeLocal(d);
  clockIso = timeIso8601(d);
}

/** renderLogLine renders one log line (without the newline) for a request. */
export function renderLogLine(r: HttpRequest, fmt: LogFormat): string {
  let out = '';
  const ops = fmt.ops;
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i]!;
    if (typeof op === 'string') out += op;
    else if (op === TIME_LOCAL) {
      tick();
      out += clockLocal;
    } else if (op === TIME_ISO) {
      tick();
      out += clockIso;
    } else {
      const v = op.ref.capture >= 0 ? captureOf(r, op.ref.capture) : getVariable(r, op.ref.def!, op.lname);
      if (v === undefined) {
        if (fmt.escape === ESCAPE_DEFAULT) out += '-';
      } else if (fmt.escape === ESCAPE_DEFAULT) out += escapeDefault(v);
      else if (fmt.escape === ESCAPE_JSON) out += escapeJson(v);
      else out += v;
    }
  }
  return out;
}

const NEEDS_DEFAULT = /[\x00-\x1f"\\\x7f-\xff]/;
const HEX = '0123456789ABCDEF';

/** escapeDefault escapes `"`, `\`, control bytes and bytes ≥ 0x7f as `\xHH` (nginx's default log escaping). */
export function escapeDefault(v: string): string {
  if (!NEEDS_DEFAULT.test(v)) return v;
  let out = '';
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i) & 0xff;
    if (c < 0x20 || c === 0x22 || c === 0x5c || c >= 0x7f) out += '\\x' + HEX[c >> 4] + HEX[c & 15];
    else out += v[i];
  }
  return out;
}

const HEX_LOWER = '0123456789abcdef';
const NEEDS_JSON = /[\x00-\x1f"\\]/;
const JSON_SHORT: Record<number, string> = { 0x22: '\\"', 0x5c: '\\\\', 0x0a: '\\n', 0x0d: '\\r', 0x09: '\\t', 0x08: '\\b', 0x0c: '\\f' };

/** escapeJson makes a value safe inside a JSON string: quotes, backslashes and control bytes are escaped. */
export function escapeJson(v: string): string {
  if (!NEEDS_JSON.test(v)) return v;
  let out = '';
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c < 0x20 || c === 0x22 || c === 0x5c) out += JSON_SHORT[c] ?? '\\u00' + HEX_LOWER[c >> 4] + HEX_LOWER[c & 15];
    else out += v[i];
  }
  return out;
}
