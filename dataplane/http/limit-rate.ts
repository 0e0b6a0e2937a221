/**
 * Response rate limiting (nginx's limit_rate, limit_rate_after, $limit_rate and X-Accel-Limit-Rate): the rate
 * is per request, in bytes per second. A transport creates a Pacer only for a request whose rate is not 0, so
 * unthrottled responses never reach this file; a paced one hands its framed bytes to `write` and treats
 * `false` as backpressure, exactly like a full socket.
 *
 * The allowance follows nginx's write filter: a request may have sent
 *   limit_rate_after + rate × (seconds since the request started + 1)
 * bytes, header included, so the first second's worth goes out at once and time spent waiting for an upstream
 * counts as credit. nginx reads the clock in whole seconds; this reads it in milliseconds, which makes the pace
 * steady (nginx sends a second's worth at each second boundary) and is never slower than nginx.
 */
import type { ConfCtx } from '../core/conf.ts';
import type { Directive } from '../core/module.ts';
import { parseSize } from '../core/values.ts';
import { Deadline } from '../event/deadline.ts';
import { logRequest } from './request-log.ts';
import type { HttpRequest } from './request.ts';
import type { VariableDef } from './types.ts';
import { compileTemplate, evaluate, type Template } from './variables.ts';

/** SizeValue is a size known at configuration time, or a template evaluated per request (nginx ≥ 1.17.0). */
export type SizeValue = number | Template;

/** sizeValueSlot stores a size or, when the value has variables, its template (ngx_http_set_complex_value_size_slot). */
export function sizeValueSlot(field: string): Directive['set'] {
  return (cf: ConfCtx, d, conf: Record<string, unknown>) => {
    if (conf[field] !== undefined) return 'is duplicate';
    const arg = d.args[0]!;
    if (arg.includes('$')) {
      conf[field] = compileTemplate(cf, arg);
      return;
    }
    const v = parseSize(arg);
    if (v === undefined) return 'invalid value';
    conf[field] = v;
  };
}

/** sizeOf evaluates a SizeValue; a value that is not a size counts as 0, as nginx's does (silently). */
function sizeOf(r: HttpRequest, v: SizeValue): number {
  if (typeof v === 'number') return v;
  return parseSize(evaluate(r, v)) ?? 0;
}

/** limitRateOf is the request's rate: set by `set $limit_rate` or X-Accel-Limit-Rate, else the location's. */
export function limitRateOf(r: HttpRequest): number {
  const set = r.limitRate;
  if (set !== undefined) return set;
  const v = r.loc.limitRate!;
  // Fixed on first use, as nginx's limit_rate_set: $limit_rate in the access log shows what was applied.
  return (r.limitRate = typeof v === 'number' ? v : sizeOf(r, v));
}

/** LIMIT_RATE_VARIABLE is $limit_rate: reads the request's rate (0 until set or applied), `set` changes it. */
export const LIMIT_RATE_VARIABLE: VariableDef = {
  name: 'limit_rate',
  nocache: true,
  get: (r) => String(r.limitRate ?? 0),
  set(r, _name, value) {
    const n = parseSize(value);
    if (n === undefined) logRequest(r, 'error', `invalid $limit_rate "${value}"`);
    else r.limitRate = n;
  },
};

/**
 * parseAccelLimitRate reads an X-Accel-Limit-Rate value: bytes per second, digits only (0 lifts the limit).
 * Anything else, "off" and "1k" included, is ignored and the location's limit_rate stays, as nginx 1.22 does.
 */
export function parseAccelLimitRate(value: string): number | undefined {
  return /^\d+$/.test(value) ? Number(value) : undefined;
}

/** PacedOutput is the transport under a pacer: `write` returns false when its buffer is full. */
export interface PacedOutput {
  write(b: Buffer): boolean;
  onDrain(cb: () => void): void;
}

/** Wake-ups per second at most: each one sends what the allowance grew by since the last. */
const SLICES_PER_SECOND = 20;

