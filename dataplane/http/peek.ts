/**
 * Reading the first bytes of a connection before choosing its protocol (TLS or plain on an ssl address,
 * HTTP/2 preface or HTTP/1 on a cleartext h2 address). On a `listen … proxy_protocol` address the PROXY header
 * comes first: it is read and removed here, so the TLS or HTTP layer after it sees its own bytes only.
 */
import type net from 'node:net';
import { stripV4Mapped } from './connection.ts';
import type { HttpAddrConf } from './listen-ctx.ts';
import { readProxyHeader } from './proxy-protocol.ts';
import type { ProxyProtocolInfo } from './request.ts';

/** Peeked is what came before the protocol's own bytes: the PROXY header's addresses (null: none, or LOCAL). */
export interface Peeked {
  proxy: ProxyProtocolInfo | null;
}

/**
 * peekConnection collects bytes until `enough(buf)` says the protocol can be told apart, then pauses the
 * socket, puts the bytes back (unshift) and calls `done`. A broken PROXY header closes the connection.
 */
export function peekConnection(socket: net.Socket, addr: HttpAddrConf, enough: (buf: Buffer) => boolean, done: (first: Buffer, peeked: Peeked | undefined) => void): void {
  let buf: Buffer | undefined;
  let peeked: Peeked | undefined;
  let proxyPending = addr.proxyProtocol;
  const onData = (chunk: Buffer): void => {
    buf = buf === undefined ? chunk : Buffer.concat([buf, chunk]);
    if (proxyPending) {
      const res = readProxyHeader(buf);
      if (res === undefined) return;
      if (typeof res === 'string') {
        addr.runtime.cycle.log?.log('error', `${res} while reading PROXY protocol, client: ${stripV4Mapped(socket.remoteAddress ?? '')}`);
        socket.off('data', onData);
        socket.destroy();
        return;
      }
      proxyPending = false;
      peeked = { proxy: res.info ?? null };
      buf = buf.subarray(res.length);
      if (buf.length === 0) {
        buf = undefined;
        return;
      }
    }
    if (!enough(buf)) return;
    socket.off('data', onData);
    socket.pause();
    socket.unshift(buf);
    done(buf, peeked);
  };
  socket.on('data', onData);
}
