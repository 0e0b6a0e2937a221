/**
 * `npm start`: the embedded default. Starts the example backends (127.0.0.1:9001-9003) and Portico in folder
 * mode on examples/manifests, listening on 127.0.0.1:8080 (HTTP) and :8443 (HTTPS), health and metrics on
 * :10254. Ctrl-C stops both.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startBackends } from './backends.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const servers = await startBackends();
const portico = spawn(
  path.join(root, 'bin/portico'),
  ['--manifests', path.join(root, 'examples/manifests'), '--http-port', '8080', '--https-port', '8443', '--healthz-port', '10254', ...process.argv.slice(2)],
  { stdio: 'inherit' },
);
process.stderr.write(`
Portico is starting on the example manifests (examples/manifests). Try:
  curl -H 'Host: demo.localhost' http://127.0.0.1:8080/            → the "web" backend
  curl -H 'Host: demo.localhost' http://127.0.0.1:8080/api/items   → the "api" backend
  curl http://127.0.0.1:10254/metrics                               → Prometheus metrics
  bin/portico conf --manifests examples/manifests                   → the rendered nginx.conf
Edit a file in examples/manifests and the change is live within a second.

`);
const stop = (sig: NodeJS.Signals) => portico.kill(sig);
process.on('SIGINT', () => stop('SIGINT'));
process.on('SIGTERM', () => stop('SIGTERM'));
portico.on('exit', (code) => {
  for (const s of servers) s.close();
  process.exit(code ?? 0);
});
