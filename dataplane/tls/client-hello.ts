/**
 * Reads the server name (SNI) from a TLS ClientHello before the handshake starts, so the server's context
 * (certificates, client verification) is chosen up front, as OpenSSL's servername callback would. Node's
 * SNICallback keeps only one certificate per context, which would lose an RSA + ECDSA pair.
 */

/**
 * clientHelloServerName returns the host_name from the ClientHello at the start of `buf`, '' when the hello
 * has no server_name, or undefined when `buf` does not hold a complete, well-formed ClientHello record.
 */
export function clientHelloServerName(buf: Buffer): string | undefined {
  if (buf.length < 5 || buf[0] !== 0x16) return undefined;
  const recEnd = 5 + buf.readUInt16BE(3);
  if (buf.length < recEnd || buf[5] !== 0x01) return undefined;
  let p = 5 + 4 + 2 + 32; // handshake header, client_version, random
  if (p + 1 > recEnd) return undefined;
  p += 1 + buf[p]!; // session_id
  if (p + 2 > recEnd) return undefined;
  p += 2 + buf.readUInt16BE(p); // cipher_suites
  if (p + 1 > recEnd) return undefined;
  p += 1 + buf[p]!; // compression_methods
  if (p === recEnd) return '';
  if (p + 2 > recEnd) return undefined;
  const extEnd = p + 2 + buf.readUInt16BE(p);
  if (extEnd > recEnd) return undefined;
  p += 2;
  while (p + 4 <= extEnd) {
    const type = buf.readUInt16BE(p);
    const len = buf.readUInt16BE(p + 2);
    p += 4;
    if (p + len > extEnd) return undefined;
    if (type === 0) {
      // server_name_list: list length, then (name_type, length, name) entries; host_name is type 0.
      let q = p + 2;
      while (q + 3 <= p + len) {
        const nameType = buf[q]!;
        const nameLen = buf.readUInt16BE(q + 1);
        if (q + 3 + nameLen > p + len) return undefined;
        if (nameType === 0) return buf.toString('latin1', q + 3, q + 3 + nameLen);
        q += 3 + nameLen;
      }
      return '';
    }
    p += len;
  }
  return '';
}
