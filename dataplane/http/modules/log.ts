/**
 * ngx_http_log_module: `log_format`, `access_log` (several per level, `off`, `buffer=`, `flush=`, `if=`) and,
 * as in nginx's http core, `error_log` per http/server/location. Lines are rendered in the log phase and handed
 * to a buffered LogFile, so a request never waits on the disk. Files are opened per worker (initWorker),
 * reopened on USR1 through the worker runtime's reopen hooks, and flushed and closed when the cycle retires.
 */
import fs from 'node:fs';
import type { ConfCtx } from '../../core/conf.ts';
import { parseErrorLogArgs } from '../../core/core-module.ts';
import type { Cycle } from '../../core/cycle.ts';
import { sysErrorText } from '../../core/errors.ts';
import { ErrorLog, stdFd, type LogTarget } from '../../core/log.ts';
import { ARGS, CTX } from '../../core/module.ts';
import type { ConfDirective } from '../../core/tree.ts';
import { parseSize, parseTime } from '../../core/values.ts';
import type { CoreLocConf, CoreMainConf } from '../core-conf.ts';
import { httpCoreModule } from '../core-module.ts';
import { httpModule } from '../http-module.ts';
import { DECLINED, OK, PHASE, defineHttpModule, type PhaseHandler } from '../types.ts';
import { compileTemplate, evaluate, type Template } from '../variables.ts';
import { COMBINED, ESCAPE_DEFAULT, ESCAPE_JSON, ESCAPE_NONE, compileLogFormat, renderLogLine, type LogFormat } from './log-format.ts';
import { LogFile } from './log-file.ts';

/** AccessLog is one `access_log` directive: where, how, and on which condition. */
export interface AccessLog {
  file: LogFile;
  format: LogFormat;
  condition: Template | undefined;
}

export interface LogMainConf {
  formats: Map<string, LogFormat>;
  /** Every file named by an access_log of this http block, by path (one LogFile per path, as nginx shares them). */
  files: Map<string, LogFile>;
  /** Error logs opened for http/server/location `error_log`s in this worker, and the hook that reopens them. */
  errorLogs: ErrorLog[];
  unhook: (() => void) | undefined;
}

export interface LogLocConf {
  /** undefined: inherit; null: `access_log off`. */
  logs?: AccessLog[] | null;
  errorTargets?: LogTarget[];
}

const LOG_CTX = CTX.HTTP_MAIN | CTX.HTTP_SRV | CTX.HTTP_LOC | CTX.HTTP_LIF | CTX.HTTP_LMT;
const ESCAPES: Record<string, number> = { default: ESCAPE_DEFAULT, json: ESCAPE_JSON, none: ESCAPE_NONE };

function logFormat(cf: ConfCtx, d: ConfDirective, lmcf: LogMainConf): string | void {
  const name = d.args[0]!;
  if (lmcf.formats.has(name)) cf.error(`duplicate "log_format" name "${name}"`);
  let i = 1;
  let escape = ESCAPE_DEFAULT;
  if (d.args[1]!.startsWith('escape=')) {
    const e = d.args[1]!.slice(7);
    if (!Object.hasOwn(ESCAPES, e)) cf.error(`unknown log format escaping "${e}"`);
    escape = ESCAPES[e]!;
    i = 2;
  }
  if (i >= d.args.length) cf.error(`invalid number of arguments in "log_format" directive`);
  lmcf.formats.set(name, compileLogFormat(cf, name, escape, d.args.slice(i).join('')));
}

function accessLog(cf: ConfCtx, d: ConfDirective, llcf: LogLocConf): string | void {
  const args = d.args;
  if (args[0] === 'off') {
    if (args.length > 1) cf.error(`invalid parameter "${args[1]}"`);
    llcf.logs = null;
    return;
  }
  if (llcf.logs === null) return 'is duplicate';
  const lmcf = mainConf(cf);
  const path = args[0]!;
  if (path.includes('$')) cf.error(`variables in the "access_log" path are not supported: "${path}"`);
  if (path.startsWith('syslog:')) cf.error(`syslog logging is not supported: "${path}"`);
  const name = args[1] ?? 'combined';
  const format = lmcf.formats.get(name) ?? (name === 'combined' ? combined(cf, lmcf) : undefined);
  if (!format) cf.error(`unknown log format "${name}"`);
  let buffer = 0;
  let flush = 0;
  let condition: Template | undefined;
  for (const a of args.slice(2)) {
    if (a.startsWith('buffer=')) {
      const n = parseSize(a.slice(7));
      if (n === undefined || n === 0) cf.error(`invalid buffer size "${a.slice(7)}"`);
      buffer = n;
    } else if (a.startsWith('flush=')) {
      const t = parseTime(a.slice(6), 's');
      if (t === undefined || t === 0) cf.error(`invalid flush time "${a.slice(6)}"`);
      flush = t;
    } else if (a.startsWith('if=')) {
      condition = compileTemplate(cf, a.slice(3));
    } else if (a === 'gzip' || a.startsWith('gzip=')) {
      cf.error(`gzip in the "access_log" directive is not supported`);
    } else cf.error(`invalid parameter "${a}"`);
  }
  if (flush > 0 && buffer === 0) cf.error(`no buffer is defined for access_log "${path}"`);
  const full = cf.fullPath(path);
  let file = lmcf.files.get(full);
  if (file) {
    if (file.bufferSize !== buffer) cf.error(`access_log "${path}" already defined with conflicting parameters`);
    if (flush > 0) file.flushMs = flush;
  } else {
    checkOpen(cf, full);
    file = new LogFile(full);
    file.bufferSize = buffer;
    file.flushMs = flush;
    lmcf.files.set(full, file);
  }
  (llcf.logs ??= []).push({ file, format, condition });
}

