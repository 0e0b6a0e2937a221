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
import { httpAutoindexModule } from './http/modules/autoindex.ts';
import { httpEmptyGifModule } from './http/modules/empty-gif.ts';
import { httpGzipFilterModule } from './http/modules/gzip.ts';
import { httpHeadersFilterModule } from './http/modules/headers.ts';
import { httpIndexModule } from './http/modules/index.ts';
import { httpMapModule } from './http/modules/map.ts';
import { httpSplitClientsModule } from './http/modules/split-clients.ts';
import { httpNotModifiedFilterModule } from './http/modules/not-modified.ts';
import { httpRangeFilterModule } from './http/modules/range.ts';
import { httpAccessModule } from './http/modules/access.ts';
import { httpAuthRequestModule } from './http/modules/auth-request.ts';
import { httpAuthBasicModule } from './http/modules/auth-basic.ts';
import { httpLimitConnModule } from './http/modules/limit-conn.ts';
import { httpLimitReqModule } from './http/modules/limit-req.ts';
import { httpRealipModule } from './http/modules/realip.ts';
import { httpLogModule } from './http/modules/log.ts';
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
import { httpStaticModule } from './http/modules/static.ts';
import { httpStubStatusModule } from './http/modules/stub-status.ts';
import { httpTryFilesModule } from './http/modules/try-files.ts';
import { httpGrpcModule } from './http/modules/grpc.ts';
import { httpSslModule } from './http/modules/ssl.ts';
import { httpV2Module } from './http/v2/module.ts';
import { httpProxyModule } from './http/modules/proxy/proxy-module.ts';
import { httpUpstreamModule } from './upstream/upstream-module.ts';

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
  httpSslModule,
  httpV2Module,
  // content-phase handlers run in reverse order of listing (index, then autoindex, then static), as in nginx
  httpStaticModule,
  httpAutoindexModule,
  httpIndexModule,
  httpTryFilesModule,
  httpMapModule,
  httpSplitClientsModule,
  httpRewriteModule,
  httpLogModule,
  // Phase handlers run in list order; this is nginx's run order (realip, limit_req, limit_conn, access,
  // auth_basic, auth_request), which nginx gets by walking its reversed module list.
  httpRealipModule,
  httpLimitReqModule,
  httpLimitConnModule,
  httpAccessModule,
  httpAuthBasicModule,
  httpAuthRequestModule,
  httpGrpcModule,
  httpProxyModule,
  httpUpstreamModule,
  httpMetricsModule,
  httpEmptyGifModule,
  httpStubStatusModule,
  // filters, in nginx's order: range (header side), gzip, headers (add_header, expires), not_modified
  httpRangeFilterModule,
  httpGzipFilterModule,
  httpHeadersFilterModule,
  httpNotModifiedFilterModule,
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
