/** What an HTTP listening address carries in a cycle: its servers by name, its runtime, its parser limits. */
import type { ListenSlot } from '../core/cycle.ts';
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

/** addrConfOf returns the address conf for a connection accepted on `slot` at `localAddress`, in the current cycle. */
export function addrConfOf(slot: ListenSlot, localAddress: string): HttpAddrConf {
  const ctx = slot.current.ctx as HttpListenCtx;
  return (ctx.byAddr && ctx.byAddr.get(localAddress)) || ctx.fallback;
}
