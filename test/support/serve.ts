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
import { MODULES } from '../../dataplane/modules.ts';
import { Registry } from '../../dataplane/core/registry.ts';
import { collectHosts, lookupHosts } from '../../dataplane/upstream/static-names.ts';
import { echoModule } from './echo-module.ts';

const [prefix, confFile] = process.argv.slice(2) as [string, string];
try {
  const file = path.resolve(prefix, confFile);
  const tree = parseConfFile(file);
  // Host names are looked up before the pass, as the master does (one peer per address).
  const hosts = await lookupHosts(collectHosts(tree));
  const cycle = buildCycle({ tree, registry: new Registry([...MODULES, echoModule]), prefix, confFile: file, hosts });
  const runtime = new Runtime(0, new ErrorLog([{ path: path.join(prefix, 'error.log'), level: logLevelNumber('debug') }]));
  cycle.runtime = runtime;
  for (const m of cycle.registry.modules) m.initWorker?.(cycle);
  // Exclusive binds: two test dataplanes on one port must fail loudly, not share it through SO_REUSEPORT.
  const set = new ListenerSet(new ConnectionLimiter(10_000), false);
  await set.apply(cycle.listening);
  // USR1 reopens the error log and every registered log file, as a worker does.
  process.on('SIGUSR1', () => runtime.reopen());
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
