/**
 * The error log: nginx's line format (`2026/11/22 04:00:26 [notice] 1234#0: message`) and level names, to
 * files (opened for append, reopened on USR1) or stderr/stdout.
 */
import fs from 'node:fs';
import { threadId } from 'node:worker_threads';

export const LOG_LEVELS = ['stderr', 'emerg', 'alert', 'crit', 'error', 'warn', 'notice', 'info', 'debug'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export function logLevelNumber(level: string): number {
  return LOG_LEVELS.indexOf(level as LogLevel);
}

/** LogTarget is one `error_log` destination: a path, `stderr` or `stdout`, with its minimum level. */
export interface LogTarget {
  path: string;
  level: number;
}

function pad(n: number, w = 2): string {
  return String(n).padStart(w, '0');
}

/** logTime formats a Date as nginx's error log does: `2026/11/22 04:00:26`. */
export function logTime(d = new Date()): string {
  return `${d.getFullYear()}/${pad(d.getMonth() + 1)}/${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

interface OpenTarget extends LogTarget {
  fd: number;
}

/** ErrorLog writes leveled lines to its targets; it is cheap to check whether a level is enabled. */
export class ErrorLog {
  #targets: OpenTarget[] = [];
  /** The most verbose level any target accepts; callers test `log.level >= N` before formatting. */
  level = 0;

  constructor(targets: LogTarget[] = [{ path: 'stderr', level: logLevelNumber('error') }]) {
    this.#open(targets);
  }

  #open(targets: LogTarget[]): void {
    this.#targets = targets.map((t) => ({ ...t, fd: openLog(t.path) }));
    this.level = Math.max(0, ...targets.map((t) => t.level));
  }

  get targets(): LogTarget[] {
    return this.#targets.map(({ path, level }) => ({ path, level }));
  }

  enabled(level: LogLevel): boolean {
    return this.level >= logLevelNumber(level);
  }

  log(level: LogLevel, message: string): void {
    const n = logLevelNumber(level);
    if (n > this.level) return;
    const line = `${logTime()} [${level}] ${process.pid}#${threadId}: ${message}\n`;
    for (const t of this.#targets) {
      if (n > t.level) continue;
      try {
        fs.writeSync(t.fd, line);
      } catch {
        // A full disk or a closed terminal must not take the server down with it.
      }
    }
  }

  /** reopen closes and reopens every file target (USR1), so rotated files are released. */
  reopen(): void {
    const targets = this.targets;
    this.close();
    this.#open(targets);
  }

  close(): void {
    for (const t of this.#targets) if (t.fd > 2) fs.closeSync(t.fd);
    this.#targets = [];
  }
}

function openLog(p: string): number {
  return openLogFile(p);
}

/**
 * stdFd is 1 or 2 for the paths that name the process's own output (`stdout`, `/dev/stdout`, …), else -1.
 * They are written through the inherited descriptor: opening /dev/stdout fails with ENXIO when it is a
 * socket (as under some container runtimes), and a reopen must never close it.
 */
export function stdFd(p: string): number {
  if (p === 'stderr' || p === '/dev/stderr') return 2;
  if (p === 'stdout' || p === '/dev/stdout') return 1;
  return -1;
}

/** openLogFile opens a log for appending (stdout and stderr are the inherited descriptors). */
export function openLogFile(p: string): number {
  const fd = stdFd(p);
  return fd >= 0 ? fd : fs.openSync(p, 'a', 0o644);
}

/** closeLogFile closes what openLogFile opened, leaving the standard descriptors alone. */
export function closeLogFile(fd: number): void {
  if (fd > 2) fs.closeSync(fd);
}
