/**
 * The master's small contacts with the operating system: the pid file, the exclusive bind probe that makes a
 * second instance on a taken port fail instead of sharing it through SO_REUSEPORT, and nginx's signal names.
 */
import fs from 'node:fs';
import net from 'node:net';
import type { Listening } from '../core/cycle.ts';
import { errnoOf, strerror, sysErrorText } from '../core/errors.ts';
import { ErrorLog, type LogTarget } from '../core/log.ts';

/** writePidFile writes `pid\n`; throws with nginx's `open() "…" failed (…)` wording. */
export function writePidFile(file: string, pid = process.pid): void {
  try {
    fs.writeFileSync(file, `${pid}\n`);
  } catch (err) {
    throw new Error(sysErrorText('open', file, err as NodeJS.ErrnoException));
  }
}

/** removePidFile deletes the pid file if it is still ours (a newer instance may have replaced it). */
export function removePidFile(file: string, pid = process.pid): void {
  try {
    if (fs.readFileSync(file, 'utf8').trim() === String(pid)) fs.unlinkSync(file);
  } catch {
    // Already gone: nothing to clean.
  }
}

/** readPidFile reads a master's pid for `-s`; errors are nginx's (`open() … failed`, `invalid PID number`). */
export function readPidFile(file: string): number {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(sysErrorText('open', file, err as NodeJS.ErrnoException));
  }
  const t = text.replace(/[\r\n]+$/, '');
  if (!/^\d+$/.test(t) || Number(t) <= 0) throw new Error(`invalid PID number "${t}" in "${file}"`);
  return Number(t);
}

/** bindErrorText words a failed bind as nginx does: `bind() to 127.0.0.1:80 failed (98: Address already in use)`. */
export function bindErrorText(key: string, err: NodeJS.ErrnoException): string {
  return `bind() to ${key} failed (${errnoOf(err)}: ${strerror(err)})`;
}

/**
 * probeListen binds the address exclusively (no SO_REUSEPORT) and closes it again. Workers bind with
 * SO_REUSEPORT, which would silently share a port with another server that also uses it; this probe turns
 * that into nginx's EADDRINUSE error. Port 0 and unix sockets have nothing to probe.
 */
export function probeListen(l: Listening): Promise<void> {
  if (l.unixPath || l.port === 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', (err: NodeJS.ErrnoException) => reject(new Error(bindErrorText(l.key, err))));
    server.listen({ host: l.host, port: l.port, exclusive: true, ipv6Only: l.ipv6only }, () => server.close(() => resolve()));
  });
}

/** SIGNALS maps the signals the master handles to nginx's log words (number, name, action). */
export const SIGNALS = {
  SIGHUP: { no: 1, action: 'reconfiguring' },
  SIGUSR1: { no: 10, action: 'reopening logs' },
  SIGQUIT: { no: 3, action: 'shutting down' },
  SIGTERM: { no: 15, action: 'exiting' },
  SIGINT: { no: 2, action: 'exiting' },
} as const;

/** SignalName is a signal the master handles. */
export type SignalName = keyof typeof SIGNALS;

/** COMMAND_SIGNALS maps `-s` words to the signal sent to the master. */
export const COMMAND_SIGNALS: Record<string, SignalName> = { stop: 'SIGTERM', quit: 'SIGQUIT', reopen: 'SIGUSR1', reload: 'SIGHUP' };

/** openLog opens an error log; a file that cannot be opened is reported as nginx's `open() "…" failed (…)`. */
export function openLog(targets: LogTarget[]): ErrorLog {
  try {
    return new ErrorLog(targets);
  } catch (err) {
    throw worded(err, targets);
  }
}

/** reopenLog reopens a log's files (USR1) with the same wording on failure. */
export function reopenLog(log: ErrorLog): void {
  try {
    log.reopen();
  } catch (err) {
    throw worded(err, log.targets);
  }
}

function worded(err: unknown, targets: LogTarget[]): Error {
  const e = err as NodeJS.ErrnoException;
  return e.syscall === 'open' ? new Error(sysErrorText('open', e.path ?? targets[0]?.path ?? '', e)) : e;
}
