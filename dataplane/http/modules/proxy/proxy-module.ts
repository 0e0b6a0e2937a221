/**
 * ngx_http_proxy_module: `proxy_pass` and its family. The content handler resolves the target (a fixed group,
 * or a URL evaluated per request whose host names an upstream, an address or a name for the `resolver`),
 * reads or streams the request body, and hands over to UpstreamRequest. Configuration lives in conf.ts, request building in
 * create-request.ts, response heads in response.ts, buffering in spool.ts, upgrades in tunnel.ts.
 */
import path from 'node:path';
import type { UpstreamMainConf } from '../../../upstream/upstream-module.ts';
import { upstreamMainConf } from '../../../upstream/upstream-module.ts';
import { findUpstream } from '../../upstream-target.ts';
import type { HttpRequest } from '../../request.ts';
import { DONE, defineHttpModule, type VariableDef } from '../../types.ts';
import { evaluate } from '../../variables.ts';
import { mergeProxyLocConf, proxyDirectives, type ProxyLocConf } from './conf.ts';
import { upstreamUri } from './create-request.ts';
import { RequestBody } from './request-body.ts';
import { UpstreamRequest, type Target } from './upstream-request.ts';

function indexOf(r: HttpRequest): number {
  return r.http.cycle.registry.index(httpProxyModule);
}

/** proxyHandler finds the target: the fixed group, or for a URL with variables the one upstream-target.ts finds. */
function proxyHandler(r: HttpRequest, conf: ProxyLocConf, idx: number): number {
  const pass = conf.pass!;
  if (!pass.url) return startProxy(r, conf, idx, { group: pass.group!, uri: upstreamUri(r, pass, pass.uri), host: pass.host, port: pass.port, https: pass.https });
  const url = evaluate(r, pass.url);
  const m = /^(https?):\/\/([^/?]+)(.*)$/i.exec(url);
  if (!m) {
    r.http.cycle.log?.log('error', `*${r.conn.id} invalid URL prefix in "${url}", client: ${r.conn.remoteAddress}`);
    return 500;
  }
  const https = m[1]!.toLowerCase() === 'https';
  const hostPart = m[2]!;
  const port = /:(\d+)$/.exec(hostPart)?.[1] ?? (https ? '443' : '80');
  const uri = upstreamUri(r, pass, m[3] ?? '');
  const umcf = (conf as ProxyLocConf & { upstreams?: UpstreamMainConf }).upstreams!;
  return findUpstream(r, umcf, hostPart, https ? 443 : 80, (group) => startProxy(r, conf, idx, { group, uri, host: hostPart, port, https }));
}

function startProxy(r: HttpRequest, conf: ProxyLocConf, idx: number, target: Target): number {
  const u = new UpstreamRequest(r, conf, target);
  r.ctx[idx] = u;
  if (!r.hasBody) {
    u.connect();
    return DONE;
  }
  if (!conf.passRequestBody) {
    r.conn.discardBody(r);
    u.connect();
    return DONE;
  }
  if (conf.requestBuffering || (r.chunked && conf.httpVersion === '1.0')) {
    const body = new RequestBody(r.loc.clientBodyBufferSize!, path.join(r.http.cycle.prefix, 'client_body_temp'));
    u.body = body;
    let failed = false;
    r.conn.readBody(r, {
      onData(d) {
        if (failed) return;
        try {
          body.add(d);
        } catch (err) {
          failed = true;
          r.http.cycle.log?.log('crit', `*${r.conn.id} cannot write client request body to a temp file: ${(err as Error).message}`);
        }
      },
      onEnd(status) {
        if (status === 499) return;
        if (status || failed) {
          u.finish();
          r.finalize(status || 500);
          return;
        }
        u.connect();
      },
    });
    return DONE;
  }
  u.streaming = true;
  u.chunkedBody = r.chunked;
  r.conn.readBody(r, {
    onData: (d) => u.streamChunk(d),
    onEnd(status) {
      if (status === 499) return;
      if (status) {
        u.finish();
        u.dropConnection();
        r.finalize(status);
        return;
      }
      u.streamEnd();
    },
  });
  u.connect();
  return DONE;
}

function forwardedFor(r: HttpRequest): string {
  const xff = r.header('x-forwarded-for');
  return xff ? `${xff}, ${r.conn.remoteAddress}` : r.conn.remoteAddress;
}

function passOf(r: HttpRequest): { host: string; port: string } | undefined {
  const idx = indexOf(r);
  const u = r.ctx[idx] as UpstreamRequest | undefined;
  if (u) return u.target;
  return (r.loc.confs[idx] as ProxyLocConf | undefined)?.pass;
}

/** upstreamHeader is `$upstream_http_<name>`: a header of the upstream's response as received (repeats joined). */
function upstreamHeader(r: HttpRequest, name: string): string | undefined {
  const h = (r.ctx[indexOf(r)] as UpstreamRequest | undefined)?.head?.headers;
  if (!h) return undefined;
  const want = name.slice('upstream_http_'.length).replaceAll('_', '-');
  let out: string | undefined;
  for (let i = 0; i < h.length; i += 2) {
    if (h[i]!.toLowerCase() === want) out = out === undefined ? h[i + 1]! : `${out}, ${h[i + 1]}`;
  }
  return out;
}

const PROXY_VARIABLES: VariableDef[] = [
  // nginx's upstream module declares it; it reads the proxy's response head, so it lives with the proxy.
  { name: 'upstream_http_', prefix: true, nocache: true, get: upstreamHeader },
  { name: 'proxy_host', nocache: true, get: (r) => passOf(r)?.host },
  { name: 'proxy_port', nocache: true, get: (r) => passOf(r)?.port },
  { name: 'proxy_add_x_forwarded_for', get: forwardedFor },
];

export const httpProxyModule = defineHttpModule<undefined, undefined, ProxyLocConf>({
  name: 'ngx_http_proxy_module',
  type: 'http',
  configureArg: '--with-http_proxy_module',
  variables: PROXY_VARIABLES,
  directives: proxyDirectives((cf, conf) => {
    const idx = cf.index(httpProxyModule);
    return (r) => proxyHandler(r, conf, idx);
  }),
  createLocConf: () => ({}),
  mergeLocConf(cf, p, c) {
    mergeProxyLocConf(cf, p, c);
    (c as { upstreams?: UpstreamMainConf }).upstreams = upstreamMainConf(cf);
  },
});
