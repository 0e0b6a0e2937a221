/**
 * Reading and validating a configuration the way the master does before any worker sees it: the file (or a
 * given tree) plus `-g` directives, built into a cycle in the calling thread. Also the few facts the process
 * layer reads from a built cycle (worker count, connection limit, pid path, error log targets).
 */
import { coreModule, errlogModule, type CoreConf } from '../core/core-module.ts';
import { buildCycle, type Cycle, type HostTable } from '../core/cycle.ts';
import { ConfError } from '../core/errors.ts';
import { logLevelNumber, type LogTarget } from '../core/log.ts';
import { parseConfFile, parseConfString } from '../core/parse.ts';
import type { ConfDirective, ConfTree } from '../core/tree.ts';
import { ZonePool, type ZoneDescriptor } from '../core/zones.ts';
import { eventCoreModule, eventsModule, type EventCoreConf } from '../event/events-module.ts';
import { createRegistry } from '../modules.ts';
import { collectHosts, lookupHosts } from '../upstream/static-names.ts';
import path from 'node:path';

/** ConfSource says where a configuration comes from: a file under a prefix, or a tree the caller rendered. */
export interface ConfSource {
  /** Absolute prefix; relative paths in the config resolve against it. */
  prefix: string;
  /** Absolute path of the main config file; includes resolve against its folder. */
  confFile: string;
  /** A ready tree (the controller's); when absent the file is read. */
  tree?: ConfTree;
  /** `-g` directives, appended to the main context as nginx does. */
  globals?: string;
  /** `-e`: the error log used when the config names none (absolute path or `stderr`). */
  errorLog?: string;
}

const COMMAND_LINE = 'command line';

/** parseGlobals parses `-g` text; errors name `command line`, as nginx's do. */
export function parseGlobals(text: string, confPrefix: string): ConfTree {
  try {
    return withoutLines(parseConfString(text, COMMAND_LINE, { confPrefix }));
  } catch (err) {
    if (err instanceof ConfError && err.file === COMMAND_LINE) {
      throw new ConfError(err.message.slice(0, err.message.lastIndexOf(` in ${COMMAND_LINE}`)), COMMAND_LINE);
    }
    throw err;
  }
}

function withoutLines(tree: ConfTree): ConfTree {
  return tree.map((d): ConfDirective => {
    const out: ConfDirective = { name: d.name, args: d.args, file: d.file };
    if (d.block) out.block = d.file === COMMAND_LINE ? withoutLines(d.block) : d.block;
    return out;
  });
}

/** readTree returns the effective tree: the given tree or the parsed file, then the `-g` directives. */
export function readTree(src: ConfSource): ConfTree {
  const tree = src.tree ?? parseConfFile(src.confFile);
  return src.globals ? [...tree, ...parseGlobals(src.globals, path.dirname(src.confFile))] : tree;
}

/**
 * validate looks up the tree's host names with the system resolver (once per configuration, as nginx does;
 * the workers get the same table through `cycle.hosts`), then builds a cycle for `tree` in this thread
 * (rejects with ConfError); zones carry over from `previous`.
 */
export async function validate(src: ConfSource, tree: ConfTree, previous: ZoneDescriptor[] = []): Promise<Cycle> {
  const hosts: HostTable = await lookupHosts(collectHosts(tree));
  return buildCycle({ tree, registry: createRegistry(), prefix: src.prefix, confFile: src.confFile, zones: new ZonePool(previous), hosts });
}

/** coreConf returns the main-context process settings of a built cycle. */
export function coreConf(cycle: Cycle): Required<Pick<CoreConf, 'daemon' | 'masterProcess' | 'workerProcesses' | 'pid' | 'workerShutdownTimeout'>> {
  return cycle.conf(coreModule) as ReturnType<typeof coreConf>;
}

/** workerConnections reads `events { worker_connections N; }` from a built cycle. */
export function workerConnections(cycle: Cycle): number {
  return eventCore(cycle).workerConnections!;
}

/**
 * acceptSockets is how many listening sockets a worker opens per TCP address (listeners.ts says why):
 * 16, or 64 with `multi_accept on`, nginx's switch for taking a burst of connections at once.
 */
export function acceptSockets(cycle: Cycle): number {
  return eventCore(cycle).multiAccept ? 64 : 16;
}

/** eventCore is the `events {}` block's ngx_event_core_module conf. */
function eventCore(cycle: Cycle): EventCoreConf {
  const level = cycle.conf(eventsModule).level!;
  return level.main[cycle.registry.index(eventCoreModule)] as EventCoreConf;
}

/** logTargets returns the error log targets: the config's `error_log`s, or `-e`'s when the config names none. */
export function logTargets(cycle: Cycle, override?: string): LogTarget[] {
  const explicit = cycle.tree.some((d) => d.name === 'error_log');
  if (!explicit && override) return [{ path: override, level: logLevelNumber('error') }];
  return cycle.conf(errlogModule).targets;
}
