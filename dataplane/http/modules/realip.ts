/**
 * ngx_http_realip_module: when the peer is trusted (`set_real_ip_from`), the client address is taken from a
 * header (`real_ip_header`: X-Real-IP by default, X-Forwarded-For, any header, or `proxy_protocol`). With
 * `real_ip_recursive on`, trusted addresses are skipped from the right of X-Forwarded-For. It runs at
 * post-read (server-level settings) and again at preaccess (location-level ones), always from the peer's own
 * address, so running twice or after an internal redirect gives the same answer. Also declares the PROXY
 * protocol and realip variables.
 */
import type { ConfCtx } from '../../core/conf.ts';
import { ARGS, CTX } from '../../core/module.ts';
import type { ConfDirective } from '../../core/tree.ts';
import { cidrMatch, isUnixPeer, parseAddr, parseCidr, type Cidr } from '../cidr.ts';
import type { HttpRequest } from '../request.ts';
import { DECLINED, PHASE, defineHttpModule, type PhaseHandler } from '../types.ts';
import { flagSlot } from '../../core/slots.ts';

export interface RealipLocConf {
  from?: Cidr[];
  /** Lowercase header name, or the pseudo-header `proxy_protocol`. */
  header?: string;
  recursive?: boolean;
}

const REALIP_CTX = CTX.HTTP_MAIN | CTX.HTTP_SRV | CTX.HTTP_LOC;

function setFrom(cf: ConfCtx, d: ConfDirective, conf: RealipLocConf): string | void {
  const v = d.args[0]!;
  const c = parseCidr(v);
  if (!c || c.family === -1) cf.error(`invalid parameter "${v}"`);
  if (c.lowBits) cf.warn(`low address bits of ${v} are meaningless`);
  (conf.from ??= []).push(c);
}

function setHeader(_cf: ConfCtx, d: ConfDirective, conf: RealipLocConf): string | void {
  if (conf.header !== undefined) return 'is duplicate';
  conf.header = d.args[0]!.toLowerCase();
}

function trusted(from: Cidr[], addr: string): boolean {
  const a = isUnixPeer(addr) ? undefined : parseAddr(addr);
  for (const c of from) if (cidrMatch(c, a)) return true;
  return false;
}

/** forwardedAddr picks the client from an X-Forwarded-For list (ngx_http_get_forwarded_addr). */
export function forwardedAddr(list: string, from: Cidr[], recursive: boolean): string | undefined {
  const items = list.split(',');
  let pick: string | undefined;
  for (let i = items.length - 1; i >= 0; i--) {
    const a = items[i]!.trim();
    if (a === '' || parseAddr(a) === undefined) return pick;
    pick = a;
    if (!recursive || !trusted(from, a)) return a;
  }
  return pick;
}

/** realipAddress computes the address realip would give the request, or undefined to keep the peer's. */
function realipAddress(r: HttpRequest, conf: RealipLocConf): { addr: string; port: number } | undefined {
  const from = conf.from;
  if (!from || !trusted(from, r.conn.remoteAddress)) return undefined;
  const h = conf.header!;
  if (h === 'proxy_protocol') {
    const pp = r.conn.proxyProtocol;
    return pp ? { addr: pp.srcAddr, port: pp.srcPort } : undefined;
  }
  const value = r.header(h);
  if (value === undefined) return undefined;
  const addr = h === 'x-forwarded-for' ? forwardedAddr(value, from, conf.recursive!) : value.trim();
  if (addr === undefined || parseAddr(addr) === undefined) return undefined;
  return { addr, port: r.conn.remotePort };
}

function handler(cf: ConfCtx): PhaseHandler {
  const idx = cf.index(httpRealipModule);
  return (r) => {
    const conf = r.loc.confs[idx] as RealipLocConf;
    if (!conf.from) return DECLINED;
    const real = realipAddress(r, conf);
    if (real) {
      r.remoteAddress = real.addr;
      r.remotePort = real.port;
      r.vars.delete('remote_addr');
      r.vars.delete('binary_remote_addr');
      r.vars.delete('remote_port');
    }
    return DECLINED;
  };
}

export const httpRealipModule = defineHttpModule<undefined, undefined, RealipLocConf>({
  name: 'ngx_http_realip_module',
  type: 'http',
  configureArg: '--with-http_realip_module',
  variables: [
    { name: 'realip_remote_addr', get: (r) => r.conn.remoteAddress },
    { name: 'realip_remote_port', get: (r) => String(r.conn.remotePort) },
    { name: 'proxy_protocol_addr', get: (r) => r.conn.proxyProtocol?.srcAddr },
    { name: 'proxy_protocol_port', get: (r) => (r.conn.proxyProtocol ? String(r.conn.proxyProtocol.srcPort) : undefined) },
    { name: 'proxy_protocol_server_addr', get: (r) => r.conn.proxyProtocol?.dstAddr },
    { name: 'proxy_protocol_server_port', get: (r) => (r.conn.proxyProtocol ? String(r.conn.proxyProtocol.dstPort) : undefined) },
  ],
  directives: [
    { name: 'set_real_ip_from', contexts: REALIP_CTX, args: ARGS.TAKE1, conf: 'loc', set: setFrom },
    { name: 'real_ip_header', contexts: REALIP_CTX, args: ARGS.TAKE1, conf: 'loc', set: setHeader },
    { name: 'real_ip_recursive', contexts: REALIP_CTX, args: ARGS.FLAG, conf: 'loc', set: flagSlot('recursive') },
  ],
  createLocConf: () => ({}),
  mergeLocConf(_cf, p, c) {
    c.from ??= p.from;
    c.header ??= p.header ?? 'x-real-ip';
    c.recursive ??= p.recursive ?? false;
  },
  phases: [
    { phase: PHASE.POST_READ, handler },
    { phase: PHASE.PREACCESS, handler },
  ],
});
