/**
 * ngx_mail_core_module: `server {}` inside `mail {}`, `listen`, `protocol`, `server_name`, `timeout`,
 * `error_log`, `resolver`, `resolver_timeout`, `max_errors`. A server without `protocol` takes it from the
 * port of its first `listen` that a protocol module claims (25/465/587 smtp, 110/995 pop3, 143/993 imap).
 */
import os from 'node:os';
import net from 'node:net';
import type { ConfLevel } from '../core/conf.ts';
import { parseErrorLogArgs } from '../core/core-module.ts';
import { ConfError } from '../core/errors.ts';
import type { LogTarget } from '../core/log.ts';
import { parseResolver, type ResolverSpec } from '../event/resolver.ts';
import { ARGS, CTX } from '../core/module.ts';
import { msecSlot, numSlot, strSlot } from '../core/slots.ts';
import type { ConfDirective } from '../core/tree.ts';
import { defineMailModule, type MailModule, type MailProtocol } from './mail.ts';

/** ListenSpec is one parsed `listen` directive. */
export interface ListenSpec {
  host: string;
  port: number;
  /** "127.0.0.1:25", "*:25", "[::1]:25": the text logs and duplicate checks use. */
  addrText: string;
  wildcard: boolean;
  ssl: boolean;
  proxyProtocol: boolean;
  backlog: number;
  bind: boolean;
  ipv6only: boolean;
}

export interface MailCoreMainConf {
  servers: MailCoreSrvConf[];
  listens: ListenSpec[];
}

export interface MailCoreSrvConf {
  protocol?: MailProtocol;
  timeout?: number;
  serverName?: string;
  errorLog?: LogTarget[];
  /** The `resolver` directive; null is `resolver off`. */
  resolver?: ResolverSpec | null;
  resolverTimeout?: number;
  maxErrors?: number;
  listens: ListenSpec[];
  /** This server's confs of every mail module (ctx->srv_conf), by module index. */
  srv?: unknown[];
  file?: string;
  line?: number;
}

/** NGX_LISTEN_BACKLOG on Linux. */
const DEFAULT_BACKLOG = 511;

export const mailCoreModule = defineMailModule<MailCoreMainConf, MailCoreSrvConf>({
  name: 'ngx_mail_core_module',
  type: 'mail',
  directives: [
    { name: 'server', contexts: CTX.MAIL_MAIN, args: ARGS.BLOCK | ARGS.NOARGS, conf: 'main', set: setServer },
    { name: 'listen', contexts: CTX.MAIL_SRV, args: ARGS.ONEMORE, conf: 'srv', set: setListen },
    {
      name: 'protocol',
      contexts: CTX.MAIL_SRV,
      args: ARGS.TAKE1,
      conf: 'srv',
      set(cf, d, conf: MailCoreSrvConf) {
        for (const m of cf.registry.ofType('mail') as MailModule[]) {
          if (m.mailProtocol?.name === d.args[0]) {
            conf.protocol = m.mailProtocol;
            return;
          }
        }
        cf.error(`unknown protocol "${d.args[0]}"`);
      },
    },
    { name: 'timeout', contexts: CTX.MAIL_MAIN | CTX.MAIL_SRV, args: ARGS.TAKE1, conf: 'srv', set: msecSlot('timeout') },
    { name: 'server_name', contexts: CTX.MAIL_MAIN | CTX.MAIL_SRV, args: ARGS.TAKE1, conf: 'srv', set: strSlot('serverName') },
    {
      name: 'error_log',
      contexts: CTX.MAIL_MAIN | CTX.MAIL_SRV,
      args: ARGS.ONEMORE,
      conf: 'srv',
      set(cf, d, conf: MailCoreSrvConf) {
        (conf.errorLog ??= []).push(parseErrorLogArgs(cf, d.args));
      },
    },
    { name: 'resolver', contexts: CTX.MAIL_MAIN | CTX.MAIL_SRV, args: ARGS.ONEMORE, conf: 'srv', set: setResolver },
    { name: 'resolver_timeout', contexts: CTX.MAIL_MAIN | CTX.MAIL_SRV, args: ARGS.TAKE1, conf: 'srv', set: msecSlot('resolverTimeout') },
    { name: 'max_errors', contexts: CTX.MAIL_MAIN | CTX.MAIL_SRV, args: ARGS.TAKE1, conf: 'srv', set: numSlot('maxErrors') },
  ],
  createMainConf: () => ({ servers: [], listens: [] }),
  createSrvConf: (cf) => ({ listens: [], file: cf.directive?.file, line: cf.directive?.line }),
  mergeSrvConf(_cf, prev, conf) {
    conf.timeout ??= prev.timeout ?? 60_000;
    conf.resolverTimeout ??= prev.resolverTimeout ?? 30_000;
    conf.serverName ??= prev.serverName ?? '';
    if (conf.serverName === '') conf.serverName = os.hostname();
    if (!conf.protocol) throw new ConfError(`unknown mail protocol for server in ${conf.file}:${conf.line}`);
    conf.errorLog ??= prev.errorLog;
    if (conf.resolver === undefined) conf.resolver = prev.resolver ?? null;
    conf.maxErrors ??= prev.maxErrors ?? 5;
  },
});

