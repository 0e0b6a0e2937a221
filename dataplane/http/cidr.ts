/**
 * IP addresses and CIDR masks for allow/deny, set_real_ip_from and geo-like matching (nginx's ngx_cidr_t):
 * IPv4 as one 32-bit word, IPv6 as four, so a match is a few masked compares. `unix:` and `all` are rules of
 * their own kind.
 */

/** Cidr is one network: family 4 or 6 with address and mask words, or 0 for `unix:`, -1 for `all`. */
export interface Cidr {
  family: 4 | 6 | 0 | -1;
  addr: Uint32Array;
  mask: Uint32Array;
}

/** ParsedAddr is an address as words: 1 for IPv4, 4 for IPv6. */
export type ParsedAddr = Uint32Array;

const V4_RE = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/** parseV4 reads dotted-quad IPv4 into a 32-bit word, or undefined. */
export function parseV4(s: string): number | undefined {
  const m = V4_RE.exec(s);
  if (!m) return undefined;
  let n = 0;
  for (let i = 1; i <= 4; i++) {
    const b = Number(m[i]);
    if (b > 255) return undefined;
    n = n * 256 + b;
  }
  return n >>> 0;
}

/** parseV6 reads an IPv6 address (with `::` and an optional dotted IPv4 tail) into four words. */
export function parseV6(s: string): Uint32Array | undefined {
  if (s.startsWith('[') && s.endsWith(']')) s = s.slice(1, -1);
  const pct = s.indexOf('%');
  if (pct >= 0) s = s.slice(0, pct);
  const halves = s.split('::');
  if (halves.length > 2) return undefined;
  const groups = (part: string): number[] | undefined => {
    if (part === '') return [];
    const out: number[] = [];
    const items = part.split(':');
    for (let i = 0; i < items.length; i++) {
      const it = items[i]!;
      if (i === items.length - 1 && it.includes('.')) {
        const v4 = parseV4(it);
        if (v4 === undefined) return undefined;
        out.push(v4 >>> 16, v4 & 0xffff);
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(it)) return undefined;
        out.push(parseInt(it, 16));
      }
    }
    return out;
  };
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  if (!head || !tail) return undefined;
  const fill = 8 - head.length - tail.length;
  if (halves.length === 2 ? fill < 1 : fill !== 0) return undefined;
  const g = [...head, ...new Array<number>(fill).fill(0), ...tail];
  const w = new Uint32Array(4);
  for (let i = 0; i < 4; i++) w[i] = ((g[2 * i]! << 16) | g[2 * i + 1]!) >>> 0;
  return w;
}

/** parseAddr reads an IPv4 or IPv6 address; IPv4-mapped IPv6 becomes IPv4, as nginx matches it. */
export function parseAddr(s: string): ParsedAddr | undefined {
  const v4 = parseV4(s);
  if (v4 !== undefined) return Uint32Array.of(v4);
  const v6 = parseV6(s);
  if (v6 && v6[0] === 0 && v6[1] === 0 && v6[2] === 0xffff) return Uint32Array.of(v6[3]!);
  return v6;
}

function maskWords(bits: number, words: number): Uint32Array {
  const m = new Uint32Array(words);
  for (let i = 0; i < words; i++) {
    const b = Math.max(0, Math.min(32, bits - 32 * i));
    m[i] = b === 0 ? 0 : (0xffffffff << (32 - b)) >>> 0;
  }
  return m;
}

/**
 * parseCidr reads `addr`, `addr/len`, `unix:` or `all`. Returns undefined when malformed; `lowBits` is set
 * when the address had bits below the mask (nginx warns "low address bits … are meaningless").
 */
export function parseCidr(s: string): (Cidr & { lowBits: boolean }) | undefined {
  if (s === 'all') return { family: -1, addr: new Uint32Array(0), mask: new Uint32Array(0), lowBits: false };
  if (s === 'unix:') return { family: 0, addr: new Uint32Array(0), mask: new Uint32Array(0), lowBits: false };
  const slash = s.indexOf('/');
  const host = slash < 0 ? s : s.slice(0, slash);
  const v4 = parseV4(host);
  const addr = v4 !== undefined ? Uint32Array.of(v4) : parseV6(host);
  if (!addr) return undefined;
  const max = addr.length * 32;
  let bits = max;
  if (slash >= 0) {
    const l = s.slice(slash + 1);
    if (!/^\d+$/.test(l) || Number(l) > max) return undefined;
    bits = Number(l);
  }
  const mask = maskWords(bits, addr.length);
  let lowBits = false;
  for (let i = 0; i < addr.length; i++) {
    const masked = (addr[i]! & mask[i]!) >>> 0;
    if (masked !== addr[i]) lowBits = true;
    addr[i] = masked;
  }
  return { family: addr.length === 1 ? 4 : 6, addr, mask, lowBits };
}

/** cidrMatch tests a parsed address (undefined for a unix socket peer) against a network. */
export function cidrMatch(c: Cidr, a: ParsedAddr | undefined): boolean {
  if (c.family === -1) return true;
  if (a === undefined) return c.family === 0;
  if (c.family === 0 || c.addr.length !== a.length) return false;
  for (let i = 0; i < a.length; i++) if (((a[i]! & c.mask[i]!) >>> 0) !== c.addr[i]) return false;
  return true;
}

/** isUnixPeer: Node reports no remote address for a unix-socket client. */
export function isUnixPeer(addr: string): boolean {
  return addr === '' || addr.startsWith('unix:');
}

/**
 * binaryAddr is nginx's $binary_remote_addr: 4 or 16 address bytes (as a latin1 string), or the text itself.
 * An IPv4-mapped IPv6 address counts as the IPv4 client it is (connections strip the mapping too).
 */
export function binaryAddr(s: string): string {
  const a = parseAddr(s);
  if (!a) return s;
  let out = '';
  for (const w of a) out += String.fromCharCode(w >>> 24, (w >>> 16) & 255, (w >>> 8) & 255, w & 255);
  return out;
}
