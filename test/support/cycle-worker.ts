/**
 * A worker thread that serves one configuration the way a Portico worker does (buildCycle, Runtime,
 * initWorker, ListenerSet), for tests of in-process APIs such as the mail counters. Messages: it posts
 * `{ ready }` or `{ error }`; it answers `{ stats }` with the mail counters and stops on `{ stop }`.
 */
import path from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';
import { buildCycle } from '../../dataplane/core/cycle.ts';
import { parseConfString } from '../../dataplane/core/parse.ts';
import { ErrorLog, logLevelNumber } from '../../dataplane/core/log.ts';
import { Runtime } from '../../dataplane/core/runtime.ts';
import { ConnectionLimiter, ListenerSet } from '../../dataplane/event/listeners.ts';
import { createRegistry } from '../../dataplane/modules.ts';

const { conf, prefix } = workerData as { conf: string; prefix: string };
const confFile = path.join(prefix, 'nginx.conf');
const port = parentPort!;

try {
  const tree = parseConfString(conf, confFile, { confPrefix: prefix });
  const cycle = buildCycle({ tree, registry: createRegistry(), prefix, confFile });
  cycle.runtime = new Runtime(0, new ErrorLog([{ path: path.join(prefix, 'error.log'), level: logLevelNumber('info') }]));
  for (const m of cycle.registry.modules) m.initWorker?.(cycle);
  const set = new ListenerSet(new ConnectionLimiter(1024));
  await set.apply(cycle.listening);
  port.on('message', (msg: { stats?: boolean; stop?: boolean }) => {
    if (msg.stats) port.postMessage({ stats: JSON.parse(JSON.stringify(cycle.runtime!.store('mail', () => null))) });
    if (msg.stop) {
      set.close();
      for (const s of set.sockets) s.destroy();
      for (const m of cycle.registry.modules) m.exitWorker?.(cycle);
      port.postMessage({ stopped: true });
      port.close();
    }
  });
  port.postMessage({ ready: true });
} catch (err) {
  port.postMessage({ error: (err as Error).message });
}