function setServer(cf: import('../core/conf.ts').ConfCtx, d: ConfDirective, main: MailCoreMainConf): void {
  const srv: unknown[] = [];
  for (const m of cf.registry.ofType('mail')) srv[cf.index(m)] = m.createSrvConf?.(cf);
  const cscf = srv[cf.index(mailCoreModule)] as MailCoreSrvConf;
  cscf.srv = srv;
  main.servers.push(cscf);
  const level: ConfLevel = { main: cf.level.main, srv };
  cf.parse(d.block!, CTX.MAIL_SRV, level);
  if (!cscf.listens.length) throw new ConfError(`no "listen" is defined for server in ${cscf.file}:${cscf.line}`);
}

function setListen(cf: import('../core/conf.ts').ConfCtx, d: ConfDirective, cscf: MailCoreSrvConf): void {
  const url = d.args[0]!;
  const addr = parseListenAddress(url);
  if (typeof addr === 'string') cf.error(`${addr} in "${url}" of the "listen" directive`);
  const ls: ListenSpec = { ...addr, ssl: false, proxyProtocol: false, backlog: DEFAULT_BACKLOG, bind: false, ipv6only: true };
  if (!cscf.protocol) {
    for (const m of cf.registry.ofType('mail') as MailModule[]) {
      if (m.mailProtocol?.ports.includes(ls.port)) cscf.protocol = m.mailProtocol;
    }
  }
  for (const v of d.args.slice(1)) {
    if (v === 'bind') ls.bind = true;
    else if (v.startsWith('backlog=')) {
      const n = Number(v.slice(8));
      if (!/^\d+$/.test(v.slice(8)) || n === 0) cf.error(`invalid backlog "${v}"`);
      ls.backlog = n;
      ls.bind = true;
    } else if (v.startsWith('rcvbuf=') || v.startsWith('sndbuf=')) {
      if (!/^\d+[kKmM]?$/.test(v.slice(7))) cf.error(`invalid ${v.slice(0, 6)} "${v}"`);
      ls.bind = true;
    } else if (v === 'ipv6only=on' || v === 'ipv6only=off') {
      ls.ipv6only = v === 'ipv6only=on';
      ls.bind = true;
    } else if (v.startsWith('ipv6only=')) cf.error(`invalid ipv6only flags "${v.slice(9)}"`);
    else if (v === 'ssl') ls.ssl = true;
    else if (v.startsWith('so_keepalive=')) ls.bind = true;
    else if (v === 'proxy_protocol') ls.proxyProtocol = true;
    else cf.error(`the invalid "${v}" parameter`);
  }
  const main = cf.level.main[cf.index(mailCoreModule)] as MailCoreMainConf;
  if (main.listens.some((l) => l.host === ls.host && l.port === ls.port)) cf.error(`duplicate "${ls.addrText}" address and port pair`);
  main.listens.push(ls);
  cscf.listens.push(ls);
}

/** parseListenAddress reads `port`, `*:port`, `addr:port`, `[v6]:port`; returns nginx's error text on failure. */
export function parseListenAddress(url: string): Pick<ListenSpec, 'host' | 'port' | 'addrText' | 'wildcard'> | string {
  if (url.startsWith('unix:')) return 'unix domain sockets are not supported';
  let host = '*';
  let portText = url;
  if (url.startsWith('[')) {
    const close = url.indexOf(']');
    if (close < 0) return 'invalid host';
    host = url.slice(1, close);
    if (!net.isIPv6(host)) return 'invalid IPv6 address';
    if (url[close + 1] !== ':') return 'no port';
    portText = url.slice(close + 2);
  } else if (url.includes(':')) {
    const i = url.lastIndexOf(':');
    host = url.slice(0, i);
    portText = url.slice(i + 1);
  } else if (!/^\d+$/.test(url)) {
    return 'no port';
  }
  if (host === 'localhost') host = '127.0.0.1';
  if (host !== '*' && !net.isIP(host)) return `host not found`;
  if (!/^\d+$/.test(portText) || Number(portText) < 1 || Number(portText) > 65535) return 'invalid port';
  const port = Number(portText);
  const wildcard = host === '*' || host === '0.0.0.0' || host === '::';
  const addrText = host === '*' ? `0.0.0.0:${port}` : net.isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
  return { host: host === '*' ? '0.0.0.0' : host, port, addrText, wildcard };
}

function setResolver(cf: import('../core/conf.ts').ConfCtx, d: ConfDirective, conf: MailCoreSrvConf): string | void {
  if (conf.resolver !== undefined) return 'is duplicate';
  conf.resolver = d.args.length === 1 && d.args[0] === 'off' ? null : parseResolver(cf, d.args);
}
