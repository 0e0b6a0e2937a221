/**
 * Worker thread entry: serves the configuration it was started with (workerData: ServingInit) and obeys the
 * master's messages (reload, peers, reopen, quit, stop). Errors go back to the master in nginx's wording.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { startWorkerMetrics, workerSnapshot } from '../metrics/snapshot.ts';
import type { FromWorker, ToWorker } from './messages.ts';
import { Serving, type ServingInit } from './serving.ts';

const port = parentPort!;
const serving = new Serving(workerData as ServingInit);

function send(m: FromWorker): void {
  port.postMessage(m);
}


port.on('message', (m: ToWorker) => {
  switch (m.type) {
    case 'reload':
      serving.reload(m.tree, m.zones, m.hosts).then(
        () => send({ type: 'reply', id: m.id }),
        (err: Error) => send({ type: 'reply', id: m.id, error: err.message }),
      );
      break;
    case 'peers':
      try {
        serving.applyPeers(m.peers, m.hosts);
        send({ type: 'reply', id: m.id });
      } catch (err) {
        send({ type: 'reply', id: m.id, error: (err as Error).message });
      }
      break;
    case 'metrics':
      send({ type: 'metrics', id: m.id, data: workerSnapshot(serving.runtime, serving.listeners.limiter, serving.cycle) });
      break;
    case 'reopen':
      serving.reopen();
      break;
    case 'quit':
      serving.quit().then(() => {
        serving.close();
        process.exit(0);
      });
      break;
    case 'stop':
      serving.stop();
      process.exit(0);
      break;
  }
});

startWorkerMetrics(serving.runtime);
serving.start().then(
  () => send({ type: 'ready' }),
  (err: Error) => {
    send({ type: 'failed', error: err.message });
    process.exit(2);
  },
);
