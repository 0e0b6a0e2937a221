/**
 * Global settings that are not annotations: ingress-nginx ConfigMap keys that map onto one main- or http-level
 * directive each. Read from the --configmap ConfigMap beside the global annotation keys (table.ts, `global`).
 */
import * as p from './parsers.ts';

/** SettingDef is one ConfigMap key → one directive. */
export interface SettingDef {
  key: string;
  directive: string;
  context: 'main' | 'http';
  /** parse returns the directive's arguments. */
  parse: p.Parser<string[]>;
  doc: string;
}

const flag: p.Parser<string[]> = (t) => [p.bool(t) ? 'on' : 'off'];
const one = <T>(parser: p.Parser<T>): p.Parser<string[]> => (t) => [String(parser(t))];

/** SETTINGS lists the supported non-annotation keys. */
export const SETTINGS: readonly SettingDef[] = [
  { key: 'worker-processes', directive: 'worker_processes', context: 'main', parse: (t) => (t === 'auto' ? ['auto'] : [String(p.int(1, 1024)(t))]), doc: 'Dataplane worker threads (`worker_processes`), or `auto`; --worker-processes wins.' },
  { key: 'keep-alive', directive: 'keepalive_timeout', context: 'http', parse: one(p.seconds), doc: 'Client keep-alive timeout in seconds (`keepalive_timeout`).' },
  { key: 'keep-alive-requests', directive: 'keepalive_requests', context: 'http', parse: one(p.int(1, 1e9)), doc: 'Requests per client keep-alive connection (`keepalive_requests`).' },
  { key: 'client-header-timeout', directive: 'client_header_timeout', context: 'http', parse: one(p.seconds), doc: 'Seconds to read the request head (`client_header_timeout`).' },
  { key: 'client-body-timeout', directive: 'client_body_timeout', context: 'http', parse: one(p.seconds), doc: 'Seconds between two reads of the request body (`client_body_timeout`).' },
  { key: 'server-tokens', directive: 'server_tokens', context: 'http', parse: flag, doc: 'Show the version in the Server header and error pages (`server_tokens`).' },
  { key: 'ssl-protocols', directive: 'ssl_protocols', context: 'http', parse: (t) => t.split(/\s+/).filter(Boolean).map(p.oneOf('TLSv1.2', 'TLSv1.3')), doc: 'TLS versions offered, e.g. `TLSv1.2 TLSv1.3` (`ssl_protocols`).' },
  { key: 'metrics-per-host', directive: 'portico_metrics_per_host', context: 'http', parse: flag, doc: 'Label request metrics with the host (default true; false bounds series for many hosts).' },
  { key: 'metrics-status-classes', directive: 'portico_metrics_status_classes', context: 'http', parse: flag, doc: 'Label request metrics with the status class (2xx) instead of the status (fewer series).' },
  { key: 'access-log-path', directive: 'access_log', context: 'http', parse: (t) => [logPath(t)], doc: 'Where access logs go (default `/dev/stdout`, written through the inherited descriptor).' },
  { key: 'disable-access-log', directive: 'access_log', context: 'http', parse: (t) => [p.bool(t) ? 'off' : DEFAULT_ACCESS_LOG], doc: 'Turn access logs off (`true`); `false` keeps them.' },
];

/** DEFAULT_ACCESS_LOG is where request lines go unless the ConfigMap says otherwise: the pod's log stream. */
export const DEFAULT_ACCESS_LOG = '/dev/stdout';

function logPath(t: string): string {
  return /^\/[^\s;{}$'"\\]*$/.test(t) ? t : p.fail(`"${t}" is not an absolute file path`);
}

/** SETTINGS_BY_KEY indexes SETTINGS. */
export const SETTINGS_BY_KEY = new Map(SETTINGS.map((s) => [s.key, s]));
