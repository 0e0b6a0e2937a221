/**
 * ngx_core_module and ngx_errlog_module: process-wide settings of the main context.
 */
import os from 'node:os';
import { logLevelNumber, type LogTarget } from './log.ts';
import { ARGS, CTX, defineModule } from './module.ts';
import { flagSlot, msecSlot, numSlot, pathSlot, strSlot } from './slots.ts';

export interface CoreConf {
  daemon?: boolean;
  masterProcess?: boolean;
  workerProcesses?: number;
  pid?: string;
  workerShutdownTimeout?: number;
  user?: string;
  workingDirectory?: string;
  workerRlimitNofile?: number;
  env: string[];
}

export const coreModule = defineModule<CoreConf>({
  name: 'ngx_core_module',
  type: 'core',
  directives: [
    { name: 'daemon', contexts: CTX.MAIN, args: ARGS.FLAG, set: flagSlot('daemon') },
    { name: 'master_process', contexts: CTX.MAIN, args: ARGS.FLAG, set: flagSlot('masterProcess') },
    {
      name: 'worker_processes',
      contexts: CTX.MAIN,
      args: ARGS.TAKE1,
      set(cf, d, conf: CoreConf) {
        if (conf.workerProcesses !== undefined) return 'is duplicate';
        const v = d.args[0]!;
        if (v === 'auto') conf.workerProcesses = os.availableParallelism();
        else if (/^\d+$/.test(v) && Number(v) > 0) conf.workerProcesses = Number(v);
        else cf.error(`invalid value "${v}" in "${d.name}" directive`);
      },
    },
    { name: 'pid', contexts: CTX.MAIN, args: ARGS.TAKE1, set: pathSlot('pid') },
    { name: 'worker_shutdown_timeout', contexts: CTX.MAIN, args: ARGS.TAKE1, set: msecSlot('workerShutdownTimeout') },
    { name: 'user', contexts: CTX.MAIN, args: ARGS.TAKE12, set: strSlot('user') },
    { name: 'working_directory', contexts: CTX.MAIN, args: ARGS.TAKE1, set: pathSlot('workingDirectory') },
    { name: 'worker_rlimit_nofile', contexts: CTX.MAIN, args: ARGS.TAKE1, set: numSlot('workerRlimitNofile') },
    {
      name: 'env',
      contexts: CTX.MAIN,
      args: ARGS.TAKE1,
      set(_cf, d, conf: CoreConf) {
        conf.env.push(d.args[0]!);
      },
    },
  ],
  createConf: () => ({ env: [] }),
  initConf(cf, conf) {
    conf.daemon ??= true;
    conf.masterProcess ??= true;
    conf.workerProcesses ??= 1;
    conf.pid ??= cf.fullPath('logs/nginx.pid');
    conf.workerShutdownTimeout ??= 0;
    if (conf.user !== undefined && process.getuid?.() !== 0) {
      cf.warn('the "user" directive makes sense only if the master process runs with super-user privileges, ignored');
    }
  },
});

export interface ErrlogConf {
  targets: LogTarget[];
}

/** parseErrorLogArgs reads `error_log file [level]` (nginx's ngx_log_set_log), shared with http/mail levels. */
export function parseErrorLogArgs(cf: import('./conf.ts').ConfCtx, args: string[]): LogTarget {
  const file = args[0]!;
  const level = args[1] ?? 'error';
  const n = logLevelNumber(level);
  if (n <= 0 || args.length > 2) cf.error(`invalid log level "${args.slice(1).find((a) => logLevelNumber(a) <= 0) ?? level}"`);
  const p = file === 'stderr' || file === 'stdout' ? file : cf.fullPath(file);
  return { path: p, level: n };
}

export const errlogModule = defineModule<ErrlogConf>({
  name: 'ngx_errlog_module',
  type: 'core',
  directives: [
    {
      name: 'error_log',
      contexts: CTX.MAIN,
      args: ARGS.ONEMORE,
      set(cf, d, conf: ErrlogConf) {
        conf.targets.push(parseErrorLogArgs(cf, d.args));
      },
    },
  ],
  createConf: () => ({ targets: [] }),
  initConf(cf, conf) {
    if (conf.targets.length === 0) conf.targets.push({ path: cf.fullPath('logs/error.log'), level: logLevelNumber('error') });
  },
});
