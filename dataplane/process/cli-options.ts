/**
 * nginx's command line (ngx_get_options): single-letter flags that may be grouped (`-tq`), values attached or
 * in the next word (`-cfile`, `-c file`), with nginx's error wording for everything a user can get wrong.
 */
import path from 'node:path';
import { NAME, VERSION } from '../core/version.ts';
import { MODULES } from '../modules.ts';

/** CliOptions is the parsed command line. */
export interface CliOptions {
  help: boolean;
  version: boolean;
  configure: boolean;
  test: boolean;
  dump: boolean;
  quiet: boolean;
  signal?: 'stop' | 'quit' | 'reopen' | 'reload';
  prefix?: string;
  conf?: string;
  errorLog?: string;
  globals?: string;
}

/** CliError is a command-line mistake; its message is printed after `nginx: `. */
export class CliError extends Error {}

const VALUE_FLAGS: Record<string, [keyof CliOptions, string]> = {
  p: ['prefix', 'directory name'],
  e: ['errorLog', 'file name'],
  c: ['conf', 'file name'],
  g: ['globals', 'parameter'],
  s: ['signal', 'parameter'],
};

/** parseArgs reads nginx's flags from argv (without node and script); throws CliError. */
export function parseArgs(argv: string[]): CliOptions {
  const o: CliOptions = { help: false, version: false, configure: false, test: false, dump: false, quiet: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('-')) throw new CliError(`invalid option: "${arg}"`);
    for (let j = 1; j < arg.length; j++) {
      const c = arg[j]!;
      const value = VALUE_FLAGS[c];
      if (value) {
        const [field, what] = value;
        const v = j + 1 < arg.length ? arg.slice(j + 1) : argv[++i];
        if (v === undefined) throw new CliError(`option "-${c}" requires ${what}`);
        if (c === 's' && !['stop', 'quit', 'reopen', 'reload'].includes(v)) throw new CliError(`invalid option: "-s ${v}"`);
        (o as unknown as Record<string, string>)[field] = v;
        break;
      }
      switch (c) {
        case '?':
        case 'h':
          o.version = o.help = true;
          break;
        case 'v':
          o.version = true;
          break;
        case 'V':
          o.version = o.configure = true;
          break;
        case 't':
          o.test = true;
          break;
        case 'T':
          o.test = o.dump = true;
          break;
        case 'q':
          o.quiet = true;
          break;
        default:
          throw new CliError(`invalid option: "${c}"`);
      }
    }
  }
  return o;
}

/** ROOT is the repository root (the folder holding bin/): the default prefix. */
export const ROOT = path.resolve(import.meta.dirname, '../..');

/** versionText is `-v`'s line. */
export function versionText(): string {
  return `nginx version: ${NAME}/${VERSION}\n`;
}

/** configureText is what `-V` adds: the runtime, and modules as `--with-…` words, so tools can probe them. */
export function configureText(prefix: string): string {
  const words = [`--prefix=${prefix}`, ...MODULES.flatMap((m) => (m.configureArg ? [m.configureArg] : []))];
  return `built with Node.js ${process.version}\nconfigure arguments: ${words.join(' ')}\n`;
}

/** helpText is `-h`'s usage, in nginx's layout. */
export function helpText(prefix: string): string {
  const me = 'portico-dataplane';
  const pad = ' '.repeat(me.length + 8);
  return [
    `Usage: ${me} [-?hvVtTq] [-s signal] [-p prefix]`,
    `${pad}[-e filename] [-c filename] [-g directives]`,
    '',
    'Options:',
    '  -?,-h         : this help',
    '  -v            : show version and exit',
    '  -V            : show version and configure options then exit',
    '  -t            : test configuration and exit',
    '  -T            : test configuration, dump it and exit',
    '  -q            : suppress non-error messages during configuration testing',
    '  -s signal     : send signal to a master process: stop, quit, reopen, reload',
    `  -p prefix     : set prefix path (default: ${prefix}/)`,
    '  -e filename   : set error log file (default: logs/error.log)',
    '  -c filename   : set configuration file (default: conf/nginx.conf)',
    '  -g directives : set global directives out of configuration file',
    '',
    '',
  ].join('\n');
}
