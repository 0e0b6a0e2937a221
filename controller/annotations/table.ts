/**
 * The annotation table: every supported annotation with the field it sets, its parser, its scope and one doc
 * line. Keys use ingress-nginx's names so users can migrate; each is read under `nginx.ingress.kubernetes.io/`
 * and `portico.dev/` (ours wins when both are set). docs/annotations.md is generated from this table.
 */
import * as p from './parsers.ts';

/** PREFIXES are the annotation prefixes read, lowest precedence first. */
export const PREFIXES = ['nginx.ingress.kubernetes.io/', 'portico.dev/'] as const;

/** Annotations is the parsed, validated set of annotation values on one Ingress. */
export interface Annotations {
  rewriteTarget?: string;
  useRegex?: boolean;
  sslRedirect?: boolean;
  forceSslRedirect?: boolean;
  backendProtocol?: 'HTTP' | 'HTTPS' | 'GRPC' | 'GRPCS';
  proxyBodySize?: string;
  proxyConnectTimeout?: string;
  proxySendTimeout?: string;
  proxyReadTimeout?: string;
  proxyNextUpstream?: string[];
  proxyNextUpstreamTries?: number;
  proxyBuffering?: 'on' | 'off';
  proxyCookieDomain?: string[];
  proxyCookiePath?: string[];
  loadBalance?: 'round_robin' | 'ewma' | 'least_conn' | 'ip_hash' | 'random';
  upstreamHashBy?: string;
  affinity?: 'cookie';
  sessionCookieName?: string;
  sessionCookiePath?: string;
  sessionCookieMaxAge?: number;
  sessionCookieSamesite?: 'None' | 'Lax' | 'Strict';
  allowSourceRange?: string[];
  denySourceRange?: string[];
  limitRps?: number;
  limitConnections?: number;
  limitRate?: number;
  limitRateAfter?: number;
  authType?: 'basic';
  authSecret?: string;
  authRealm?: string;
  authUrl?: string;
  authSignin?: string;
  authResponseHeaders?: string[];
  enableCors?: boolean;
  corsAllowOrigin?: string[];
  corsAllowMethods?: string[];
  corsAllowHeaders?: string[];
  corsExposeHeaders?: string[];
  corsAllowCredentials?: boolean;
  corsMaxAge?: number;
  permanentRedirect?: string;
  permanentRedirectCode?: number;
  temporalRedirect?: string;
  appRoot?: string;
  canary?: boolean;
  canaryWeight?: number;
  canaryByHeader?: string;
  canaryByHeaderValue?: string;
  canaryByCookie?: string;
  customHttpErrors?: number[];
  defaultBackend?: string;
  upstreamVhost?: string;
  xForwardedPrefix?: string;
  serverAlias?: string[];
  serviceUpstream?: boolean;
  // Set only by an HTTPRoutePolicy's spec.policy (no annotation says these):
  hashConsistent?: boolean;
  proxyNextUpstreamTimeout?: string;
  limitRpm?: number;
  limitBurst?: number;
  limitKey?: string;
  limitStatus?: number;
}

/** Scope says where an annotation acts: the Ingress's locations, its servers (hosts), or its upstreams. */
export type Scope = 'location' | 'server' | 'upstream' | 'ingress';

/** AnnotationDef is one row of the table. */
export interface AnnotationDef {
  key: string;
  field: keyof Annotations;
  parse: p.Parser<unknown>;
  scope: Scope;
  /** global: the key is also accepted in the global settings ConfigMap as a default for every Ingress. */
  global?: boolean;
  doc: string;
}

