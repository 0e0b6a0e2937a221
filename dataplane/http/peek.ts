/**
 * Reading the first bytes of a connection before choosing its protocol (TLS or plain on an ssl address,
 * HTTP/2 preface or HTTP/1 on a cleartext h2 address). A PROXY header, on `listen … proxy_protocol`, was read and
 * removed before this by proxyProtocolHandler, so the bytes peeked here are the protocol's own.
 */
import type net from 'node:net';
import type { HttpAddrConf } from './listen-ctx.ts';
import { proxyInfoOf } from './proxy-protocol.ts';
import type { ProxyProtocolInfo } from './request.ts';

/** Peeked is what came before the protocol's own bytes: the PROXY header's addresses (null: none, or LOCAL). */
export interface Peeked {
  proxy: ProxyProtocolInfo | null;
}

/**
 * peekConnection collects bytes until `enough(buf)` says the protocol can be told apart, then pauses the
 * socket, puts the bytes back (unshift) and calls `done`.
 */
export function peekConnection(socket: net.Socket, addr: HttpAddrConf, enough: (buf: Buffer) => boolean, done: (first: Buffer, peeked: Peeked | undefined) => void): void {
  // The PROXY header, if the address expects one, was already read by proxyProtocolHandler before this
  // handler saw the socket; hand its result on with the peeked bytes.
  const peeked: Peeked | undefined = addr.proxyProtocol ? { proxy: proxyInfoOf(socket) ?? null } : undefined;
  let buf: Buffer | undefined;
  const onData = (chunk: Buffer): void => {
    buf = buf === undefined ? chunk : Buffer.concat([buf, chunk]);
    if (!enough(buf)) return;
    socket.off('data', onData);
    socket.pause();
    socket.unshift(buf);
    done(buf, peeked);
  };
  socket.on('data', onData);
}
