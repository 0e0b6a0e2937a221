/**
 * A single-process dataplane for tests that only need a running configuration (no master): builds the cycle
 * from `-c conf` under `-p prefix`, opens its listeners, prints "ready" on stdout, and exits on SIGTERM.
 * Tests that exercise the process model use bin/portico-dataplane instead.
 */
import path from 'node:path';
import { buildCycle } from '../../dataplane/core/cycle.ts';
import { ErrorLog, logLevelNumber } from '../../dataplane/core/log.ts';
import { parseConfFile } from '../../dataplane/core/parse.ts';
import { ConnectionLimiter, ListenerSet } from '../../dataplane/event/listeners.ts';
import { createRegistry } from '../../dataplane/modules.ts';

const [prefix, confFile] = process.argv.slice(2) as [string, string];
try {
  const file = path.resolve(prefix, confFile);
  const cycle = buildCycle({ tree: parseConfFile(file), registry: createRegistry(), prefix, confFile: file });
  cycle.log = new ErrorLog([{ path: path.join(prefix, 'error.log'), level: logLevelNumber('debug') }]);
  // The worker runtime's reopen hooks, as the process model provides them (USR1 reopens the logs).
  const reopenHooks = new Set<() => void>();
  Object.assign(cycle, { runtime: { onReopen: (fn: () => void) => (reopenHooks.add(fn), () => reopenHooks.delete(fn)) } });
  for (const m of cycle.registry.modules) m.initWorker?.(cycle);
  const set = new ListenerSet(new ConnectionLimiter(10_000));
  await set.apply(cycle.listening);
  process.on('SIGUSR1', () => {
    cycle.log?.reopen();
    for (const fn of reopenHooks) fn();
  });
  process.on('SIGTERM', () => {
    // Flush buffered logs as a worker does when it exits.
    for (const m of cycle.registry.modules) m.exitWorker?.(cycle);
    process.exit(0);
  });
  process.stdout.write('ready\n');
} catch (err) {
  process.stderr.write(`nginx: [emerg] ${(err as Error).message}\n`);
  process.exit(1);
}