const METHOD = p.oneOf('GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'CONNECT', 'TRACE');

/** TABLE is the list of supported annotations, in documentation order. */
export const TABLE: readonly AnnotationDef[] = [
  { key: 'rewrite-target', field: 'rewriteTarget', parse: p.uriPath, scope: 'location', doc: 'Rewrites the matched path to this target (`$1`… refer to capture groups of a `use-regex` path); renders `rewrite … break`.' },
  { key: 'use-regex', field: 'useRegex', parse: p.bool, scope: 'location', doc: 'Treats the Ingress paths as case-insensitive regular expressions (`location ~*`).' },
  { key: 'ssl-redirect', field: 'sslRedirect', parse: p.bool, scope: 'server', global: true, doc: 'Redirects HTTP to HTTPS (308) when the host has TLS. Default true.' },
  { key: 'force-ssl-redirect', field: 'forceSslRedirect', parse: p.bool, scope: 'server', global: true, doc: 'Redirects HTTP to HTTPS (308) even when the host has no TLS section.' },
  { key: 'backend-protocol', field: 'backendProtocol', parse: p.oneOf('HTTP', 'HTTPS', 'GRPC', 'GRPCS'), scope: 'location', doc: 'Protocol to the backend: HTTP, HTTPS, GRPC or GRPCS (`proxy_pass https://…`, `grpc_pass`).' },
  { key: 'proxy-body-size', field: 'proxyBodySize', parse: p.size, scope: 'location', global: true, doc: 'Largest request body (`client_max_body_size`), e.g. `8m`; `0` disables the check.' },
  { key: 'proxy-connect-timeout', field: 'proxyConnectTimeout', parse: p.seconds, scope: 'location', global: true, doc: 'Seconds to connect to a backend (`proxy_connect_timeout`).' },
  { key: 'proxy-send-timeout', field: 'proxySendTimeout', parse: p.seconds, scope: 'location', global: true, doc: 'Seconds between two writes to a backend (`proxy_send_timeout`).' },
  { key: 'proxy-read-timeout', field: 'proxyReadTimeout', parse: p.seconds, scope: 'location', global: true, doc: 'Seconds between two reads from a backend (`proxy_read_timeout`).' },
  { key: 'proxy-next-upstream', field: 'proxyNextUpstream', parse: p.nextUpstream, scope: 'location', global: true, doc: 'When to try the next endpoint, e.g. `error timeout http_502` (`proxy_next_upstream`).' },
  { key: 'proxy-next-upstream-tries', field: 'proxyNextUpstreamTries', parse: p.int(0, 100), scope: 'location', global: true, doc: 'Most endpoints tried for one request (`proxy_next_upstream_tries`), 0 = unlimited.' },
  { key: 'proxy-cookie-domain', field: 'proxyCookieDomain', parse: p.cookieRewrite('domain'), scope: 'location', global: true, doc: 'Rewrites the Domain of backend Set-Cookie headers: `off` or `from to`, `~regex` allowed (`proxy_cookie_domain`).' },
  { key: 'proxy-cookie-path', field: 'proxyCookiePath', parse: p.cookieRewrite('path'), scope: 'location', global: true, doc: 'Rewrites the Path of backend Set-Cookie headers: `off` or `from to`, `~regex` / `~*regex` allowed (`proxy_cookie_path`).' },
  { key: 'proxy-buffering', field: 'proxyBuffering', parse: p.oneOf('on', 'off'), scope: 'location', global: true, doc: 'Buffer backend responses: `on` or `off` (`proxy_buffering`).' },
  { key: 'load-balance', field: 'loadBalance', parse: p.oneOf('round_robin', 'ewma', 'least_conn'), scope: 'upstream', global: true, doc: 'Balancer: `round_robin` (default), `ewma` (peak EWMA latency) or `least_conn`.' },
  { key: 'upstream-hash-by', field: 'upstreamHashBy', parse: p.nginxVariables, scope: 'upstream', doc: 'Consistent hashing on an nginx variable expression, e.g. `$request_uri` (`hash … consistent`).' },
  { key: 'affinity', field: 'affinity', parse: p.oneOf('cookie'), scope: 'upstream', doc: 'Session affinity; only `cookie` is supported (`sticky cookie`).' },
  { key: 'session-cookie-name', field: 'sessionCookieName', parse: p.token, scope: 'upstream', doc: 'Name of the affinity cookie. Default `INGRESSCOOKIE`.' },
  { key: 'session-cookie-path', field: 'sessionCookiePath', parse: p.uriPath, scope: 'upstream', doc: 'Path of the affinity cookie. Default `/`.' },
  { key: 'session-cookie-max-age', field: 'sessionCookieMaxAge', parse: p.int(1, 31536000), scope: 'upstream', doc: 'Max-Age of the affinity cookie in seconds (a session cookie when unset).' },
  { key: 'session-cookie-samesite', field: 'sessionCookieSamesite', parse: p.oneOf('None', 'Lax', 'Strict'), scope: 'upstream', doc: 'SameSite attribute of the affinity cookie.' },
  { key: 'whitelist-source-range', field: 'allowSourceRange', parse: p.list(p.cidr), scope: 'location', global: true, doc: 'Comma-separated CIDRs allowed; all others get 403 (`allow …; deny all;`).' },
  { key: 'allowlist-source-range', field: 'allowSourceRange', parse: p.list(p.cidr), scope: 'location', global: true, doc: 'Same as `whitelist-source-range` (its newer name).' },
  { key: 'denylist-source-range', field: 'denySourceRange', parse: p.list(p.cidr), scope: 'location', global: true, doc: 'Comma-separated CIDRs refused with 403 (`deny …`).' },
  { key: 'limit-rps', field: 'limitRps', parse: p.int(1, 1000000), scope: 'location', doc: 'Requests per second per client address, burst 5× (`limit_req_zone` + `limit_req … nodelay`).' },
  { key: 'limit-connections', field: 'limitConnections', parse: p.int(1, 1000000), scope: 'location', doc: 'Concurrent connections per client address (`limit_conn_zone` + `limit_conn`).' },
  { key: 'limit-rate', field: 'limitRate', parse: p.int(0, 1000000000), scope: 'location', doc: 'Response rate per request in kilobytes per second, 0 = none (`limit_rate Nk`).' },
  { key: 'limit-rate-after', field: 'limitRateAfter', parse: p.int(0, 1000000000), scope: 'location', doc: 'Kilobytes of each response sent before limit-rate applies (`limit_rate_after Nk`).' },
  { key: 'auth-type', field: 'authType', parse: p.oneOf('basic'), scope: 'location', doc: 'Authentication type; only `basic` (`auth_basic`).' },
  { key: 'auth-secret', field: 'authSecret', parse: p.secretRef, scope: 'location', doc: 'Secret (`name` or `namespace/name`) whose `auth` key holds htpasswd lines.' },
  { key: 'auth-realm', field: 'authRealm', parse: p.text, scope: 'location', doc: 'Realm shown by the browser for basic auth.' },
  { key: 'auth-url', field: 'authUrl', parse: p.url, scope: 'location', doc: 'External authentication URL; 2xx allows, 401/403 refuse (`auth_request`).' },
  { key: 'auth-signin', field: 'authSignin', parse: p.url, scope: 'location', doc: 'Where to redirect (302, with `rd=`) when auth-url answers 401.' },
  { key: 'auth-response-headers', field: 'authResponseHeaders', parse: p.list(p.token), scope: 'location', doc: 'Headers copied from the auth-url response to the backend request.' },
  { key: 'enable-cors', field: 'enableCors', parse: p.bool, scope: 'location', doc: 'Adds CORS headers and answers preflight OPTIONS with 204.' },
  { key: 'cors-allow-origin', field: 'corsAllowOrigin', parse: p.list(p.origin), scope: 'location', doc: 'Allowed origins, comma separated. Default `*`.' },
  { key: 'cors-allow-methods', field: 'corsAllowMethods', parse: p.list(METHOD), scope: 'location', doc: 'Allowed methods. Default `GET, PUT, POST, DELETE, PATCH, OPTIONS`.' },
  { key: 'cors-allow-headers', field: 'corsAllowHeaders', parse: p.list(p.token), scope: 'location', doc: 'Allowed request headers.' },
  { key: 'cors-expose-headers', field: 'corsExposeHeaders', parse: p.list(p.token), scope: 'location', doc: 'Response headers exposed to the page.' },
  { key: 'cors-allow-credentials', field: 'corsAllowCredentials', parse: p.bool, scope: 'location', doc: 'Sends `Access-Control-Allow-Credentials: true`. Default true.' },
  { key: 'cors-max-age', field: 'corsMaxAge', parse: p.int(0, 86400 * 7), scope: 'location', doc: 'Seconds a preflight answer may be cached. Default 1728000 is capped to 7 days.' },
  { key: 'permanent-redirect', field: 'permanentRedirect', parse: p.url, scope: 'location', doc: 'Answers every request with a permanent redirect to this URL (`return 301`).' },
  { key: 'permanent-redirect-code', field: 'permanentRedirectCode', parse: p.httpStatus(300, 308), scope: 'location', doc: 'Status for permanent-redirect. Default 301.' },
  { key: 'temporal-redirect', field: 'temporalRedirect', parse: p.url, scope: 'location', doc: 'Answers every request with a temporary redirect to this URL (`return 302`).' },
  { key: 'app-root', field: 'appRoot', parse: p.uriPath, scope: 'server', doc: 'Redirects `/` to this path (302).' },
  { key: 'canary', field: 'canary', parse: p.bool, scope: 'ingress', doc: 'Marks this Ingress as the canary of the Ingress with the same host and path.' },
  { key: 'canary-weight', field: 'canaryWeight', parse: p.int(0, 100), scope: 'ingress', doc: 'Percent of requests sent to the canary (`split_clients`).' },
  { key: 'canary-by-header', field: 'canaryByHeader', parse: p.token, scope: 'ingress', doc: 'Header that routes to the canary when `always` (or canary-by-header-value) and away when `never`.' },
  { key: 'canary-by-header-value', field: 'canaryByHeaderValue', parse: p.token, scope: 'ingress', doc: 'Header value that routes to the canary instead of `always`.' },
  { key: 'canary-by-cookie', field: 'canaryByCookie', parse: p.token, scope: 'ingress', doc: 'Cookie that routes to the canary when `always` and away when `never`.' },
  { key: 'custom-http-errors', field: 'customHttpErrors', parse: p.list(p.httpStatus(300, 599)), scope: 'location', global: true, doc: 'Backend statuses answered by the default backend instead (`proxy_intercept_errors` + `error_page`).' },
  { key: 'default-backend', field: 'defaultBackend', parse: p.serviceRef, scope: 'location', doc: 'Service (same namespace) that answers when the backend has no endpoints and for custom-http-errors.' },
  { key: 'upstream-vhost', field: 'upstreamVhost', parse: p.hostname, scope: 'location', doc: 'Host header sent to the backend (`proxy_set_header Host`).' },
  { key: 'x-forwarded-prefix', field: 'xForwardedPrefix', parse: p.uriPath, scope: 'location', doc: 'Sends `X-Forwarded-Prefix` with this value.' },
  { key: 'server-alias', field: 'serverAlias', parse: p.list(p.hostname), scope: 'server', doc: 'More host names for the Ingress\'s servers (`server_name`).' },
  { key: 'service-upstream', field: 'serviceUpstream', parse: p.bool, scope: 'upstream', global: true, doc: 'Proxies to the Service ClusterIP instead of the endpoint addresses.' },
];
