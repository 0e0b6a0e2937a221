/**
 * The PROXY protocol header (HAProxy's spec, versions 1 and 2) that a load balancer sends before the first
 * request on a `listen … proxy_protocol` address: it names the original client and server. The reader is
 * handed the bytes received so far and reports a header, "need more", or a broken header (then the connection
 * is closed, as nginx does).
 */
import type { ConnectionHandler } from '../core/cycle.ts';
import { parseV4, parseV6 } from './cidr.ts';
import { stripV4Mapped } from './connection.ts';
import { addrConfOf } from './listen-ctx.ts';
import type { ProxyProtocolInfo } from './request.ts';

/** ProxyHeader is a parsed header and the bytes it took; `info` is undefined for LOCAL / UNKNOWN. */
export interface ProxyHeader {
  info: ProxyProtocolInfo | undefined;
  length: number;
}

const V2_SIG = Buffer.from('0d0a0d0a000d0a515549540a', 'hex');
const V1_MAX = 107;

/** readProxyHeader parses a header at the start of `buf`: the header, undefined (need more), or an error text. */
export function readProxyHeader(buf: Buffer): ProxyHeader | string | undefined {
  if (buf[0] === 0x0d) {
    const n = Math.min(buf.length, 12);
    if (!buf.subarray(0, n).equals(V2_SIG.subarray(0, n))) return 'broken header';
    if (buf.length < 16) return undefined;
    return readV2(buf);
  }
  const n = Math.min(buf.length, 6);
  if (buf.toString('latin1', 0, n) !== 'PROXY '.slice(0, n)) return 'broken header';
  const nl = buf.indexOf('\r\n');
  if (nl < 0) return buf.length >= V1_MAX ? 'too long header' : undefined;
  if (nl + 2 > V1_MAX) return 'too long header';
  return readV1(buf.toString('latin1', 6, nl), nl + 2);
}

function readV1(line: string, length: number): ProxyHeader | string {
  const f = line.split(' ');
  if (f[0] === 'UNKNOWN') return { info: undefined, length };
  if ((f[0] !== 'TCP4' && f[0] !== 'TCP6') || f.length !== 5) return 'broken header';
  const [, src, dst, sp, dp] = f as [string, string, string, string, string];
  const srcPort = port(sp);
  const dstPort = port(dp);
  if (srcPort < 0 || dstPort < 0 || !validAddr(src, f[0]) || !validAddr(dst, f[0])) return 'broken header';
  return { info: { srcAddr: src, srcPort, dstAddr: dst, dstPort }, length };
}

function port(s: string): number {
  if (!/^\d{1,5}$/.test(s)) return -1;
  const n = Number(s);
  return n <= 65535 ? n : -1;
}

function validAddr(a: string, proto: string): boolean {
  return proto === 'TCP4' ? parseV4(a) !== undefined : parseV6(a) !== undefined;
}

function readV2(buf: Buffer): ProxyHeader | string | undefined {
  const verCmd = buf[12]!;
  if (verCmd >> 4 !== 2) return 'unknown PROXY protocol version';
  const len = buf.readUInt16BE(14);
  const length = 16 + len;
  if (buf.length < length) return undefined;
  const cmd = verCmd & 0x0f;
  if (cmd === 0) return { info: undefined, length };
  if (cmd !== 1) return 'broken header';
  const fam = buf[13]! >> 4;
  const body = buf.subarray(16, length);
  if (fam === 1 && body.length >= 12) {
    const ip = (o: number) => `${body[o]}.${body[o + 1]}.${body[o + 2]}.${body[o + 3]}`;
    return { info: { srcAddr: ip(0), dstAddr: ip(4), srcPort: body.readUInt16BE(8), dstPort: body.readUInt16BE(10) }, length };
  }
  if (fam === 2 && body.length >= 36) {
    return { info: { srcAddr: ip6(body, 0), dstAddr: ip6(body, 16), srcPort: body.readUInt16BE(32), dstPort: body.readUInt16BE(34) }, length };
  }
  // AF_UNSPEC, AF_UNIX: addresses we do not use.
  return { info: undefined, length };
}

/** ip6 formats 16 bytes as a compressed IPv6 address (longest zero run as `::`). */
function ip6(b: Buffer, o: number): string {
  const g: number[] = [];
  for (let i = 0; i < 8; i++) g.push(b.readUInt16BE(o + 2 * i));
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

/** PROXY_INFO is where a socket carries what its PROXY header said (the raw socket, and a TLS socket over it). */
export const PROXY_INFO = Symbol('portico.proxyProtocol');

type WithProxyInfo = { [PROXY_INFO]?: ProxyProtocolInfo };

/** proxyInfoOf returns the PROXY header information attached to a socket, if any. */
export function proxyInfoOf(socket: object): ProxyProtocolInfo | undefined {
  return (socket as WithProxyInfo)[PROXY_INFO];
}

/** copyProxyInfo carries the information from a raw socket to a socket layered on it (TLS). */
export function copyProxyInfo(from: object, to: object): void {
  const info = proxyInfoOf(from);
  if (info) (to as WithProxyInfo)[PROXY_INFO] = info;
}

/**
 * proxyProtocolHandler wraps a listening address's connection handler: the PROXY header is read off the raw
 * socket first (whatever comes next: TLS, HTTP/2 or HTTP/1), within client_header_timeout, then the socket,
 * with the bytes after the header put back, goes to `inner`. A broken header closes the connection, as nginx.
 */
export function proxyProtocolHandler(inner: ConnectionHandler): ConnectionHandler {
  return (socket, slot) => {
    const addr = addrConfOf(slot, stripV4Mapped(socket.localAddress ?? ''));
    const timer = setTimeout(() => socket.destroy(), addr.defaultSrv.clientHeaderTimeout!);
    const onError = (): void => {};
    let buf: Buffer | undefined;
    const onData = (chunk: Buffer): void => {
      buf = buf === undefined ? chunk : Buffer.concat([buf, chunk]);
      const res = readProxyHeader(buf);
      if (res === undefined) return;
      socket.off('data', onData);
      clearTimeout(timer);
      if (typeof res === 'string') {
        addr.runtime.cycle.log?.log('error', `${res} while reading PROXY protocol, client: ${stripV4Mapped(socket.remoteAddress ?? '')}`);
        socket.destroy();
        return;
      }
      socket.pause();
      socket.off('error', onError);
      if (res.info) (socket as WithProxyInfo)[PROXY_INFO] = res.info;
      if (res.length < buf.length) socket.unshift(buf.subarray(res.length));
      inner(socket, slot);
      socket.resume();
    };
    socket.on('error', onError);
    socket.once('close', () => clearTimeout(timer));
    socket.on('data', onData);
  };
}
