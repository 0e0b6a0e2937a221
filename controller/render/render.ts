/**
 * render: model → ConfTree, as real nginx.conf (`printConf` of it is what `bin/portico conf` shows). Output is
 * deterministic (the model is sorted) so equal inputs hash equal and are not pushed twice. Upstream peers are
 * kept apart by `peersOf` so an endpoint-only change can be detected and pushed on its own.
 */
import { type ConfDirective, type ConfTree, directive as d } from '../../dataplane/core/tree.ts';
import type { Model, ServerModel, UpstreamModel } from '../model/types.ts';
import { DEFAULT_ACCESS_LOG } from '../annotations/settings.ts';
import { renderMail } from './mail.ts';
import { PROXY_HEADERS, type RenderContext, renderLocation } from './location.ts';

/** RenderOptions are the listen ports and process settings. */
export interface RenderOptions {
  httpPort: number;
  httpsPort: number;
  /** listenAddress, when set, is prefixed to the ports (tests bind 127.0.0.1). */
  listenAddress?: string;
  workerProcesses?: number | 'auto';
}

function listen(opts: RenderOptions, port: number): string {
  return opts.listenAddress ? `${opts.listenAddress}:${port}` : String(port);
}

/** serverName renders a host: exact names as is, a `*.` wildcard as a one-label regex (Ingress v1 semantics). */
export function serverName(host: string): string {
  if (!host.startsWith('*.')) return host;
  return `~^[^.]+${host.slice(1).replaceAll('.', '\\.')}$`;
}

function renderUpstream(u: UpstreamModel): ConfDirective {
  const body: ConfDirective[] = [];
  if (u.hashBy) body.push(d('hash', u.hashConsistent === false ? [u.hashBy] : [u.hashBy, 'consistent']));
  else if (u.balancer !== 'round_robin') body.push(d(u.balancer));
  if (u.sticky) {
    const args = ['cookie', u.sticky.name, `path=${u.sticky.path}`];
    if (u.sticky.maxAge !== undefined) args.push(`expires=${u.sticky.maxAge}s`);
    if (u.sticky.samesite) args.push(`samesite=${u.sticky.samesite.toLowerCase()}`);
    body.push(d('sticky', args));
  }
  body.push(d('keepalive', ['32']));
  u.peers.forEach((p, i) => body.push(d('server', u.weights && u.weights[i] !== 1 ? [p, `weight=${u.weights[i]}`] : [p])));
  return d('upstream', [u.name], body);
}

function renderServer(s: ServerModel, opts: RenderOptions, ctx: RenderContext): ConfDirective {
  const body: ConfDirective[] = [];
  const def = s.isDefault ? ['default_server'] : [];
  body.push(d('listen', [listen(opts, opts.httpPort), ...def]));
  if (s.certificate) body.push(d('listen', [listen(opts, opts.httpsPort), 'ssl', ...def]));
  body.push(d('server_name', [serverName(s.host), ...s.aliases.map(serverName)]));
  if (s.certificate) {
    body.push(d('ssl_certificate', [`data:${s.certificate.cert}`]));
    body.push(d('ssl_certificate_key', [`data:${s.certificate.key}`]));
  }
  if (s.sslRedirect && !s.isDefault) {
    const port = opts.httpsPort === 443 ? '' : `:${opts.httpsPort}`;
    body.push(d('if', ['($scheme', '=', 'http)'], [d('return', ['308', `https://$host${port}$request_uri`])]));
  }
  if (s.appRoot) body.push(d('if', ['($uri', '=', '/)'], [d('return', ['302', s.appRoot])]));
  const helpers: ConfDirective[] = [];
  for (const loc of s.locations) {
    const r = renderLocation(loc, ctx);
    body.push(r.location);
    helpers.push(...r.helpers);
  }
  if (s.isDefault && !s.locations.some((l) => l.match === '' && l.path === '/')) body.push(d('location', ['/'], [d('return', ['404'])]));
  body.push(...helpers);
  return d('server', [], body);
}

/** accessLog is `off` when the ConfigMap turns logs off, else its path or the pod's stdout (combined format). */
function accessLog(model: Model): string[] {
  const set = model.settings.filter((x) => x.name === 'access_log').map((x) => x.args[0]!);
  if (set.includes('off')) return ['off'];
  return [set.find((a) => a !== DEFAULT_ACCESS_LOG) ?? DEFAULT_ACCESS_LOG];
}

/** render turns the model into the dataplane's configuration tree. */
export function render(model: Model, opts: RenderOptions): ConfTree {
  const ctx: RenderContext = { http: [], policies: new Set(), counter: 0, defaultBackend: model.defaultBackend };
  const servers = model.servers.map((s) => renderServer(s, opts, ctx));
  const http: ConfDirective[] = [
    // No Upgrade header → no Connection header to the upstream, so the upstream keepalive pool is used
    // (ingress-nginx does the same when upstream keep-alive is on); an upgrade request gets "upgrade".
    d('map', ['$http_upgrade', '$connection_upgrade'], [d('default', ['upgrade']), d('', [''])]),
    d('proxy_http_version', ['1.1']),
    ...PROXY_HEADERS.map(([h, v]) => d('proxy_set_header', [h, v])),
    d('access_log', accessLog(model)),
    ...model.settings.filter((x) => x.context === 'http' && x.name !== 'access_log').map((x) => d(x.name, x.args)),
    ...ctx.http,
    ...model.upstreams.map(renderUpstream),
    ...servers,
  ];
  const tree: ConfTree = [];
  const wp = opts.workerProcesses !== undefined ? [String(opts.workerProcesses)] : model.settings.find((x) => x.name === 'worker_processes')?.args;
  if (wp) tree.push(d('worker_processes', wp));
  tree.push(d('events', [], []), d('http', [], http), ...renderMail(model.mail, opts.listenAddress));
  return tree;
}
