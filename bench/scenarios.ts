/**
 * The benchmark table: one row per scenario, each saying how Portico, nginx and bare node:http serve it. Later
 * issues add rows (static files, proxy, TLS …); a row may leave a target out (e.g. no node:http baseline).
 */

/** Scenario is one benchmark row. */
export interface Scenario {
  name: string;
  /** The request path wrk hits. */
  path: string;
  /** The body of `server {}` (after `listen`) for Portico, and for nginx when `nginx` is not given. */
  server: string;
  /** nginx's server body when it differs from Portico's. */
  nginx?: string;
  /** Body the node:http baseline answers with; undefined leaves the baseline out. */
  nodeBody?: string;
  /** Extra `http {}` directives for both servers (other `server {}` blocks too). */
  http?: string;
  /** Files written into the prefix (relative paths; `root html` is the prefix's html/ folder). */
  files?: Record<string, string | Buffer>;
  /** Extra wrk arguments (headers: `-H`, `Host: …`). */
  wrk?: string[];
}

/** 1 KiB of printable bytes, so node:http can answer the same body from its argv. */
const KIB = 'portico!'.repeat(128);

/** A location set with ten regexes ahead of the prefix ones, the kind generated configs carry per server. */
const REGEX_LOCATIONS =
  Array.from({ length: 10 }, (_, i) => `location ~ ^/api/v${i}/(\\w+)$ { return 200 "api${i} $1"; }`).join(' ') +
  ' location ~* \\.(css|js|png)$ { return 200 "asset"; } location /static/ { return 200 "static"; } location = /health { return 200 "ok"; }' +
  ' location / { return 200 "hello, world\\n"; }';

/** 199 other servers (exact and wildcard names) with the same locations, for the 200-server row. */
const OTHER_SERVERS = Array.from(
  { length: 199 },
  (_, i) => `server { listen 127.0.0.1:PORT; server_name o${i}.example.com *.o${i}.example.org; ${REGEX_LOCATIONS} }`,
).join('\n');

export const SCENARIOS: Scenario[] = [
  {
    name: 'return 200',
    path: '/',
    server: 'location / { return 200 "hello, world\\n"; }',
    nodeBody: 'hello, world\n',
  },
  {
    name: 'return 200, keep-alive off',
    path: '/',
    server: 'location / { return 200 "hello, world\\n"; }',
    nodeBody: 'hello, world\n',
    wrk: ['-H', 'Connection: close'],
  },
  {
    name: 'static 1 KiB file',
    path: '/1k.txt',
    server: 'root html; location / { }',
    files: { 'html/1k.txt': KIB },
    nodeBody: KIB,
  },
  {
    name: 'regex locations, 1 server',
    path: '/api/v9/item',
    server: `server_name s150.example.com; ${REGEX_LOCATIONS}`,
    wrk: ['-H', 'Host: s150.example.com'],
    nodeBody: 'api9 item',
  },
  {
    name: 'regex locations, 200 servers',
    path: '/api/v9/item',
    server: `server_name s150.example.com; ${REGEX_LOCATIONS}`,
    http: OTHER_SERVERS,
    wrk: ['-H', 'Host: s150.example.com'],
    nodeBody: 'api9 item',
  },
  {
    // The cost of access logging: the same response, each request logged in nginx's combined format.
    name: 'return 200, access_log',
    path: '/',
    server: 'access_log logs/access.log combined; location / { return 200 "hello, world\\n"; }',
  },
  {
    name: 'return 200, access_log buffer=64k',
    path: '/',
    server: 'access_log logs/access.log combined buffer=64k flush=1s; location / { return 200 "hello, world\\n"; }',
  },
];
