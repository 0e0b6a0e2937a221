/**
 * The PROXY protocol header (HAProxy's v1 text and v2 binary forms) that a load balancer puts in front of a
 * connection, as nginx's ngx_proxy_protocol_read. Protocol-neutral: HTTP and mail `listen … proxy_protocol`
 * both read it here. Where nginx 1.22 is lenient and the spec is not (v2 commands other than LOCAL/PROXY, an
 * address block shorter than its family needs, "TCP4" naming an IPv6 address) the header is refused.
 */
import { isIPv4, isIPv6 } from 'node:net';

/** ProxyAddrs is the original client (src) and server (dst) a header names. */
export interface ProxyAddrs {
  srcAddr: string;
  srcPort: number;
  dstAddr: string;
  dstPort: number;
}

/** ProxyHeader is a parsed header: its size on the wire, and addresses unless it was LOCAL / UNKNOWN / not TCP. */
export interface ProxyHeader {
  size: number;
  addrs?: ProxyAddrs | undefined;
}

/** ProxyResult is a header, `'again'` when more bytes are needed, or the error nginx would log. */
export type ProxyResult = ProxyHeader | 'again' | { error: string };

const V2_SIG = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
/** The longest v1 line, "PROXY TCP6 <39> <39> <5> <5>\r\n", is 107 bytes. */
const V1_MAX = 107;
/** nginx's NGX_PROXY_PROTOCOL_MAX_HEADER: a v2 header with its TLVs may take 4 KiB. */
const V2_MAX = 4096;

/** readProxyProtocol parses a header at the start of `buf`. */
export function readProxyProtocol(buf: Buffer): ProxyResult {
  if (buf.length >= 1 && buf[0] === 0x0d) return readV2(buf);
  const need = Math.min(6, buf.length);
  if (buf.toString('latin1', 0, need) !== 'PROXY '.slice(0, need)) return broken(buf);
  const lf = buf.indexOf(0x0a);
  if (lf < 0) return buf.length >= V1_MAX ? broken(buf) : 'again';
  if (lf + 1 > V1_MAX || buf[lf - 1] !== 0x0d) return broken(buf);
  const parts = buf.toString('latin1', 6, lf - 1).split(' ');
  const size = lf + 1;
  // Whatever follows UNKNOWN is to be ignored (spec 2.1); the connection's own addresses stay.
  if (parts[0] === 'UNKNOWN') return { size };
  const fam = parts[0];
  if ((fam !== 'TCP4' && fam !== 'TCP6') || parts.length !== 5) return broken(buf);
  const [, src, dst, sp, dp] = parts as [string, string, string, string, string];
  const srcPort = port(sp);
  const dstPort = port(dp);
  if (srcPort < 0 || dstPort < 0 || !addrOk(src, fam) || !addrOk(dst, fam)) return broken(buf);
  return { size, addrs: { srcAddr: src, srcPort, dstAddr: dst, dstPort } };
}

function readV2(buf: Buffer): ProxyResult {
  const n = Math.min(buf.length, V2_SIG.length);
  if (!buf.subarray(0, n).equals(V2_SIG.subarray(0, n))) return broken(buf);
  if (buf.length < 16) return 'again';
  const verCmd = buf[12]!;
  if (verCmd >> 4 !== 2) return { error: `unknown PROXY protocol version: ${verCmd >> 4}` };
  const size = 16 + buf.readUInt16BE(14);
  if (size > V2_MAX) return { error: 'header is too large' };
  if (buf.length < size) return 'again';
  const cmd = verCmd & 0x0f;
  if (cmd === 0) return { size }; // LOCAL: the balancer's own health check
  if (cmd !== 1) return broken(buf); // spec 2.2: receivers must drop unknown commands
  // Only STREAM carries addresses we use; DGRAM / UNSPEC are skipped as nginx does.
  if ((buf[13]! & 0x0f) !== 1) return { size };
  const family = buf[13]! >> 4;
  const body = buf.subarray(16, size);
  if (family === 1) {
    if (body.length < 12) return broken(buf);
    const a = (o: number) => `${body[o]}.${body[o + 1]}.${body[o + 2]}.${body[o + 3]}`;
    return { size, addrs: { srcAddr: a(0), dstAddr: a(4), srcPort: body.readUInt16BE(8), dstPort: body.readUInt16BE(10) } };
  }
  if (family === 2) {
    if (body.length < 36) return broken(buf);
    return { size, addrs: { srcAddr: ip6(body, 0), dstAddr: ip6(body, 16), srcPort: body.readUInt16BE(32), dstPort: body.readUInt16BE(34) } };
  }
  return { size }; // AF_UNSPEC, AF_UNIX: nothing to take
}

/** broken is nginx's `broken header: "…"`, showing the line up to its first CR/LF (never the request after it). */
function broken(buf: Buffer): { error: string } {
  let end = 0;
  while (end < buf.length && end < V1_MAX && buf[end] !== 0x0d && buf[end] !== 0x0a) end++;
  return { error: `broken header: "${buf.toString('latin1', 0, end)}"` };
}

function port(s: string): number {
  if (!/^\d{1,5}$/.test(s)) return -1;
  const n = Number(s);
  return n <= 65535 ? n : -1;
}

/** addrOk wants the family the line names, written as inet_pton reads it (no zone, no brackets). */
function addrOk(a: string, fam: string): boolean {
  return fam === 'TCP4' ? isIPv4(a) : isIPv6(a) && !a.includes('%');
}

/** ip6 writes 16 bytes as nginx's ngx_inet6_ntop does: the longest run of 2+ zero groups as `::`, v4-mapped dotted. */
function ip6(b: Buffer, o: number): string {
  const g: number[] = [];
  for (let i = 0; i < 8; i++) g.push(b.readUInt16BE(o + 2 * i));
  if (g.slice(0, 5).every((x) => x === 0) && g[5] === 0xffff) return `::ffff:${b[o + 12]}.${b[o + 13]}.${b[o + 14]}.${b[o + 15]}`;
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j;
  }
  const hex = g.map((x) => x.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}
