/**
 * The `listen` directive and address grouping (ngx_http_add_listen, ngx_http_optimize_servers): servers that
 * share an address:port form one group with a default server; specific addresses on a port that also has a
 * wildcard listen are served by the wildcard socket and told apart by the connection's local address.
 */
import type { ConfCtx } from '../core/conf.ts';
import { parseNumber, parseSize } from '../core/values.ts';

/** ListenOpt is one parsed `listen` directive. */
export interface ListenOpt {
  host: string;
  port: number;
  family: 4 | 6 | 0;
  unixPath?: string;
  wildcard: boolean;
  defaultServer: boolean;
  ssl: boolean;
  http2: boolean;
  proxyProtocol: boolean;
  backlog?: number;
  bind: boolean;
  ipv6only: boolean;
  /** Options that must be given once per address (backlog, ipv6only …) were set on this listen. */
  hasSocketOptions: boolean;
}

/** addrKey names an address the way nginx prints it: `127.0.0.1:80`, `[::1]:80`, `0.0.0.0:80`, `unix:/p`. */
export function addrKey(host: string, port: number, unixPath?: string): string {
  if (unixPath) return `unix:${unixPath}`;
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** parseListen reads `listen address[:port] [options…]`. */
export function parseListen(cf: ConfCtx, args: string[]): ListenOpt {
  const spec = args[0]!;
  const o: ListenOpt = {
    host: '0.0.0.0',
    port: 80,
    family: 4,
    wildcard: true,
    defaultServer: false,
    ssl: false,
    http2: false,
    proxyProtocol: false,
    bind: false,
    ipv6only: true,
    hasSocketOptions: false,
  };
  if (spec.startsWith('unix:')) {
    o.unixPath = cf.fullPath(spec.slice(5));
    o.host = '';
    o.port = 0;
    o.family = 0;
    o.wildcard = false;
  } else {
    let host: string | undefined;
    let port: string | undefined;
    const v6 = /^\[([0-9a-fA-F:.]+)\](?::(\d+))?$/.exec(spec);
    if (v6) {
      host = v6[1]!;
      port = v6[2];
      o.family = 6;
    } else if (/^\d+$/.test(spec)) {
      port = spec;
    } else {
      const m = /^([^:]+)(?::(\d+))?$/.exec(spec);
      if (!m) cf.error(`invalid host in "${spec}" of the "listen" directive`);
      host = m[1]!;
      port = m[2];
    }
    if (port !== undefined) {
      const p = Number(port);
      if (!(p >= 1 && p <= 65535)) cf.error(`invalid port in "${spec}" of the "listen" directive`);
      o.port = p;
    } else if (host !== undefined && !v6) {
      o.port = 80;
    }
    if (host !== undefined) {
      if (host === '*') host = '0.0.0.0';
      if (host === 'localhost') host = '127.0.0.1';
      if (o.family === 4 && !/^\d{1,3}(\.\d{1,3}){3}$/.test(host)) cf.error(`host not found in "${spec}" of the "listen" directive`);
      o.host = host;
      o.wildcard = host === '0.0.0.0' || host === '::';
    }
  }
  for (const a of args.slice(1)) {
    if (a === 'default_server' || a === 'default') o.defaultServer = true;
    else if (a === 'ssl') o.ssl = true;
    else if (a === 'http2') o.http2 = true;
    else if (a === 'proxy_protocol') o.proxyProtocol = true;
    else if (a === 'bind') o.bind = true;
    else if (a === 'reuseport' || a === 'deferred' || a === 'fastopen' || a.startsWith('fastopen=')) o.hasSocketOptions = true;
    else if (a.startsWith('backlog=')) {
      const n = parseNumber(a.slice(8));
      if (n === undefined || n === 0) cf.error(`invalid backlog "${a.slice(8)}"`);
      o.backlog = n;
      o.hasSocketOptions = true;
    } else if (a.startsWith('ipv6only=')) {
      const v = a.slice(9);
      if (v !== 'on' && v !== 'off') cf.error(`invalid ipv6only flags "${v}"`);
      o.ipv6only = v === 'on';
      o.hasSocketOptions = true;
      o.bind = true;
    } else if (a.startsWith('rcvbuf=') || a.startsWith('sndbuf=')) {
      if (parseSize(a.slice(7)) === undefined) cf.error(`invalid ${a.slice(0, 6)} "${a.slice(7)}"`);
      o.hasSocketOptions = true;
    } else if (a.startsWith('so_keepalive=') || a.startsWith('accept_filter=') || a.startsWith('setfib=')) {
      o.hasSocketOptions = true;
    } else cf.error(`invalid parameter "${a}"`);
  }
  if (o.hasSocketOptions) o.bind = true;
  return o;
}
