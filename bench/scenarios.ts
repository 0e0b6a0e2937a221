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
  /** Extra `http {}` directives for both servers. */
  http?: string;
}

export const SCENARIOS: Scenario[] = [
  {
    name: 'return 200',
    path: '/',
    server: 'location / { return 200 "hello, world\\n"; }',
    nodeBody: 'hello, world\n',
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
