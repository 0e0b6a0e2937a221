/**
 * One Ingress location → nginx directives. Standard nginx directives wherever nginx has one; the few others are
 * listed in docs/render-contract.md. Server-level helpers (auth subrequest locations, named error locations) are
 * returned beside the location so the server renderer can place them.
 */
import { type ConfDirective, directive as d } from '../../dataplane/core/tree.ts';
import type { Annotations } from '../annotations/table.ts';
import type { Backend, LocationModel } from '../model/types.ts';
import { renderSelection, routeHostVariable, routeRedirects, routeRewrites, routeTarget } from './routes.ts';

/** RenderContext collects http-level directives (zones, maps) while locations are rendered. */
export interface RenderContext {
  http: ConfDirective[];
  /** policies whose selection maps are already rendered. */
  policies: Set<string>;
  counter: number;
  defaultBackend?: Backend;
}

/** PROXY_HEADERS is the request header set sent to every backend (rendered once at http level). */
export const PROXY_HEADERS: readonly [string, string][] = [
  ['Host', '$host'],
  ['X-Real-IP', '$remote_addr'],
  ['X-Forwarded-For', '$proxy_add_x_forwarded_for'],
  ['X-Forwarded-Host', '$host'],
  ['X-Forwarded-Port', '$server_port'],
  ['X-Forwarded-Proto', '$scheme'],
  ['Upgrade', '$http_upgrade'],
  ['Connection', '$connection_upgrade'],
];

function zoneName(loc: LocationModel, suffix: string): string {
  return `${loc.ingress.namespace}_${loc.ingress.name}_${suffix}`;
}

function passTo(a: Annotations, target: string): ConfDirective {
  const p = a.backendProtocol ?? 'HTTP';
  if (p === 'GRPC' || p === 'GRPCS') return d('grpc_pass', [`${p === 'GRPC' ? 'grpc' : 'grpcs'}://${target}`]);
  return d('proxy_pass', [`${p === 'HTTPS' ? 'https' : 'http'}://${target}`]);
}

function cors(a: Annotations): ConfDirective[] {
  const headers: [string, string][] = [
    ['Access-Control-Allow-Origin', (a.corsAllowOrigin ?? ['*']).join(', ')],
    ['Access-Control-Allow-Methods', (a.corsAllowMethods ?? ['GET', 'PUT', 'POST', 'DELETE', 'PATCH', 'OPTIONS']).join(', ')],
    ['Access-Control-Allow-Headers', (a.corsAllowHeaders ?? ['DNT', 'Keep-Alive', 'User-Agent', 'X-Requested-With', 'If-Modified-Since', 'Cache-Control', 'Content-Type', 'Range', 'Authorization']).join(', ')],
  ];
  if (a.corsAllowCredentials !== false) headers.push(['Access-Control-Allow-Credentials', 'true']);
  if (a.corsExposeHeaders) headers.push(['Access-Control-Expose-Headers', a.corsExposeHeaders.join(', ')]);
  const add = headers.map(([k, v]) => d('add_header', [k, v, 'always']));
  return [
    d('if', ['($request_method', '=', 'OPTIONS)'], [...add, d('add_header', ['Access-Control-Max-Age', String(Math.min(a.corsMaxAge ?? 1728000, 604800))]), d('return', ['204'])]),
    ...add,
  ];
}

