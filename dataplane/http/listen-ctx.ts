/** What an HTTP listening address carries in a cycle: its servers by name, its runtime, its parser limits. */
import type { CoreSrvConf } from './core-conf.ts';
import type { HeadLimits } from './parser.ts';
import type { HttpRuntime } from './runtime.ts';
import type { ServerNames } from './servers.ts';

/** HttpAddrConf is one address:port's view (nginx's ngx_http_addr_conf_t). */
export interface HttpAddrConf {
  names: ServerNames;
  defaultSrv: CoreSrvConf;
  runtime: HttpRuntime;
  limits: HeadLimits;
  ssl: boolean;
  http2: boolean;
  proxyProtocol: boolean;
}

/** HttpListenCtx is a socket's view: a wildcard socket also serves specific addresses of its port. */
export interface HttpListenCtx {
  byAddr?: Map<string, HttpAddrConf>;
  fallback: HttpAddrConf;
}
