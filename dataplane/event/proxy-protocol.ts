/**
 * The PROXY protocol header (HAProxy's v1 text and v2 binary forms) that a load balancer puts in front of a
 * connection, as nginx's ngx_proxy_protocol_read: protocol-agnostic, used by `listen … proxy_protocol`.
 */

/** ProxyHeader is what the header says about the original connection. */
export interface ProxyHeader {
  /** Bytes the header occupies at the start of the stream. */
  size: number;
  srcAddr?: string;
  srcPort?: number;
  dstAddr?: string;
  dstPort?: number;
}

const V2_SIG = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
/** The longest v1 line, "PROXY TCP6 <39> <39> <5> <5>\r\n", is 107 bytes. */
const V1_MAX = 107;
/** nginx caps v2 headers at 4 KiB including TLVs. */
const V2_MAX = 4096;

/**
 * readProxyProtocol parses a header at the start of `buf`: the header, `'again'` when more bytes are needed,
 * or an error text (nginx logs `broken header: "…"`).
 */
export function readProxyProtocol(buf: Buffer): ProxyHeader | 'again' | { error: string } {
  if (buf.length >= 1 && buf[0] === 0x0d) return readV2(buf);
  const need = 'PROXY '.slice(0, Math.min(6, buf.length));
  if (buf.toString('latin1', 0, need.length) !== need) return broken(buf);
  const lf = buf.indexOf(0x0a);
  if (lf < 0) return buf.length >= V1_MAX ? broken(buf) : 'again';
  if (lf === 0 || buf[lf - 1] !== 0x0d || lf + 1 > V1_MAX) return broken(buf);
  const parts = buf.toString('latin1', 6, lf - 1).split(' ');
  const size = lf + 1;
  if (parts[0] === 'UNKNOWN') return { size };
  if ((parts[0] !== 'TCP4' && parts[0] !== 'TCP6') || parts.length !== 5) return broken(buf);
  const [, src, dst, sp, dp] = parts as [string, string, string, string, string];
  const srcPort = port(sp);
  const dstPort = port(dp);
  if (srcPort === undefined || dstPort === undefined || !addrOk(src, parts[0]) || !addrOk(dst, parts[0])) return broken(buf);
  return { size, srcAddr: src, srcPort, dstAddr: dst, dstPort };
}

function readV2(buf: Buffer): ProxyHeader | 'again' | { error: string } {
  const n = Math.min(buf.length, V2_SIG.length);
  if (!buf.subarray(0, n).equals(V2_SIG.subarray(0, n))) return broken(buf);
  if (buf.length < 16) return 'again';
  const verCmd = buf[12]!;
  if (verCmd >> 4 !== 2) return { error: `unknown PROXY protocol version: ${verCmd >> 4}` };
  const len = buf.readUInt16BE(14);
  const size = 16 + len;
  if (size > V2_MAX) return { error: 'PROXY protocol header is too large' };
  if (buf.length < size) return 'again';
  if ((verCmd & 0x0f) === 0) return { size }; // LOCAL: health checks from the balancer itself
  const family = buf[13]! >> 4;
  if (family === 1 && len >= 12) {
    const a = (o: number) => `${buf[o]}.${buf[o + 1]}.${buf[o + 2]}.${buf[o + 3]}`;
    return { size, srcAddr: a(16), dstAddr: a(20), srcPort: buf.readUInt16BE(24), dstPort: buf.readUInt16BE(26) };
  }
  if (family === 2 && len >= 36) {
    const a = (o: number) => Array.from({ length: 8 }, (_, i) => buf.readUInt16BE(o + i * 2).toString(16)).join(':').replace(/(^|:)0(:0)+(:|$)/, '::');
    return { size, srcAddr: a(16), dstAddr: a(32), srcPort: buf.readUInt16BE(48), dstPort: buf.readUInt16BE(50) };
  }
  return { size };
}

function broken(buf: Buffer): { error: string } {
  const shown = buf.toString('latin1', 0, Math.min(buf.length, V1_MAX)).replace(/[\r\n]+$/, '');
  return { error: `broken header: "${shown}"` };
}

function port(s: string): number | undefined {
  if (!/^\d{1,5}$/.test(s)) return undefined;
  const n = Number(s);
  return n <= 65535 ? n : undefined;
}

function addrOk(a: string, fam: string): boolean {
  return fam === 'TCP4' ? /^\d{1,3}(\.\d{1,3}){3}$/.test(a) : /^[0-9a-fA-F:.]+$/.test(a) && a.includes(':');
}
