/**
 * The ordered module list (nginx's ngx_modules[]): the only place a new module is registered.
 * Order matters where nginx's does: directive lookup follows it, and HTTP filters run from the last
 * listed module towards the first (the first is closest to the wire).
 */
import { coreModule, errlogModule } from './core/core-module.ts';
import type { Module } from './core/module.ts';
import { Registry } from './core/registry.ts';
import { eventCoreModule, eventsModule } from './event/events-module.ts';

export const MODULES: readonly Module[] = [coreModule, errlogModule, eventsModule, eventCoreModule];

/** createRegistry returns a registry over MODULES (a fresh one per call is cheap and keeps state per cycle). */
export function createRegistry(): Registry {
  return new Registry(MODULES);
}
