/**
 * ngx_events_module (the `events {}` block) and ngx_event_core_module (what goes inside it).
 * The event loop itself is libuv's; these settings bound what each worker accepts. `multi_accept on` gives each
 * TCP address 64 accept sockets per worker instead of 16 (process/config.ts acceptSockets, event/listeners.ts);
 * `accept_mutex` is accepted and has no effect, since every worker listens on its own SO_REUSEPORT sockets.
 */
import type { ConfLevel } from '../core/conf.ts';
import { ARGS, CTX, defineModule } from '../core/module.ts';
import { flagSlot, msecSlot, numSlot, strSlot } from '../core/slots.ts';

export interface EventCoreConf {
  workerConnections?: number;
  use?: string;
  multiAccept?: boolean;
  acceptMutex?: boolean;
  acceptMutexDelay?: number;
}

export interface EventsConf {
  level?: ConfLevel;
}

export const eventCoreModule = defineModule<EventCoreConf>({
  name: 'ngx_event_core_module',
  type: 'event',
  directives: [
    { name: 'worker_connections', contexts: CTX.EVENTS, args: ARGS.TAKE1, set: numSlot('workerConnections') },
    { name: 'use', contexts: CTX.EVENTS, args: ARGS.TAKE1, set: strSlot('use') },
    { name: 'multi_accept', contexts: CTX.EVENTS, args: ARGS.FLAG, set: flagSlot('multiAccept') },
    { name: 'accept_mutex', contexts: CTX.EVENTS, args: ARGS.FLAG, set: flagSlot('acceptMutex') },
    { name: 'accept_mutex_delay', contexts: CTX.EVENTS, args: ARGS.TAKE1, set: msecSlot('acceptMutexDelay') },
  ],
  createConf: () => ({}),
  initConf(cf, conf) {
    conf.workerConnections ??= 512;
    if (conf.use !== undefined && conf.use !== 'epoll') cf.warn(`event method "${conf.use}" is not available, using epoll`);
  },
});

export const eventsModule = defineModule<EventsConf>({
  name: 'ngx_events_module',
  type: 'core',
  directives: [
    {
      name: 'events',
      contexts: CTX.MAIN,
      args: ARGS.BLOCK | ARGS.NOARGS,
      set(cf, d, conf: EventsConf) {
        if (conf.level) return 'is duplicate';
        const level: ConfLevel = { main: [] };
        const eventModules = cf.registry.ofType('event');
        for (const m of eventModules) level.main[cf.index(m)] = m.createConf?.(cf);
        cf.parse(d.block!, CTX.EVENTS, level);
        for (const m of eventModules) m.initConf?.(cf, level.main[cf.index(m)]);
        conf.level = level;
      },
    },
  ],
  createConf: () => ({}),
  initConf(cf, conf) {
    if (!conf.level) cf.error('no "events" section in configuration', undefined);
  },
});
