/**
 * Error-log lines about a request carry nginx's context suffix (`, client: …, server: …, request: "…", host:
 * "…"`) so an operator can find the request in the access log; modules log through logRequest.
 */
import type { LogLevel } from '../core/log.ts';
import type { HttpRequest } from './request.ts';

/** logRequest writes `*conn message, client: …` to the request's error log if the level is enabled. */
export function logRequest(r: HttpRequest, level: LogLevel, message: string): void {
  const log = r.http.log(r);
  if (!log || !log.enabled(level)) return;
  let line = `*${r.conn.id} ${message}, client: ${r.remoteAddress}, server: ${r.srv.serverNames[0]?.name ?? ''}`;
  if (r.method) line += `, request: "${r.method} ${r.unparsedUri} ${r.protocol}"`;
  if (r !== r.main) line += `, subrequest: "${r.uri}"`;
  if (r.host) line += `, host: "${r.header('host') ?? r.host}"`;
  log.log(level, line);
}
