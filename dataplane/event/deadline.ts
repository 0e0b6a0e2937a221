/**
 * Deadline is one timeout that moves often and fires rarely (nginx's connection timers): re-arming only
 * records the new due time, and the underlying Node.js timer is replaced only when the deadline moves
 * earlier. When the timer fires before a deadline that has since moved later, it re-arms for the rest.
 * A request on a kept-alive connection moves its deadline several times (read, send, keep-alive) at the cost
 * of a clock read each, instead of a clearTimeout/setTimeout pair each.
 */

/** Timers may fire up to this much before the due time as the clock reads it (libuv rounds to ms). */
const SLACK_MS = 1;

/** Deadline calls `fn` once the armed time has passed, unless disarmed first. */
export class Deadline {
  #timer: NodeJS.Timeout | undefined;
  /** When the pending Node.js timer fires (performance.now() ms). */
  #timerAt = 0;
  /** When the deadline is due; 0 when disarmed. */
  #at = 0;
  readonly #fn: () => void;
  readonly #check = (): void => this.#onTimer();

  constructor(fn: () => void) {
    this.#fn = fn;
  }

  /** armed says whether the deadline will fire. */
  get armed(): boolean {
    return this.#at !== 0;
  }

  /** arm makes the deadline `ms` from now (ms ≤ 0 disarms, as a zero timeout means none in nginx's conf). */
  arm(ms: number): void {
    if (ms <= 0) {
      this.#at = 0;
      return;
    }
    const at = performance.now() + ms;
    this.#at = at;
    if (this.#timer === undefined) this.#start(ms, at);
    else if (at < this.#timerAt) {
      clearTimeout(this.#timer);
      this.#start(ms, at);
    }
  }

  /** disarm is lazy: a pending timer that fires while disarmed does nothing. */
  disarm(): void {
    this.#at = 0;
  }

  /** clear disarms and drops the pending timer too, for objects that go away (it would keep the loop alive). */
  clear(): void {
    this.#at = 0;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #start(ms: number, at: number): void {
    this.#timerAt = at;
    this.#timer = setTimeout(this.#check, ms);
  }

  #onTimer(): void {
    this.#timer = undefined;
    const at = this.#at;
    if (at === 0) return;
    const left = at - performance.now();
    if (left > SLACK_MS) {
      this.#start(Math.ceil(left), at);
      return;
    }
    this.#at = 0;
    this.#fn();
  }
}
