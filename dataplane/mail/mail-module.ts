/**
 * ngx_mail_module: the `mail {}` block. It creates every mail module's main and server confs, parses the block,
 * merges each `server {}` with the block level, turns each server into a ready MailServer, and registers one
 * Listening per address (nginx's ngx_mail_optimize_servers: a wildcard `*:port` serves the specific addresses
 * of its port that have no `bind`, choosing the server by the connection's local address).
 */
import type net from 'node:net';
import type { ConfCtx, ConfLevel } from '../core/conf.ts';
import { errlogModule } from '../core/core-module.ts';
import { cycleOf, type Cycle } from '../core/cycle.ts';
import { ErrorLog, type LogTarget } from '../core/log.ts';
import { ARGS, CTX, defineModule } from '../core/module.ts';
import { mailCoreModule, type ListenSpec, type MailCoreMainConf, type MailCoreSrvConf } from './core-module.ts';
import type { MailListen, MailModule, MailServer } from './mail.ts';
import { MailSession } from './session.ts';
import { MailStats } from './stats.ts';

export interface MailConf {
  level?: ConfLevel;
  servers: MailServer[];
  /** Session counters (see stats.ts); replaced by the worker's long-lived ones in initWorker. */
  stats: MailStats;
  /** Connection numbers for log lines (`*N`); shared by the worker's cycles so numbers never repeat. */
  connections: { last: number };
  /** Error logs opened in this worker; closed once the cycle is retired and its last session ended. */
  logs: ErrorLog[];
  /** Sessions of this cycle still open, and whether a reload or shutdown retired the cycle. */
  live: number;
  retired: boolean;
  unsubscribe?: () => void;
}

export const mailModule = defineModule<MailConf>({
  name: 'ngx_mail_module',
  type: 'core',
  configureArg: '--with-mail',
  directives: [{ name: 'mail', contexts: CTX.MAIN, args: ARGS.BLOCK | ARGS.NOARGS, set: mailBlock }],
  createConf: () => ({ servers: [], stats: new MailStats(), connections: { last: 0 }, logs: [], live: 0, retired: false }),
  initWorker(cycle) {
    const conf = cycle.conf(mailModule);
    if (!conf?.level) return;
    // Counters live as long as the worker (Runtime.store), so a reload does not reset them.
    const stats = cycle.runtime?.store('mail', () => conf.stats) ?? conf.stats;
    conf.connections = cycle.runtime?.store('mail.connections', () => conf.connections) ?? conf.connections;
    const opened = new Map<string, ErrorLog>();
    for (const server of conf.servers) {
      server.stats = stats;
      const targets = srvOf(server).errorLog;
      if (targets) server.ownLog = openLog(conf, opened, targets);
      else if (cycle.runtime) server.runtime = cycle.runtime;
      else server.ownLog = openLog(conf, opened, cycle.conf(errlogModule).targets);
    }
    if (conf.logs.length && cycle.runtime) {
      conf.unsubscribe = cycle.runtime.onReopen(() => {
        for (const log of conf.logs) log.reopen();
      });
    }
  },
  exitWorker(cycle) {
    const conf = cycle.conf(mailModule);
    if (!conf) return;
    conf.retired = true;
    // Sessions of a reloaded cycle go on (nothing is cut by a reload); their log closes after the last one.
    if (conf.live === 0) closeLogs(conf);
  },
});

function closeLogs(conf: MailConf): void {
  conf.unsubscribe?.();
  for (const log of conf.logs.splice(0)) log.close();
}

/** openLog opens a mail `error_log` once per distinct target list. */
function openLog(conf: MailConf, opened: Map<string, ErrorLog>, targets: LogTarget[]): ErrorLog {
  const key = JSON.stringify(targets);
  let log = opened.get(key);
  if (!log) {
    log = new ErrorLog(targets);
    opened.set(key, log);
    conf.logs.push(log);
  }
  return log;
}

function srvOf(server: MailServer): MailCoreSrvConf {
  return server.srv[server.registry.index(mailCoreModule)] as MailCoreSrvConf;
}

