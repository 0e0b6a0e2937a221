/**
 * An upstream group (ngx_http_upstream_srv_conf_t) and the balancer contract, after nginx's trio: a balancer
 * is initialised once per group at configuration time (init upstream), gives each request its own peer
 * state (init peer), and is asked for a peer per try and told how the try went (get / free). Balancers know
 * nothing of proxying: they see peers, the shared state table and a request-specific key.
 */
import { crc32 } from 'node:zlib';
import type { HostTable } from '../core/cycle.ts';
import type { ConfDirective } from '../core/tree.ts';
import { makePeer, parseServer, type Peer, type PeerSpec, type PeerStateTable } from './peer.ts';
import { staticPeers } from './static-names.ts';

/** PeerChoice is one request's balancer state (nginx's peer data): which peers it tried, how many tries remain. */
export interface PeerChoice {
  group: UpstreamGroup;
  /** The peer lists this request started with (a replacement does not disturb it). */
  peers: Peer[];
  backup: Peer[];
  /** tried[i] for peers, tried[peers.length + i] for backups. */
  tried: Uint8Array;
  /** Tries left (nginx's pc->tries): peers + backups, then capped by *_next_upstream_tries. */
  tries: number;
  /** Request-derived key for hash balancers and affinity (evaluated once per request). */
  key: string;
  /** The peer of the current try and when it was handed out. */
  current: Peer | undefined;
  started: number;
  /** Set when the balancer found every peer unavailable (nginx's NGX_BUSY → "no live upstreams"). */
  busy: boolean;
  /** Balancer scratch carried between tries (ip_hash's running hash, a ring position). */
  hash: number;
  hashTries: number;
  /** The peer id named by the request's affinity cookie (`sticky cookie`), or ''. */
  stickyId: string;
}

/** Sticky is `sticky cookie NAME [path=] [expires=] [samesite=]` (session affinity by cookie). */
export interface Sticky {
  cookie: string;
  path: string;
  maxAge: number | undefined;
  sameSite: string | undefined;
}

/** peerId is the opaque, stable id of a peer in affinity cookies (a hash of its address). */
export function peerId(p: Peer): string {
  return (crc32(p.name) >>> 0).toString(36);
}

/** Balancer is one balancing method bound to a group (the result of nginx's init upstream). */
export interface Balancer {
  /** get picks a peer for the next try, or undefined when none is usable. */
  get(pc: PeerChoice, now: number): Peer | undefined;
  /** free is told how a try ended; `latency` is the response-header time in ms when it succeeded. */
  free?(pc: PeerChoice, peer: Peer, failed: boolean, latency: number): void;
}

/** BalancerKind names a balancing method and builds it for a group. */
export interface BalancerKind {
  name: string;
  init(group: UpstreamGroup): Balancer;
}

/** UpstreamGroup is an `upstream {}` block (or an implicit one made by `proxy_pass http://addr`). */
export class UpstreamGroup {
  readonly name: string;
  implicit: boolean;
  table: PeerStateTable;
  peers: Peer[] = [];
  backup: Peer[] = [];
  /** Sum of the primary peers' weights; whether the group has exactly one peer (max_fails is then ignored). */
  totalWeight = 0;
  single = false;
  kind: BalancerKind | undefined;
  balancer!: Balancer;
  /** Template text for `hash`, evaluated per request by the module that owns requests. */
  hashKey: string | undefined;
  keepalive = 0;
  keepaliveTimeout = 60_000;
  keepaliveRequests = 1000;
  keepaliveTime = 3_600_000;
  /** Idle connections held by this worker across the group's peers (bounded by `keepalive`). */
  idleCount = 0;
  /** Set once the group's block was read; `proxy_pass` may reference it before (nginx allows forward references). */
  defined = false;
  file: string | undefined;
  line: number | undefined;
  sticky: Sticky | undefined;
  /** Incremented on each peer replacement, so pooled connections to removed peers are dropped. */
  generation = 0;
  /** Extra per-group data owned by balancers and affinity (e.g. the consistent-hash ring). */
  readonly data = new Map<string, unknown>();

  constructor(name: string, table: PeerStateTable, implicit = false) {
    this.name = name;
    this.table = table;
    this.implicit = implicit;
  }

  /** setPeers installs peer specs, keeping the objects (and weights) of peers whose address is unchanged. */
  setPeers(specs: ReturnType<typeof parseServer>[]): void {
    const old = new Map<string, Peer>();
    for (const p of [...this.peers, ...this.backup]) old.set(p.name + (p.backup ? '#b' : ''), p);
    const peers: Peer[] = [];
    const backup: Peer[] = [];
    for (const s of specs) {
      const prev = old.get(s.name + (s.backup ? '#b' : ''));
      let p: Peer;
      if (prev) {
        old.delete(s.name + (s.backup ? '#b' : ''));
        p = prev;
        if (p.weight !== s.weight) p.effectiveWeight = s.weight;
        Object.assign(p, s);
      } else p = makePeer(s, this.table);
      (s.backup ? backup : peers).push(p);
    }
    for (const gone of old.values()) {
      for (const c of gone.idle as { socket: { destroy(): void } }[]) c.socket.destroy();
      this.idleCount -= gone.idle.length;
      gone.idle = [];
    }
    this.peers = peers;
    this.backup = backup;
    this.totalWeight = peers.reduce((s, p) => s + p.weight, 0);
    this.single = peers.length === 1 && backup.length === 0;
    this.generation++;
    if (this.kind) this.balancer = this.kind.init(this);
  }

