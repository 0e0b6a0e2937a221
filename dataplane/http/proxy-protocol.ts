/**
 * HTTP's side of `listen … proxy_protocol`: the header (parsed by the protocol-neutral event/proxy-protocol.ts)
 * is read off the raw socket before TLS, HTTP/2 or HTTP/1, and what it said travels on the socket to the
 * connection, where realip's $proxy_protocol_* variables read it.
 */
import type { ConnectionHandler } from '../core/cycle.ts';
import { readProxyProtocol } from '../event/proxy-protocol.ts';
import { stripV4Mapped } from './connection.ts';
import { addrConfOf } from './listen-ctx.ts';
import type { ProxyProtocolInfo } from './request.ts';

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
      const res = readProxyProtocol(buf);
      if (res === 'again') return;
      socket.off('data', onData);
      clearTimeout(timer);
      if ('error' in res) {
        addr.runtime.cycle.log?.log('error', `${res.error} while reading PROXY protocol, client: ${stripV4Mapped(socket.remoteAddress ?? '')}`);
        socket.destroy();
        return;
      }
      socket.pause();
      socket.off('error', onError);
      if (res.addrs) (socket as WithProxyInfo)[PROXY_INFO] = res.addrs;
      if (res.size < buf.length) socket.unshift(buf.subarray(res.size));
      inner(socket, slot);
      socket.resume();
    };
    socket.on('error', onError);
    socket.once('close', () => clearTimeout(timer));
    socket.on('data', onData);
  };
}
