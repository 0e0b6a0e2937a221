/**
 * Upstream servers for proxy tests: real node:http servers on loopback that record what they received, and
 * raw net servers for misbehaviour (resets, invalid heads, silence).
 */
import http from 'node:http';
import net from 'node:net';

export interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export interface TestUpstream {
  port: number;
  seen: Seen[];
  /** TCP connections accepted so far. */
  readonly connections: number;
  close(): Promise<void>;
}

/**
 * httpUpstream starts an HTTP server; `handler` answers, by default 200 with the server's name. `at` picks the
 * loopback address and port (default 127.0.0.1 and a free port), e.g. two servers on one port for a DNS name.
 */
export async function httpUpstream(name: string, handler?: (req: http.IncomingMessage, res: http.ServerResponse, body: string) => void, at: { host?: string; port?: number } = {}): Promise<TestUpstream> {
  const seen: Seen[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('latin1');
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      seen.push({ method: req.method!, url: req.url!, headers: req.headers, body });
      if (handler) handler(req, res, body);
      else {
        res.setHeader('content-type', 'text/plain');
        res.end(name);
      }
    });
  });
  server.keepAliveTimeout = 30_000;
  let connections = 0;
  server.on('connection', () => connections++);
  await new Promise<void>((resolve) => server.listen(at.port ?? 0, at.host ?? '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    seen,
    get connections() {
      return connections;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** rawUpstream starts a TCP server whose connection handler misbehaves as the test wants. */
export async function rawUpstream(onConn: (s: net.Socket, data: Buffer) => void): Promise<TestUpstream> {
  const sockets = new Set<net.Socket>();
  const state = { connections: 0 };
  const server = net.createServer((s) => {
    state.connections++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    s.once('data', (d) => onConn(s, d));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    seen: [],
    get connections() {
      return state.connections;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/**
 * freePort returns a port nothing listens on (bound then released), drawn from below Linux's ephemeral range
 * (32768-60999) and away from the fixed ports tests use (20000-30999): a port the kernel hands out for port 0
 * can become the local port of another test's outgoing connection before the caller binds it (seen as
 * EADDRINUSE in a full run).
 */
export async function freePort(): Promise<number> {
  for (let i = 0; i < 100; i++) {
    const port = FREE_PORT_LOW + Math.floor(Math.random() * (FREE_PORT_HIGH - FREE_PORT_LOW));
    if (await canBind(port)) return port;
  }
  throw new Error(`no free port between ${FREE_PORT_LOW} and ${FREE_PORT_HIGH}`);
}

const FREE_PORT_LOW = 11000;
const FREE_PORT_HIGH = 20000;

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}