/** checkOpen opens the file once at configuration time so a bad path is an `[emerg]`, as in nginx. */
function checkOpen(cf: ConfCtx, path: string): void {
  if (stdFd(path) >= 0) return;
  try {
    fs.closeSync(fs.openSync(path, 'a', 0o644));
  } catch (err) {
    cf.error(sysErrorText('open', path, err as NodeJS.ErrnoException));
  }
}

function combined(cf: ConfCtx, lmcf: LogMainConf): LogFormat {
  const f = compileLogFormat(cf, 'combined', ESCAPE_DEFAULT, COMBINED);
  lmcf.formats.set('combined', f);
  return f;
}

function errorLog(cf: ConfCtx, d: ConfDirective, llcf: LogLocConf): string | void {
  const t = parseErrorLogArgs(cf, d.args);
  if (t.path !== 'stderr' && t.path !== 'stdout') checkOpen(cf, t.path);
  (llcf.errorTargets ??= []).push(t);
}

/** The http block's main conf, also reachable while merging (when cf.level is no longer the http level). */
const MAIN_KEY = { name: 'http_log_main', type: 'http' } as const;

function mainConf(cf: ConfCtx): LogMainConf {
  return cf.scratch.get(MAIN_KEY) as LogMainConf;
}

function createMainConf(cf: ConfCtx): LogMainConf {
  const conf: LogMainConf = { formats: new Map(), files: new Map(), errorLogs: [], unhook: undefined };
  cf.scratch.set(MAIN_KEY, conf);
  return conf;
}

/** The default `access_log logs/access.log combined`, made once per http block. */
const DEFAULT_KEY = { name: 'http_log_default', type: 'http' } as const;

function defaultLogs(cf: ConfCtx): AccessLog[] {
  let logs = cf.scratch.get(DEFAULT_KEY) as AccessLog[] | undefined;
  if (logs) return logs;
  const saved = cf.directive;
  cf.directive = undefined;
  const conf: LogLocConf = {};
  accessLog(cf, { name: 'access_log', args: ['logs/access.log', 'combined'] }, conf);
  cf.directive = saved;
  logs = conf.logs!;
  cf.scratch.set(DEFAULT_KEY, logs);
  return logs;
}

function logHandler(cf: ConfCtx): PhaseHandler {
  const idx = cf.index(httpLogModule);
  return (r) => {
    const logs = (r.loc.confs[idx] as LogLocConf).logs;
    if (!logs) return DECLINED;
    for (let i = 0; i < logs.length; i++) {
      const log = logs[i]!;
      if (log.condition !== undefined) {
        const v = evaluate(r, log.condition);
        if (v === '' || v === '0') continue;
      }
      log.file.append(renderLogLine(r, log.format) + '\n');
    }
    return OK;
  };
}

function initWorker(cycle: Cycle): void {
  const block = cycle.conf(httpModule);
  if (!block.level) return;
  const idx = cycle.registry.index(httpLogModule);
  const lmcf = block.level.main[idx] as LogMainConf;
  for (const f of lmcf.files.values()) f.open();
  const cmcf = block.level.main[cycle.registry.index(httpCoreModule)] as CoreMainConf;
  const byKey = new Map<string, ErrorLog>();
  const visit = (clcf: CoreLocConf): void => {
    const targets = (clcf.confs[idx] as LogLocConf | undefined)?.errorTargets;
    if (targets) {
      const key = JSON.stringify(targets);
      let log = byKey.get(key);
      if (!log) byKey.set(key, (log = new ErrorLog(targets)));
      clcf.errorLog = log;
    }
    for (const c of clcf.children) visit(c);
  };
  for (const srv of cmcf.servers) visit(srv.loc);
  lmcf.errorLogs = [...byKey.values()];
  lmcf.unhook = cycle.runtime?.onReopen(() => reopen(lmcf));
}

/** reopen reopens every access and error log of the block (USR1). */
export function reopen(lmcf: LogMainConf): void {
  for (const f of lmcf.files.values()) f.reopen();
  for (const l of lmcf.errorLogs) l.reopen();
}

function exitWorker(cycle: Cycle): void {
  const block = cycle.conf(httpModule);
  if (!block.level) return;
  const lmcf = block.level.main[cycle.registry.index(httpLogModule)] as LogMainConf;
  lmcf.unhook?.();
  for (const f of lmcf.files.values()) f.close();
  for (const l of lmcf.errorLogs) l.close();
}

export const httpLogModule = defineHttpModule<LogMainConf, undefined, LogLocConf>({
  name: 'ngx_http_log_module',
  type: 'http',
  directives: [
    { name: 'log_format', contexts: CTX.HTTP_MAIN, args: ARGS.TWOMORE, conf: 'main', set: logFormat },
    { name: 'access_log', contexts: LOG_CTX, args: ARGS.ONEMORE, conf: 'loc', set: accessLog },
    { name: 'open_log_file_cache', contexts: CTX.HTTP_MAIN | CTX.HTTP_SRV | CTX.HTTP_LOC, args: ARGS.TAKE1234, conf: 'loc', set() {} },
    { name: 'error_log', contexts: CTX.HTTP_MAIN | CTX.HTTP_SRV | CTX.HTTP_LOC, args: ARGS.ONEMORE, conf: 'loc', set: errorLog },
  ],
  createMainConf,
  createLocConf: () => ({}),
  mergeLocConf(cf, p, c) {
    if (c.logs === undefined) c.logs = p.logs !== undefined ? p.logs : defaultLogs(cf);
    c.errorTargets ??= p.errorTargets;
  },
  phases: [{ phase: PHASE.LOG, handler: logHandler }],
  initWorker,
  exitWorker,
});
