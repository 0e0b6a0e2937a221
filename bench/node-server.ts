/** The baseline: a bare node:http server answering every request directly (argv: port, body). */
import http from 'node:http';

const [port, body] = [Number(process.argv[2]), process.argv[3] ?? 'ok'];
http
  .createServer((_req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
  })
  .listen(port, '127.0.0.1', () => process.stdout.write('ready\n'));