  /** replacePeers applies `server` directives pushed at run time; throws with nginx's wording when one is bad. */
  replacePeers(directives: ConfDirective[], hosts?: HostTable): void {
    this.setPeers(this.checkPeers(directives, hosts));
  }

  /**
   * checkPeers parses `server` directives for this group without applying them (a host name gives a peer per
   * address of `hosts`, as at configuration time); throws as replacePeers does.
   */
  checkPeers(directives: ConfDirective[], hosts?: HostTable): PeerSpec[] {
    const specs = directives.flatMap((d) => {
      if (d.name !== 'server') throw new Error(`unexpected directive "${d.name}" in upstream peers`);
      const found = staticPeers(parseServer(undefined, d), hosts);
      if (!found) throw new Error(`host not found in upstream "${d.args[0]}"`);
      return found;
    });
    if (specs.length === 0) throw new Error(`no servers are inside upstream "${this.name}"`);
    if (specs.some((s) => s.backup) && this.kind && this.kind.name !== 'round_robin' && this.kind.name !== 'least_conn') {
      throw new Error(`invalid parameter "backup"`);
    }
    return specs;
  }

  /** startChoice begins one request's balancer state (init peer). */
  startChoice(key: string): PeerChoice {
    const peers = this.peers;
    const backup = this.backup;
    return {
      group: this, peers, backup, tried: new Uint8Array(peers.length + backup.length),
      tries: peers.length + backup.length, key, current: undefined, started: 0, busy: false, hash: -1, hashTries: 0, stickyId: '',
    };
  }

  /** usable: not down, not failed within fail_timeout (unless single), not at max_conns (ngx's checks). */
  usable(p: Peer, now: number): boolean {
    if (p.down) return false;
    const t = this.table;
    if (p.maxFails && !this.single && t.fails(p.slot) >= p.maxFails && now - t.checked(p.slot) <= p.failTimeout) return false;
    if (p.maxConns && t.conns(p.slot) >= p.maxConns) return false;
    return true;
  }

  /** get asks the balancer for a peer, marks it tried and counts its connection. */
  get(pc: PeerChoice, now: number): Peer | undefined {
    const p = (pc.stickyId && this.stickyPeer(pc, now)) || this.balancer.get(pc, now);
    if (!p) return undefined;
    const idx = pc.peers.indexOf(p);
    pc.tried[idx >= 0 ? idx : pc.peers.length + pc.backup.indexOf(p)] = 1;
    const t = this.table;
    if (now - t.checked(p.slot) > p.failTimeout) t.setChecked(p.slot, now);
    t.addConns(p.slot, 1);
    pc.current = p;
    pc.started = now;
    return p;
  }

  /** stickyPeer returns the untried, usable peer the affinity cookie names, if any. */
  stickyPeer(pc: PeerChoice, now: number): Peer | undefined {
    for (let i = 0; i < pc.peers.length; i++) {
      const p = pc.peers[i]!;
      if (!pc.tried[i] && peerId(p) === pc.stickyId && this.usable(p, now)) return p;
    }
    return undefined;
  }

  /** untry gives a try back (nginx does for errors on a cached keep-alive connection): the peer may be picked again. */
  untry(pc: PeerChoice, p: Peer): void {
    const i = pc.peers.indexOf(p);
    const j = i >= 0 ? i : pc.peers.length + pc.backup.indexOf(p);
    if (j >= 0 && j < pc.tried.length) pc.tried[j] = 0;
    pc.tries++;
  }

  /**
   * free ends a try (ngx_http_upstream_free_round_robin_peer): failure accounting and the balancer's hook.
   * `failure` is 0 for a try that succeeded, else a reason code (FAIL_REASONS index + 1).
   */
  free(pc: PeerChoice, p: Peer, failure: number, now: number, latency: number): string | undefined {
    const t = this.table;
    const failed = failure !== 0;
    t.addConns(p.slot, -1);
    pc.current = undefined;
    pc.tries--;
    let warn: string | undefined;
    if (failed) {
      const fails = t.addFail(p.slot);
      t.addFailure(p.slot, failure);
      t.setChecked(p.slot, now);
      t.setAccessed(p.slot, now);
      if (p.maxFails) {
        p.effectiveWeight -= Math.floor(p.weight / p.maxFails);
        if (fails >= p.maxFails && !this.single) warn = 'upstream server temporarily disabled';
      }
      if (p.effectiveWeight < 0) p.effectiveWeight = 0;
    } else if (t.fails(p.slot) !== 0 && t.accessed(p.slot) < t.checked(p.slot)) {
      t.setFails(p.slot, 0);
    }
    this.balancer.free?.(pc, p, failed, latency);
    return warn;
  }

  /** allFailed resets the failure counts of every peer (nginx: "mark them as live for quick recovery"). */
  allFailed(): void {
    for (const p of this.peers) this.table.setFails(p.slot, 0);
    for (const p of this.backup) this.table.setFails(p.slot, 0);
  }
}

/** triedIndex is the tried[] index of a peer in a choice (primary or backup). */
export function isTried(pc: PeerChoice, i: number, backup = false): boolean {
  return pc.tried[backup ? pc.peers.length + i : i] === 1;
}
