/**
 * ngx_mail_realip_module: `set_real_ip_from` lists the balancers whose PROXY protocol header is believed; the
 * client address the header carries then replaces the socket's peer in logs, Client-IP and XCLIENT.
 */
import net from 'node:net';
import { ARGS, CTX } from '../core/module.ts';
import { defineMailModule } from './mail.ts';

export interface MailRealipConf {
  from?: string[];
}

export const mailRealipModule = defineMailModule<undefined, MailRealipConf>({
  name: 'ngx_mail_realip_module',
  type: 'mail',
  directives: [
    {
      name: 'set_real_ip_from',
      contexts: CTX.MAIL_MAIN | CTX.MAIL_SRV,
      args: ARGS.TAKE1,
      conf: 'srv',
      set(cf, d, conf: MailRealipConf) {
        const v = d.args[0]!;
        if (v !== 'unix:' && !parseCidr(v)) cf.error(`invalid parameter "${v}"`);
        (conf.from ??= []).push(v);
      },
    },
  ],
  createSrvConf: () => ({}),
  mergeSrvConf(_cf, prev, conf) {
    conf.from ??= prev.from;
  },
  initServer(_cf, server, conf) {
    if (!conf.from?.length) return;
    const list = new net.BlockList();
    for (const v of conf.from) {
      const c = parseCidr(v);
      if (!c) continue;
      if (c.prefix === undefined) list.addAddress(c.addr, c.family);
      else list.addSubnet(c.addr, c.prefix, c.family);
    }
    server.realIp = (addr) => {
      const family = net.isIPv6(addr) ? 'ipv6' : 'ipv4';
      return net.isIP(addr) !== 0 && list.check(addr, family);
    };
  },
});

function parseCidr(v: string): { addr: string; prefix?: number; family: 'ipv4' | 'ipv6' } | undefined {
  const [addr, bits] = v.split('/') as [string, string | undefined];
  const kind = net.isIP(addr);
  if (!kind) return undefined;
  const family = kind === 6 ? 'ipv6' : 'ipv4';
  if (bits === undefined) return { addr, family };
  const prefix = Number(bits);
  if (!/^\d+$/.test(bits) || prefix > (kind === 6 ? 128 : 32)) return undefined;
  return { addr, prefix, family };
}
