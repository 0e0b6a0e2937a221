/**
 * A tiny authoritative DNS server over UDP on loopback for resolver tests: answers A, AAAA and PTR questions
 * from a table that tests may change while it runs (`set`), with per-name TTLs, and NXDOMAIN for anything else.
 * A name can also answer SERVFAIL or not answer at all (`silent`), to test resolver errors and timeouts.
 */
import dgram from 'node:dgram';
import net from 'node:net';

/** DnsRecord is what one name answers: addresses with a TTL (seconds, default 60), or a failure mode. */
export interface DnsRecord {
  a?: string[];
  aaaa?: string[];
  ttl?: number;
  mode?: 'servfail' | 'silent';
}

/** DnsServer is a running test resolver; `queries` lists "A name", "AAAA name", "PTR name" in arrival order. */
export interface DnsServer {
  queries: string[];
  /** set replaces what `name` answers (undefined: NXDOMAIN). */
  set(name: string, record: DnsRecord | string | undefined): void;
  stop(): Promise<void>;
}

const A = 1;
const PTR = 12;
const AAAA = 28;
const TYPE_NAMES: Record<number, string> = { [A]: 'A', [PTR]: 'PTR', [AAAA]: 'AAAA' };

function encodeName(name: string): Buffer {
  const parts = name.replace(/\.$/, '').split('.');
  return Buffer.concat([...parts.map((p) => Buffer.concat([Buffer.from([p.length]), Buffer.from(p)])), Buffer.from([0])]);
}

function readName(msg: Buffer, off: number): [string, number] {
  const labels: string[] = [];
  while (msg[off]! !== 0) {
    const len = msg[off]!;
    labels.push(msg.toString('latin1', off + 1, off + 1 + len));
    off += 1 + len;
  }
  return [labels.join('.'), off + 1];
}

/** ipv6Bytes packs an IPv6 address text into its 16 bytes. */
function ipv6Bytes(addr: string): Buffer {
  const [head = '', tail = ''] = addr.split('::');
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = addr.includes('::') ? [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t] : h;
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

function toRecord(v: DnsRecord | string): DnsRecord {
  return typeof v === 'string' ? (net.isIPv6(v) ? { aaaa: [v] } : { a: [v] }) : v;
}

/**
 * startDnsServer answers `names` on 127.0.0.1:port. A plain string is one address (A or AAAA by its form); IPv4
 * names also answer their reverse (PTR) question.
 */
export async function startDnsServer(port: number, names: Record<string, DnsRecord | string>): Promise<DnsServer> {
  const table = new Map<string, DnsRecord>(Object.entries(names).map(([k, v]) => [k, toRecord(v)]));
  const reverse = (qname: string): string | undefined => {
    for (const [host, rec] of table) {
      for (const ip of rec.a ?? []) if (`${ip.split('.').reverse().join('.')}.in-addr.arpa` === qname) return host;
    }
    return undefined;
  };
  const sock = dgram.createSocket('udp4');
  const server: DnsServer = {
    queries: [],
    set(name, record) {
      if (record === undefined) table.delete(name);
      else table.set(name, toRecord(record));
    },
    stop: () => new Promise((resolve) => sock.close(() => resolve())),
  };
  sock.on('message', (msg, rinfo) => {
    const [qname, end] = readName(msg, 12);
    const qtype = msg.readUInt16BE(end);
    server.queries.push(`${TYPE_NAMES[qtype] ?? qtype} ${qname}`);
    const rec = table.get(qname.toLowerCase());
    if (rec?.mode === 'silent') return;
    const rdatas: Buffer[] = [];
    if (qtype === A) for (const ip of rec?.a ?? []) rdatas.push(Buffer.from(ip.split('.').map(Number)));
    if (qtype === AAAA) for (const ip of rec?.aaaa ?? []) rdatas.push(ipv6Bytes(ip));
    const ptr = qtype === PTR ? reverse(qname) : undefined;
    if (ptr) rdatas.push(encodeName(ptr));
    // A known name without records of the asked type is NODATA (rcode 0, no answers), not NXDOMAIN.
    const rcode = rec?.mode === 'servfail' ? 2 : rdatas.length || rec ? 0 : 3;
    const header = Buffer.alloc(12);
    header.writeUInt16BE(msg.readUInt16BE(0), 0);
    header.writeUInt16BE(0x8400 | 0x0100 | rcode, 2); // response, authoritative, recursion desired, rcode
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(rcode ? 0 : rdatas.length, 6);
    const parts: Buffer[] = [header, msg.subarray(12, end + 4)];
    if (!rcode) {
      for (const rdata of rdatas) {
        const rr = Buffer.alloc(12);
        rr.writeUInt16BE(0xc00c, 0);
        rr.writeUInt16BE(qtype, 2);
        rr.writeUInt16BE(1, 4);
        rr.writeUInt32BE(rec?.ttl ?? 60, 6);
        rr.writeUInt16BE(rdata.length, 10);
        parts.push(rr, rdata);
      }
    }
    sock.send(Buffer.concat(parts), rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve) => sock.bind(port, '127.0.0.1', resolve));
  return server;
}