/** renderLocation returns the location block and the server-level helper blocks it needs. */
export function renderLocation(loc: LocationModel, ctx: RenderContext): { location: ConfDirective; helpers: ConfDirective[] } {
  const a = loc.annotations;
  const n = ctx.counter++;
  const body: ConfDirective[] = [d('portico_ingress', [loc.ingress.namespace ?? '', loc.ingress.name, loc.backend.service, loc.rulePath])];
  const helpers: ConfDirective[] = [];
  for (const c of a.denySourceRange ?? []) body.push(d('deny', [c]));
  if (a.allowSourceRange) {
    for (const c of a.allowSourceRange) body.push(d('allow', [c]));
    body.push(d('deny', ['all']));
  }
  const key = a.limitKey ?? '$binary_remote_addr';
  if (a.limitRps || a.limitRpm) {
    const z = zoneName(loc, a.limitRps ? 'rps' : 'rpm');
    const rate = a.limitRps ? `${a.limitRps}r/s` : `${a.limitRpm}r/m`;
    if (!ctx.http.some((x) => x.name === 'limit_req_zone' && x.args[1] === `zone=${z}:1m`)) ctx.http.push(d('limit_req_zone', [key, `zone=${z}:1m`, `rate=${rate}`]));
    body.push(d('limit_req', [`zone=${z}`, `burst=${a.limitBurst ?? (a.limitRps ?? a.limitRpm!) * 5}`, 'nodelay']));
    if (a.limitStatus) body.push(d('limit_req_status', [String(a.limitStatus)]));
  }
  if (a.limitConnections) {
    const z = zoneName(loc, 'conn');
    if (!ctx.http.some((x) => x.name === 'limit_conn_zone' && x.args[1] === `zone=${z}:1m`)) ctx.http.push(d('limit_conn_zone', [key, `zone=${z}:1m`]));
    body.push(d('limit_conn', [z, String(a.limitConnections)]));
    if (a.limitStatus) body.push(d('limit_conn_status', [String(a.limitStatus)]));
  }
  // ingress-nginx's units: kilobytes (per second).
  if (a.limitRate) body.push(d('limit_rate', [`${a.limitRate}k`]));
  if (a.limitRate && a.limitRateAfter) body.push(d('limit_rate_after', [`${a.limitRateAfter}k`]));
  if (loc.htpasswd !== undefined) {
    body.push(d('auth_basic', [a.authRealm ?? 'Authentication Required']));
    body.push(d('auth_basic_user_file', [`data:${loc.htpasswd}`]));
  }
  const extraHeaders: [string, string][] = [];
  if (a.authUrl) {
    const authLoc = `/_portico_auth_${n}`;
    body.push(d('auth_request', [authLoc]));
    (a.authResponseHeaders ?? []).forEach((h, i) => {
      const v = `$portico_auth_${n}_${i}`;
      body.push(d('auth_request_set', [v, `$upstream_http_${h.toLowerCase().replaceAll('-', '_')}`]));
      extraHeaders.push([h, v]);
    });
    helpers.push(
      d('location', ['=', authLoc], [
        d('internal'),
        d('proxy_pass_request_body', ['off']),
        d('proxy_set_header', ['Content-Length', '']),
        d('proxy_set_header', ['X-Original-URL', '$scheme://$http_host$request_uri']),
        d('proxy_set_header', ['X-Original-Method', '$request_method']),
        d('proxy_pass', [a.authUrl]),
      ]),
    );
    if (a.authSignin) {
      body.push(d('error_page', ['401', '=', `@portico_signin_${n}`]));
      helpers.push(d('location', [`@portico_signin_${n}`], [d('return', ['302', `${a.authSignin}${a.authSignin.includes('?') ? '&' : '?'}rd=$scheme://$http_host$request_uri`])]));
    }
  }
  if (a.permanentRedirect) {
    body.push(d('return', [String(a.permanentRedirectCode ?? 301), a.permanentRedirect]));
    return { location: d('location', loc.match ? [loc.match, loc.path] : [loc.path], body), helpers };
  }
  if (a.temporalRedirect) {
    body.push(d('return', ['302', a.temporalRedirect]));
    return { location: d('location', loc.match ? [loc.match, loc.path] : [loc.path], body), helpers };
  }
  const routes = loc.routes;
  if (routes) {
    if (!ctx.policies.has(routes.variable)) {
      ctx.policies.add(routes.variable);
      ctx.http.push(...renderSelection(routes));
    }
    body.push(...routeRedirects(routes));
  }
  if (a.enableCors) body.push(...cors(a));
  if (routes) body.push(...routeRewrites(routes));
  if (a.rewriteTarget && loc.match === '~*') body.push(d('rewrite', [`(?i)${loc.path}`, a.rewriteTarget, 'break']));
  if (a.proxyBodySize) body.push(d('client_max_body_size', [a.proxyBodySize]));
  if (a.proxyConnectTimeout) body.push(d('proxy_connect_timeout', [a.proxyConnectTimeout]));
  if (a.proxySendTimeout) body.push(d('proxy_send_timeout', [a.proxySendTimeout]));
  if (a.proxyReadTimeout) body.push(d('proxy_read_timeout', [a.proxyReadTimeout]));
  if (a.proxyNextUpstream) body.push(d('proxy_next_upstream', a.proxyNextUpstream));
  if (a.proxyNextUpstreamTries !== undefined) body.push(d('proxy_next_upstream_tries', [String(a.proxyNextUpstreamTries)]));
  if (a.proxyNextUpstreamTimeout) body.push(d('proxy_next_upstream_timeout', [a.proxyNextUpstreamTimeout]));
  if (a.proxyBuffering) body.push(d('proxy_buffering', [a.proxyBuffering]));
  if (a.proxyCookieDomain) body.push(d('proxy_cookie_domain', a.proxyCookieDomain));
  if (a.proxyCookiePath) body.push(d('proxy_cookie_path', a.proxyCookiePath));
  const routedHost = routes && routeHostVariable(routes, n);
  if (routedHost) extraHeaders.push(['Host', routedHost]);
  else if (a.upstreamVhost) extraHeaders.push(['Host', a.upstreamVhost]);
  if (a.xForwardedPrefix) extraHeaders.push(['X-Forwarded-Prefix', a.xForwardedPrefix]);
  if (extraHeaders.length) {
    // proxy_set_header in a location replaces the inherited set, so the whole set is repeated.
    const names = new Set(extraHeaders.map(([h]) => h.toLowerCase()));
    for (const [h, v] of PROXY_HEADERS) if (!names.has(h.toLowerCase())) body.push(d('proxy_set_header', [h, v]));
    for (const [h, v] of extraHeaders) body.push(d('proxy_set_header', [h, v]));
  }
  const errorsTo = loc.fallback?.upstream ? loc.fallback : ctx.defaultBackend;
  if (a.customHttpErrors && errorsTo?.upstream) {
    body.push(d('proxy_intercept_errors', ['on']));
    body.push(d('error_page', [...a.customHttpErrors.map(String), `@portico_errors_${n}`]));
    helpers.push(
      d('location', [`@portico_errors_${n}`], [
        d('proxy_set_header', ['X-Code', '$status']),
        d('proxy_set_header', ['X-Format', '$http_accept']),
        d('proxy_set_header', ['X-Original-URI', '$request_uri']),
        d('proxy_set_header', ['X-Namespace', loc.ingress.namespace ?? '']),
        d('proxy_set_header', ['X-Ingress-Name', loc.ingress.name]),
        d('proxy_set_header', ['X-Service-Name', loc.backend.service]),
        d('proxy_pass', [`http://${errorsTo.upstream}`]),
      ]),
    );
  }
  const main = loc.backend.upstream ?? loc.fallback?.upstream ?? null;
  let target = main !== null && loc.canary?.backend.upstream ? `$${canaryVariable(loc, main, loc.canary.backend.upstream, n, ctx)}` : main;
  if (routes) {
    const r = routeTarget(routes, n, target, ctx.http);
    if (r.guard) body.push(r.guard);
    target = r.target;
  }
  body.push(target === null ? d('return', ['503']) : passTo(a, target));
  return { location: d('location', loc.match ? [loc.match, loc.path] : [loc.path], body), helpers };
}

