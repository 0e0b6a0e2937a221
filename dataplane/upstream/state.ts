/**
 * Per-try upstream records (ngx_http_upstream_state_t) and the `$upstream_*` variables that print them in
 * nginx's list format: ", " between tries of one group, " : " between groups (after an internal redirect or
 * X-Accel-Redirect hands the request to another upstream).
 */
import type { HttpRequest } from '../http/request.ts';
import type { VariableDef } from '../http/types.ts';

/** UpstreamState is one try: which peer, what it answered and how long each step took (ms, -1 unknown). */
export interface UpstreamState {
  /** True for the first try of a new group: printed after " : ". */
  groupStart: boolean;
  addr: string;
  status: number;
  connectTime: number;
  headerTime: number;
  responseTime: number;
  bytesReceived: number;
  bytesSent: number;
  start: number;
}

/** statesOf returns the request's try records (kept across internal redirects, as nginx's r->upstream_states). */
export function statesOf(r: HttpRequest): UpstreamState[] {
  return ((r.main as { upstreamStates?: UpstreamState[] }).upstreamStates ??= []);
}

/** addState starts a record for a new try. */
export function addState(r: HttpRequest, addr: string, groupStart: boolean): UpstreamState {
  const s: UpstreamState = { groupStart, addr, status: 0, connectTime: -1, headerTime: -1, responseTime: -1, bytesReceived: 0, bytesSent: 0, start: performance.now() };
  statesOf(r).push(s);
  return s;
}

function list(r: HttpRequest, f: (s: UpstreamState) => string): string | undefined {
  const states = (r.main as { upstreamStates?: UpstreamState[] }).upstreamStates;
  if (!states || states.length === 0) return undefined;
  let out = '';
  for (let i = 0; i < states.length; i++) {
    const s = states[i]!;
    if (i > 0) out += s.groupStart ? ' : ' : ', ';
    out += f(s);
  }
  return out;
}

const secs = (ms: number) => (ms < 0 ? '-' : (ms / 1000).toFixed(3));

/** UPSTREAM_VARIABLES are declared by the upstream module. */
export const UPSTREAM_VARIABLES: VariableDef[] = [
  { name: 'upstream_addr', nocache: true, get: (r) => list(r, (s) => s.addr) },
  { name: 'upstream_status', nocache: true, get: (r) => list(r, (s) => (s.status ? String(s.status) : '-')) },
  { name: 'upstream_response_time', nocache: true, get: (r) => list(r, (s) => secs(s.responseTime)) },
  { name: 'upstream_connect_time', nocache: true, get: (r) => list(r, (s) => secs(s.connectTime)) },
  { name: 'upstream_header_time', nocache: true, get: (r) => list(r, (s) => secs(s.headerTime)) },
  { name: 'upstream_bytes_received', nocache: true, get: (r) => list(r, (s) => String(s.bytesReceived)) },
  { name: 'upstream_bytes_sent', nocache: true, get: (r) => list(r, (s) => String(s.bytesSent)) },
];