function mailBlock(cf: ConfCtx, d: import('../core/tree.ts').ConfDirective, conf: MailConf): string | void {
  if (conf.level) return 'is duplicate';
  const modules = cf.registry.ofType('mail') as MailModule[];
  const level: ConfLevel = { main: [], srv: [] };
  for (const m of modules) {
    level.main[cf.index(m)] = m.createMainConf?.(cf);
    level.srv![cf.index(m)] = m.createSrvConf?.(cf);
  }
  conf.level = level;
  cf.parse(d.block!, CTX.MAIL_MAIN, level);
  for (const m of modules) m.initMainConf?.(cf, level.main[cf.index(m)]);

  const cmcf = level.main[cf.index(mailCoreModule)] as MailCoreMainConf;
  const saved = cf.level;
  try {
    for (const cscf of cmcf.servers) {
      const srv = cscf.srv!;
      // Merges read sibling modules' confs of the same server through cf.level (the smtp greeting needs
      // server_name): core merges first because it is listed first.
      cf.level = { main: level.main, srv };
      for (const m of modules) m.mergeSrvConf?.(cf, level.srv![cf.index(m)], srv[cf.index(m)]);
      const server: MailServer = {
        srv,
        registry: cf.registry,
        protocol: cscf.protocol!,
        serverName: cscf.serverName!,
        timeout: cscf.timeout!,
        maxErrors: cscf.maxErrors!,
        ownLog: undefined,
        runtime: undefined,
        get log() {
          // Without its own error_log a server writes to the worker's current log, which a reload replaces.
          return this.ownLog ?? this.runtime?.log;
        },
        secureContext: undefined,
        verifyClient: 0,
        stats: conf.stats,
        sessionEnded: () => {
          if (--conf.live === 0 && conf.retired) closeLogs(conf);
        },
        realIp: () => false,
        resolver: cscf.resolver ? { servers: cscf.resolver.servers, timeout: cscf.resolverTimeout! } : undefined,
      };
      for (const m of modules) m.initServer?.(cf, server, srv[cf.index(m)]);
      conf.servers.push(server);
    }
  } finally {
    cf.level = saved;
  }
  addListening(cf, conf, cmcf);
}

/** addListening groups listens by port and registers one Listening per socket to open. */
function addListening(cf: ConfCtx, conf: MailConf, cmcf: MailCoreMainConf): void {
  const cycle = cycleOf(cf);
  const serverOf = new Map<ListenSpec, MailServer>();
  cmcf.servers.forEach((cscf, i) => {
    for (const ls of cscf.listens) serverOf.set(ls, conf.servers[i]!);
  });
  const byPort = new Map<number, ListenSpec[]>();
  for (const ls of cmcf.listens) byPort.set(ls.port, [...(byPort.get(ls.port) ?? []), ls]);
  for (const specs of byPort.values()) {
    const wildcard = specs.find((l) => l.wildcard && l.host === '0.0.0.0') ?? specs.find((l) => l.wildcard);
    for (const ls of specs) {
      const listen = toListen(ls, serverOf.get(ls)!);
      if (wildcard && ls !== wildcard && !ls.bind && !ls.wildcard) continue; // served by the wildcard socket
      const served = ls === wildcard ? specs.filter((o) => o !== ls && !o.bind && !o.wildcard).map((o) => toListen(o, serverOf.get(o)!)) : [];
      cycle.addListening({
        key: ls.addrText.startsWith('0.0.0.0:') ? `*:${ls.port}` : ls.addrText,
        host: ls.host,
        port: ls.port,
        backlog: ls.backlog,
        ipv6only: ls.ipv6only,
        owner: 'mail',
        handler: connectionHandler(conf, cycle, listen, served),
      });
    }
  }
}

function toListen(ls: ListenSpec, server: MailServer): MailListen {
  return { ...ls, server };
}

function connectionHandler(conf: MailConf, _cycle: Cycle, listen: MailListen, served: MailListen[]): (socket: net.Socket) => void {
  return (socket) => {
    let chosen = listen;
    if (served.length) {
      const local = (socket.localAddress ?? '').replace(/^::ffff:/, '');
      chosen = served.find((l) => l.host === local) ?? listen;
    }
    conf.live++;
    new MailSession(socket, chosen, ++conf.connections.last).start();
  };
}
