/**
 * ngx_http_access_module: `allow` and `deny` rules (IPv4/IPv6 CIDR, `unix:`, `all`) checked in order in the
 * access phase; the first rule that matches the client address decides. `satisfy any|all` is the access
 * phase's own logic (runtime.ts accessChecker).
 */
import type { ConfCtx } from '../../core/conf.ts';
import { ARGS, CTX } from '../../core/module.ts';
import type { ConfDirective } from '../../core/tree.ts';
import { cidrMatch, isUnixPeer, parseAddr, parseCidr, type Cidr } from '../cidr.ts';
import { logRequest } from '../request-log.ts';
import { DECLINED, OK, PHASE, defineHttpModule, type PhaseHandler } from '../types.ts';

/** AccessRule is one `allow`/`deny` line. */
export interface AccessRule extends Cidr {
  deny: boolean;
}

export interface AccessLocConf {
  rules?: AccessRule[];
}

const ACCESS_CTX = CTX.HTTP_MAIN | CTX.HTTP_SRV | CTX.HTTP_LOC | CTX.HTTP_LMT;

function rule(cf: ConfCtx, d: ConfDirective, conf: AccessLocConf): string | void {
  const value = d.args[0]!;
  const c = parseCidr(value);
  if (!c) cf.error(`invalid parameter "${value}"`);
  if (c.lowBits) cf.warn(`low address bits of ${value} are meaningless`);
  (conf.rules ??= []).push({ family: c.family, addr: c.addr, mask: c.mask, deny: d.name === 'deny' });
}

function handler(cf: ConfCtx): PhaseHandler {
  const idx = cf.index(httpAccessModule);
  return (r) => {
    const rules = (r.loc.confs[idx] as AccessLocConf).rules;
    if (!rules) return DECLINED;
    const a = isUnixPeer(r.remoteAddress) ? undefined : parseAddr(r.remoteAddress);
    for (let i = 0; i < rules.length; i++) {
      const rl = rules[i]!;
      if (!cidrMatch(rl, a)) continue;
      if (!rl.deny) return OK;
      if (r.loc.satisfy !== 'any') logRequest(r, 'error', 'access forbidden by rule');
      return 403;
    }
    return DECLINED;
  };
}

export const httpAccessModule = defineHttpModule<undefined, undefined, AccessLocConf>({
  name: 'ngx_http_access_module',
  type: 'http',
  configureArg: '--without-http_access_module',
  directives: [
    { name: 'allow', contexts: ACCESS_CTX, args: ARGS.TAKE1, conf: 'loc', set: rule },
    { name: 'deny', contexts: ACCESS_CTX, args: ARGS.TAKE1, conf: 'loc', set: rule },
  ],
  createLocConf: () => ({}),
  mergeLocConf(_cf, p, c) {
    c.rules ??= p.rules;
  },
  phases: [{ phase: PHASE.ACCESS, handler }],
});
