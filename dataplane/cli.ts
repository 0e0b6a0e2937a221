/**
 * The dataplane's command line, with nginx's flags, messages and exit codes (bin/portico-dataplane runs it).
 * `-t`/`-T` test, `-s` signals a running master through its pid file, anything else starts a master.
 */
import path from 'node:path';
import type { Cycle } from './core/cycle.ts';
import { errnoOf, strerror } from './core/errors.ts';
import { printConf } from './core/print.ts';
import { CliError, configureText, helpText, parseArgs, ROOT, versionText, type CliOptions } from './process/cli-options.ts';
import { coreConf, readTree, validate, type ConfSource } from './process/config.ts';
import { daemonize, isDaemonChild, reportToParent } from './process/daemon.ts';
import { Master } from './process/master.ts';
import { COMMAND_SIGNALS, SIGNALS, readPidFile } from './process/os.ts';

function say(line: string): void {
  process.stderr.write(`nginx: ${line}\n`);
}

/** load reads and validates the configuration, printing warnings; undefined after printing an error. */
async function load(src: ConfSource): Promise<Cycle | undefined> {
  try {
    const cycle = await validate(src, readTree(src));
    for (const d of cycle.diagnostics) say(`[${d.level}] ${d.message}`);
    return cycle;
  } catch (err) {
    say(`[emerg] ${(err as Error).message}`);
    return undefined;
  }
}

async function test(src: ConfSource, o: CliOptions): Promise<number> {
  const cycle = await load(src);
  if (!cycle) {
    say(`configuration file ${src.confFile} test failed`);
    return 1;
  }
  if (!o.quiet) {
    say(`the configuration file ${src.confFile} syntax is ok`);
    say(`configuration file ${src.confFile} test is successful`);
  }
  if (o.dump) process.stdout.write(`# configuration file ${src.confFile}:\n${printConf(cycle.tree)}\n`);
  return 0;
}

function signal(cycle: Cycle, word: NonNullable<CliOptions['signal']>): number {
  const sig = COMMAND_SIGNALS[word]!;
  let pid: number;
  try {
    pid = readPidFile(coreConf(cycle).pid);
  } catch (err) {
    say(`[error] ${(err as Error).message}`);
    return 1;
  }
  try {
    process.kill(pid, sig);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    say(`[alert] kill(${pid}, ${SIGNALS[sig].no}) failed (${errnoOf(e)}: ${strerror(e)})`);
    return 1;
  }
  return 0;
}

async function serve(src: ConfSource, cycle: Cycle): Promise<number | undefined> {
  if (coreConf(cycle).daemon && !isDaemonChild()) {
    const error = await daemonize();
    if (error === undefined) return 0;
    say(`[emerg] ${error}`);
    return 1;
  }
  try {
    await Master.start({ ...src, signals: true, onExit: () => process.exit(0) });
  } catch (err) {
    say(`[emerg] ${(err as Error).message}`);
    reportToParent((err as Error).message);
    return 1;
  }
  reportToParent();
  return undefined;
}

/** main runs the command line; resolves with an exit code, or undefined while a master keeps running. */
export async function main(argv: string[]): Promise<number | undefined> {
  let o: CliOptions;
  try {
    o = parseArgs(argv);
  } catch (err) {
    if (!(err instanceof CliError)) throw err;
    say(err.message);
    return 1;
  }
  const prefix = o.prefix !== undefined ? path.resolve(o.prefix) : ROOT;
  if (o.version) {
    process.stderr.write(versionText());
    if (o.help) process.stderr.write(helpText(prefix));
    if (o.configure) process.stderr.write(configureText(prefix));
    if (!o.test) return 0;
  }
  const src: ConfSource = {
    prefix,
    confFile: path.resolve(prefix, o.conf ?? 'conf/nginx.conf'),
    globals: o.globals,
    errorLog: o.errorLog === undefined || o.errorLog === 'stderr' ? o.errorLog : path.resolve(prefix, o.errorLog),
  };
  if (o.test) return test(src, o);
  const cycle = await load(src);
  if (!cycle) {
    reportToParent('configuration error');
    return 1;
  }
  if (o.signal) return signal(cycle, o.signal);
  return serve(src, cycle);
}

const code = await main(process.argv.slice(2));
if (code !== undefined) process.exitCode = code;
