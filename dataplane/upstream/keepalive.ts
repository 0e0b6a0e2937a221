/**
 * The per-worker keep-alive cache of upstream connections (ngx_http_upstream_keepalive_module): after a
 * response that leaves the connection reusable, it parks on its peer's idle list; at most `keepalive`
 * connections per group stay idle (the least recently used goes first). Idle connections that the upstream
 * closes, that receive unexpected bytes, or that outlive keepalive_timeout are dropped.
 */
import type net from 'node:net';
import { countRead } from '../event/read-gc.ts';
import type { UpstreamGroup } from './group.ts';
import type { Peer } from './peer.ts';

/** UpstreamConnection is one connection to a peer, owned by one request at a time or idle in the cache. */
export interface UpstreamConnection {
  socket: net.Socket;
  peer: Peer;
  group: UpstreamGroup;
  generation: number;
  requests: number;
  created: number;
  idleSince: number;
  /** The request currently using it; undefined while idle. */
  owner: { onData(c: Buffer): void; onEnd(): void; onClose(): void; onError(e: Error): void } | undefined;
}

/** connectionFor wires a fresh socket so its events reach whichever request owns it. */
export function newConnection(socket: net.Socket, peer: Peer, group: UpstreamGroup): UpstreamConnection {
  const c: UpstreamConnection = { socket, peer, group, generation: group.generation, requests: 0, created: Date.now(), idleSince: 0, owner: undefined };
  socket.on('data', (d: Buffer) => {
    countRead(d.length);
    if (c.owner) c.owner.onData(d);
    else drop(c);
  });
  socket.on('end', () => (c.owner ? c.owner.onEnd() : drop(c)));
  socket.on('close', () => (c.owner ? c.owner.onClose() : drop(c)));
  socket.on('error', (e: Error) => c.owner?.onError(e));
  return c;
}

/** takeIdle returns a usable idle connection to `peer`, discarding stale ones. */
export function takeIdle(g: UpstreamGroup, peer: Peer, now: number): UpstreamConnection | undefined {
  const idle = peer.idle as UpstreamConnection[];
  while (idle.length > 0) {
    const c = idle.pop()!;
    g.idleCount--;
    if (c.socket.destroyed || c.generation !== g.generation && !g.peers.includes(peer) || now - c.idleSince > g.keepaliveTimeout) {
      c.socket.destroy();
      continue;
    }
    c.socket.ref();
    return c;
  }
  return undefined;
}

/** release parks a connection after a complete response, or closes it when the cache has no room for it. */
export function release(c: UpstreamConnection, now: number): void {
  const g = c.group;
  c.owner = undefined;
  if (g.keepalive === 0 || c.requests >= g.keepaliveRequests || now - c.created > g.keepaliveTime || c.socket.destroyed || (!g.peers.includes(c.peer) && !g.backup.includes(c.peer))) {
    c.socket.destroy();
    return;
  }
  if (g.idleCount >= g.keepalive) evictOldest(g);
  c.idleSince = now;
  c.socket.unref();
  (c.peer.idle as UpstreamConnection[]).push(c);
  g.idleCount++;
  sweepLater(g);
}

function evictOldest(g: UpstreamGroup): void {
  let oldest: UpstreamConnection | undefined;
  for (const p of [...g.peers, ...g.backup]) {
    const c = (p.idle as UpstreamConnection[])[0];
    if (c && (!oldest || c.idleSince < oldest.idleSince)) oldest = c;
  }
  if (oldest) drop(oldest);
}

function drop(c: UpstreamConnection): void {
  const idle = c.peer.idle as UpstreamConnection[];
  const i = idle.indexOf(c);
  if (i >= 0) {
    idle.splice(i, 1);
    c.group.idleCount--;
  }
  c.socket.destroy();
}

const sweeping = new WeakSet<UpstreamGroup>();

/** sweepLater closes idle connections past keepalive_timeout (one unref'd timer per group while any is idle). */
function sweepLater(g: UpstreamGroup): void {
  if (sweeping.has(g)) return;
  sweeping.add(g);
  const t = setTimeout(() => {
    sweeping.delete(g);
    const now = Date.now();
    for (const p of [...g.peers, ...g.backup]) {
      for (const c of [...(p.idle as UpstreamConnection[])]) if (now - c.idleSince >= g.keepaliveTimeout) drop(c);
    }
    if (g.idleCount > 0) sweepLater(g);
  }, Math.min(g.keepaliveTimeout, 1000));
  t.unref();
}
