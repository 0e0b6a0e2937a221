/**
 * The upstream group of a `proxy_pass` / `grpc_pass` URL that has variables, found per request in
 * ngx_http_upstream_init_request's order: an `upstream {}` of that name, a literal address, else a name looked
 * up with the location's `resolver`. Every resolver failure answers 502, as nginx does (a timeout included).
 */
import net from 'node:net';
import { resolverOf } from '../event/resolver.ts';
import type { UpstreamGroup } from '../upstream/group.ts';
import { parseAddress } from '../upstream/peer.ts';
import { resolvedGroup, runtimeGroup, type UpstreamMainConf } from '../upstream/upstream-module.ts';
import { logRequest } from './request-log.ts';
import type { HttpRequest } from './request.ts';
import { DONE } from './types.ts';

/**
 * findUpstream calls `start` with the group `hostPart` ("host[:port]", "unix:…") names and returns its result
 * when that is known at once; when a lookup is needed it returns DONE and finalizes the request with what
 * `start` returns later (unless DONE). A bad host answers 500, a missing resolver or a failed lookup 502.
 */
export function findUpstream(r: HttpRequest, umcf: UpstreamMainConf, hostPart: string, defaultPort: number, start: (group: UpstreamGroup) => number): number {
  const name = hostName(hostPart);
  const group = umcf.groups.get(hostPart) ?? (name === undefined ? runtimeGroup(umcf, hostPart, defaultPort) : undefined);
  if (group) return start(group);
  if (name === undefined || !parseAddress(hostPart)) {
    logRequest(r, 'error', `invalid host in upstream "${hostPart}"`);
    return 500;
  }
  if (!r.loc.resolver) {
    logRequest(r, 'error', `no resolver defined to resolve ${name}`);
    return 502;
  }
  const resolver = resolverOf(r.loc.resolver);
  const port = Number(/:(\d+)$/.exec(hostPart)?.[1] ?? defaultPort);
  const hit = resolver.cached(name);
  if (hit) return start(resolvedGroup(umcf, hostPart, port, hit.addrs));
  let gone = false;
  r.conn.onClientClose = () => {
    gone = true;
    r.http.terminate(r, 499);
  };
  resolver.resolve(name, r.loc.resolverTimeout!, (err, answer) => {
    if (gone) return;
    r.conn.onClientClose = undefined;
    if (err) {
      logRequest(r, 'error', `${name} could not be resolved (${err.code}: ${err.text})`);
      r.finalize(502);
      return;
    }
    const rc = start(resolvedGroup(umcf, hostPart, port, answer!.addrs));
    if (rc !== DONE) r.finalize(rc);
  });
  return DONE;
}

/** hostName returns the host of `host[:port]` when it is a name to resolve; undefined for addresses and unix:. */
function hostName(hostPart: string): string | undefined {
  if (hostPart.startsWith('unix:') || hostPart.startsWith('[')) return undefined;
  const host = hostPart.replace(/:\d*$/, '');
  return net.isIP(host) ? undefined : host;
}
