/**
 * The example backends for examples/manifests: three tiny HTTP servers on 127.0.0.1:9001-9003 that answer with
 * their name and what they received. Run: node_modules/.bin/node examples/backends.ts
 */
import http from 'node:http';

/** BACKENDS maps a port to the Service name it stands for. */
export const BACKENDS: Record<number, string> = { 9001: 'web', 9002: 'api', 9003: 'api-v2' };

/** startBackends starts the servers (ports shifted by `offset`) and resolves with them (tests close them). */
export async function startBackends(host = '127.0.0.1', offset = 0): Promise<http.Server[]> {
  const servers: http.Server[] = [];
  for (const [p, name] of Object.entries(BACKENDS)) {
    const port = Number(p) + offset;
    const s = http.createServer((req, res) => {
      const body = JSON.stringify({ service: name, method: req.method, path: req.url, host: req.headers.host, forwardedFor: req.headers['x-forwarded-for'] ?? null }) + '\n';
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
    try {
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.listen(port, host, () => resolve());
      });
    } catch (e) {
      for (const started of servers) started.close(); // a half-started set must not keep the process alive
      throw e;
    }
    servers.push(s);
  }
  return servers;
}

if (import.meta.main) {
  await startBackends();
  process.stdout.write(`backends listening: ${Object.entries(BACKENDS).map(([p, n]) => `${n}=127.0.0.1:${p}`).join(' ')}\n`);
}