/** canaryVariable renders the maps choosing main or canary (header, then cookie, then weight) and returns the variable. */
function canaryVariable(loc: LocationModel, main: string, canary: string, n: number, ctx: RenderContext): string {
  const c = loc.canary!;
  let current = main;
  if (c.weight > 0) {
    const v = `portico_canary_${n}_weight`;
    ctx.http.push(d('split_clients', ['$request_id', `$${v}`], [d(`${c.weight}%`, [canary]), d('*', [main])]));
    current = `$${v}`;
  }
  if (c.cookie) {
    const v = `portico_canary_${n}_cookie`;
    ctx.http.push(d('map', [`$cookie_${c.cookie.replaceAll('-', '_')}`, `$${v}`], [d('always', [canary]), d('never', [main]), d('default', [current])]));
    current = `$${v}`;
  }
  if (c.header) {
    const v = `portico_canary_${n}_header`;
    const hv = `$http_${c.header.toLowerCase().replaceAll('-', '_')}`;
    const rows = c.headerValue ? [d(c.headerValue, [canary])] : [d('always', [canary]), d('never', [main])];
    ctx.http.push(d('map', [hv, `$${v}`], [...rows, d('default', [current])]));
    current = `$${v}`;
  }
  if (current === main) {
    // A canary with weight 0 and no header/cookie gets no traffic, but still needs a variable to keep one shape.
    const v = `portico_canary_${n}`;
    ctx.http.push(d('map', ['$request_id', `$${v}`], [d('default', [main])]));
    current = `$${v}`;
  }
  return current.slice(1);
}
