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
import { httpMetricsModule } from './http/metrics/module.ts';
import { httpRewriteModule } from './http/modules/rewrite.ts';
import { mailAuthHttpModule } from './mail/auth-http-module.ts';
import { mailCoreModule } from './mail/core-module.ts';
import { mailImapModule } from './mail/imap-module.ts';
import { mailModule } from './mail/mail-module.ts';
import { mailPop3Module } from './mail/pop3-module.ts';
import { mailProxyModule } from './mail/proxy-module.ts';
import { mailRealipModule } from './mail/realip-module.ts';
import { mailSmtpModule } from './mail/smtp-module.ts';
import { mailSslModule } from './mail/ssl-module.ts';

export const MODULES: readonly Module[] = [
  // core
  coreModule,
  errlogModule,
  eventsModule,
  eventCoreModule,
  httpModule,
  mailModule,
  // http: the first listed filter is the closest to the wire
  httpCoreModule,
  httpRewriteModule,
  httpMetricsModule,
  // mail, in nginx's order
  mailCoreModule,
  mailSslModule,
  mailPop3Module,
  mailImapModule,
  mailSmtpModule,
  mailAuthHttpModule,
  mailProxyModule,
  mailRealipModule,
];

/** createRegistry returns a registry over MODULES (a fresh one per call is cheap and keeps state per cycle). */
export function createRegistry(): Registry {
  return new Registry(MODULES);
}
