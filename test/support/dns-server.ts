/**
 * A tiny authoritative DNS server over UDP on loopback for resolver tests: answers A and PTR questions from
 * a table (name → address, address → name) and NXDOMAIN for anything else.
 */
import dgram from 'node:dgram';

/** DnsServer is a running test resolver. */
export interface DnsServer {
  queries: string[];
  stop(): Promise<void>;
}

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

/** startDnsServer answers `names` (host → IPv4) forward and reverse on 127.0.0.1:port. */
export async function startDnsServer(port: number, names: Record<string, string>): Promise<DnsServer> {
  const reverse = new Map(Object.entries(names).map(([host, ip]) => [`${ip.split('.').reverse().join('.')}.in-addr.arpa`, host]));
  const sock = dgram.createSocket('udp4');
  const server: DnsServer = { queries: [], stop: () => new Promise((resolve) => sock.close(() => resolve())) };
  sock.on('message', (msg, rinfo) => {
    const [qname, end] = readName(msg, 12);
    const qtype = msg.readUInt16BE(end);
    server.queries.push(`${qtype === 12 ? 'PTR' : qtype === 1 ? 'A' : qtype} ${qname}`);
    let rdata: Buffer | undefined;
    if (qtype === 1 && names[qname]) rdata = Buffer.from(names[qname]!.split('.').map(Number));
    if (qtype === 12 && reverse.has(qname)) rdata = encodeName(reverse.get(qname)!);
    const header = Buffer.alloc(12);
    header.writeUInt16BE(msg.readUInt16BE(0), 0);
    header.writeUInt16BE(0x8400 | 0x0100 | (rdata ? 0 : 3), 2); // response, authoritative, recursion desired, rcode
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(rdata ? 1 : 0, 6);
    const question = msg.subarray(12, end + 4);
    const parts: Buffer[] = [header, question];
    if (rdata) {
      const rr = Buffer.alloc(12);
      rr.writeUInt16BE(0xc00c, 0);
      rr.writeUInt16BE(qtype, 2);
      rr.writeUInt16BE(1, 4);
      rr.writeUInt32BE(60, 6);
      rr.writeUInt16BE(rdata.length, 10);
      parts.push(rr, rdata);
    }
    sock.send(Buffer.concat(parts), rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve) => sock.bind(port, '127.0.0.1', resolve));
  return server;
}
