/**
 * Host names in `server name:port` lines and in a fixed `proxy_pass http://name` / `grpc_pass grpc://name`
 * are looked up once per configuration with the system resolver (getaddrinfo, so /etc/hosts counts), as nginx
 * does, and every address becomes a peer of its own. Node has no synchronous lookup and the configuration pass
 * is synchronous, so the process layer collects the names from the tree first, looks them all up here and
 * hands the answers (a HostTable) to the pass; the master's table also goes to its workers, so every worker
 * builds the same peers. `server name resolve` is left to resolve.ts.
 */
import dns from 'node:dns';
import net from 'node:net';
import type { HostTable } from '../core/cycle.ts';
import type { ConfDirective, ConfTree } from '../core/tree.ts';
import { parseAddress, type PeerSpec } from './peer.ts';

export type { HostTable };

/** Directives whose fixed URL names an upstream or a host (the ones that call referenceUpstream). */
const PASS = new Set(['proxy_pass', 'grpc_pass']);

/** collectHosts returns the host names a configuration pass over `tree` will ask its HostTable for. */
export function collectHosts(tree: ConfTree): string[] {
  const names = new Set<string>();
  for (const http of tree) {
    if (http.name !== 'http' || !http.block) continue;
    const upstreams = new Set(http.block.filter((d) => d.name === 'upstream').map((d) => d.args[0]));
    walk(http.block, (d) => {
      if (d.name === 'upstream' && d.block) {
        for (const s of d.block) if (s.name === 'server' && !s.args.includes('resolve')) add(names, s.args[0]);
      } else if (PASS.has(d.name) && d.args.length === 1 && !d.args[0]!.includes('$')) {
        const hostPart = passHost(d.args[0]!);
        if (!upstreams.has(hostPart)) add(names, hostPart);
      }
    });
  }
  return [...names];
}

/** serverHosts returns the host names in `server` lines pushed at run time (Master.applyPeers). */
export function serverHosts(peers: Record<string, ConfDirective[]>): string[] {
  const names = new Set<string>();
  for (const lines of Object.values(peers)) for (const s of lines) if (!s.args.includes('resolve')) add(names, s.args[0]);
  return [...names];
}

function walk(block: ConfTree, visit: (d: ConfDirective) => void): void {
  for (const d of block) {
    visit(d);
    if (d.block && d.name !== 'upstream') walk(d.block, visit);
  }
}

/** passHost is the `host[:port]` part of a proxy_pass / grpc_pass URL (scheme and URI removed). */
function passHost(url: string): string {
  const rest = url.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '');
  if (rest.startsWith('unix:')) return rest;
  const slash = rest.indexOf('/');
  return slash < 0 ? rest : rest.slice(0, slash);
}

function add(names: Set<string>, addr: string | undefined): void {
  const a = addr === undefined ? undefined : parseAddress(addr);
  if (a && !a.socketPath && !net.isIP(a.host)) names.add(a.host);
}

/** lookupHosts asks the system resolver for every name at once (all addresses, both families). */
export async function lookupHosts(names: string[]): Promise<HostTable> {
  const table: HostTable = {};
  await Promise.all(names.map(async (name) => {
    try {
      const answers = await dns.promises.lookup(name, { all: true, order: 'verbatim' });
      table[name] = [...new Set(answers.map((a) => a.address))];
    } catch {
      table[name] = [];
    }
  }));
  return table;
}

/**
 * staticPeers turns a parsed `server` spec into one spec per address of its host name, each with the line's
 * parameters; undefined when the name was not found. Addresses, unix sockets and `resolve` servers stay as
 * they are, and so does every spec when there is no table (a pass built in-process without the lookup step:
 * the name is then looked up when connecting).
 */
export function staticPeers(spec: PeerSpec, hosts: HostTable | undefined): PeerSpec[] | undefined {
  if (!hosts || spec.resolve || spec.socketPath || net.isIP(spec.host)) return [spec];
  const addrs = Object.hasOwn(hosts, spec.host) ? hosts[spec.host] : undefined;
  if (!addrs?.length) return undefined;
  return addrs.map((ip) => ({ ...spec, host: ip, name: ip.includes(':') ? `[${ip}]:${spec.port}` : `${ip}:${spec.port}` }));
}
