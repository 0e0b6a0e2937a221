/**
 * Mail session counters of one worker, for the metrics exporter: plain numbers, no locking (one thread owns
 * them). They live in the worker's Runtime under the key `'mail'` (`runtime.store('mail', …)`), so they
 * survive reloads; an exporter reads `runtime.store<MailStats>('mail', () => new MailStats())`.
 *
 * Layout: `sessions[protocol]` counts accepted sessions; `auth[protocol][result]` counts auth_http outcomes:
 * `ok` (proxied), `fail` (the auth server refused the login), `error` (auth server down, slow or nonsense);
 * `upstreamErrors[protocol]` counts upstream connect/login failures after a successful auth;
 * `authDuration[protocol]` holds auth_http round trips in seconds (answers, errors and timeouts alike).
 */
import { Histogram, TIME_BUCKETS } from '../metrics/histogram.ts';

/** AuthResult is how one auth_http round ended. */
export type AuthResult = 'ok' | 'fail' | 'error';

type ByProtocol<T> = Record<'smtp' | 'imap' | 'pop3', T>;

/** MailStats are one worker's mail counters (see the file comment for the layout). */
export class MailStats {
  readonly sessions: ByProtocol<number> = { smtp: 0, imap: 0, pop3: 0 };
  /** Sessions currently open, by protocol. */
  readonly active: ByProtocol<number> = { smtp: 0, imap: 0, pop3: 0 };
  readonly auth: ByProtocol<Record<AuthResult, number>> = {
    smtp: { ok: 0, fail: 0, error: 0 },
    imap: { ok: 0, fail: 0, error: 0 },
    pop3: { ok: 0, fail: 0, error: 0 },
  };
  readonly upstreamErrors: ByProtocol<number> = { smtp: 0, imap: 0, pop3: 0 };
  readonly authDuration: ByProtocol<Histogram> = { smtp: new Histogram(TIME_BUCKETS), imap: new Histogram(TIME_BUCKETS), pop3: new Histogram(TIME_BUCKETS) };
}
