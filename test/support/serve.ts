/**
 * A single-process dataplane for tests that only need a running configuration (no master): builds the cycle
 * from `-c conf` under `-p prefix`, opens its listeners, prints "ready" on stdout, and exits on SIGTERM.
 * Tests that exercise the process model use bin/portico-dataplane instead.
 */
import path from 'node:path';
import { buildCycle } from '../../dataplane/core/cycle.ts';
import { ErrorLog, logLevelNumber } from '../../dataplane/core/log.ts';
import { parseConfFile } from '../../dataplane/core/parse.ts';
import { Runtime } from '../../dataplane/core/runtime.ts';
import { ConnectionLimiter, ListenerSet } from '../../dataplane/event/listeners.ts';
import { createRegistry } from '../../dataplane/modules.ts';

const [prefix, confFile] = process.argv.slice(2) as [string, string];
try {
  const file = path.resolve(prefix, confFile);
  const cycle = buildCycle({ tree: parseConfFile(file), registry: createRegistry(), prefix, confFile: file });
  cycle.runtime = new Runtime(0, new ErrorLog([{ path: path.join(prefix, 'error.log'), level: logLevelNumber('debug') }]));
  for (const m of cycle.registry.modules) m.initWorker?.(cycle);
  const set = new ListenerSet(new ConnectionLimiter(10_000));
  await set.apply(cycle.listening);
  process.on('SIGTERM', () => process.exit(0));
  process.stdout.write('ready\n');
} catch (err) {
  process.stderr.write(`nginx: [emerg] ${(err as Error).message}\n`);
  process.exit(1);
}