/** startPacing gives `r` a pacer when its rate is not 0; `sent` counts bytes already on the wire (HTTP/2 head). */
export function startPacing(r: HttpRequest, out: PacedOutput, sent: number): Pacer | undefined {
  const rate = limitRateOf(r);
  if (rate <= 0 || r !== r.main) return undefined;
  return (r.pacer = new Pacer(rate, sizeOf(r, r.loc.limitRateAfter!), r.startTime, sent, out));
}

/** Pacer holds what a request may not send yet and releases it as the allowance grows, on one Deadline. */
export class Pacer {
  readonly #rate: number;
  readonly #after: number;
  readonly #start: number;
  readonly #out: PacedOutput;
  readonly #deadline = new Deadline(() => this.#flush());
  readonly #drained = (): void => {
    this.#waitingDrain = false;
    this.#flush();
  };
  #sent: number;
  #queue: Buffer[] = [];
  #queued = 0;
  #waitingDrain = false;
  #closed = false;
  #waiters: (() => void)[] | undefined;

  constructor(rate: number, after: number, startMs: number, sent: number, out: PacedOutput) {
    this.#rate = rate;
    this.#after = after;
    this.#start = startMs;
    this.#sent = sent;
    this.#out = out;
  }

  /** busy says bytes are still held (or the transport is full): the response is not on the wire yet. */
  get busy(): boolean {
    return this.#queued > 0 || this.#waitingDrain;
  }

  /** write sends what the allowance permits and holds the rest; false asks the producer to wait (onIdle). */
  write(b: Buffer): boolean {
    if (this.#closed) return false;
    if (this.busy) {
      this.#hold(b);
      return false;
    }
    const allow = this.#allowance();
    if (allow >= b.length) {
      this.#sent += b.length;
      return this.#out.write(b);
    }
    if (allow > 0) {
      this.#sent += allow;
      this.#out.write(b.subarray(0, allow));
      b = b.subarray(allow);
    }
    this.#hold(b);
    this.#schedule();
    return false;
  }

  /** onIdle calls `cb` once everything held has been written and the transport took it. */
  onIdle(cb: () => void): void {
    if (this.#closed) return;
    (this.#waiters ??= []).push(cb);
  }

  /** close drops what is held and the timer (client gone, request aborted or over). */
  close(): void {
    this.#closed = true;
    this.#deadline.clear();
    this.#queue = [];
    this.#queued = 0;
    this.#waiters = undefined;
  }

  #allowance(): number {
    const elapsed = (Date.now() - this.#start) / 1000;
    return Math.floor(this.#after + this.#rate * (elapsed + 1) - this.#sent);
  }

  #hold(b: Buffer): void {
    if (b.length === 0) return;
    this.#queue.push(b);
    this.#queued += b.length;
  }

  #schedule(): void {
    const want = Math.min(this.#queued, Math.max(1, Math.ceil(this.#rate / SLICES_PER_SECOND)));
    const short = want - this.#allowance();
    this.#deadline.arm(Math.max(1, Math.ceil((short * 1000) / this.#rate)));
  }

  #flush(): void {
    if (this.#closed) return;
    let allow = this.#allowance();
    const q = this.#queue;
    while (q.length > 0 && allow > 0) {
      const b = q[0]!;
      let part = b;
      if (b.length > allow) {
        part = b.subarray(0, allow);
        q[0] = b.subarray(allow);
      } else q.shift();
      allow -= part.length;
      this.#queued -= part.length;
      this.#sent += part.length;
      if (!this.#out.write(part)) {
        // The client reads slower than the rate: wait for it rather than pile bytes into the socket.
        this.#waitingDrain = true;
        this.#out.onDrain(this.#drained);
        return;
      }
    }
    if (this.#queued > 0) {
      this.#schedule();
      return;
    }
    const w = this.#waiters;
    this.#waiters = undefined;
    if (w) for (const cb of w) cb();
  }
}
