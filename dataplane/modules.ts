/**
 * The ordered module list (nginx's ngx_modules[]): the only place a new module is registered.
 * Order matters where nginx's does: directive lookup follows it, and HTTP filters run from the last
 * listed module towards the first (the first is closest to the wire).
 */
import { coreModule, errlogModule } from './core/core-module.ts';
import type { Module } from './core/module.ts';
import { Registry } from './core/registry.ts';
import { eventCoreModule, eventsModule } from './event/events-module.ts';
import { httpCoreModule } from './http/core-module.ts';
import { httpModule } from './http/http-module.ts';
import { httpRewriteModule } from './http/modules/rewrite.ts';
import { httpProxyModule } from './http/modules/proxy/proxy-module.ts';
import { httpUpstreamModule } from './upstream/upstream-module.ts';

export const MODULES: readonly Module[] = [
  // core
  coreModule,
  errlogModule,
  eventsModule,
  eventCoreModule,
  httpModule,
  // http: the first listed filter is the closest to the wire
  httpCoreModule,
  httpRewriteModule,
  httpProxyModule,
  httpUpstreamModule,
];

/** createRegistry returns a registry over MODULES (a fresh one per call is cheap and keeps state per cycle). */
export function createRegistry(): Registry {
  return new Registry(MODULES);
}
