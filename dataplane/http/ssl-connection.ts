/**
 * The TLS side of an HTTP connection on a `listen … ssl` address (ngx_http_ssl_handshake). The first byte
 * says whether the client speaks TLS at all: plain HTTP is served by an Http1Connection that answers 497.
 * Otherwise the socket is wrapped in a server TLSSocket whose certificate is chosen by SNI among the
 * address's servers (exact, then wildcard names, as server_name), ALPN picks h2 when the server has HTTP/2,
 * and the negotiated connection becomes an Http1Connection or an HTTP/2 session.
 */
import type net from 'node:net';
import tls from 'node:tls';
import type { ListenSlot } from '../core/cycle.ts';
import { IDLE_CLOSER } from '../event/listeners.ts';
import { clientHelloServerName } from '../tls/client-hello.ts';
import { Http1Connection, stripV4Mapped } from './connection.ts';
import { copyProxyInfo } from './proxy-protocol.ts';
import type { CoreSrvConf } from './core-conf.ts';
import { addrConfOf, type HttpAddrConf } from './listen-ctx.ts';
import { peekConnection, type Peeked } from './peek.ts';
import { httpSslModule, type SslSrvConf } from './modules/ssl.ts';
import { startHttp2 } from './v2/connection.ts';
import { httpV2Module, v2Conf } from './v2/module.ts';

type Closable = net.Socket & { [IDLE_CLOSER]?: () => boolean };
type VerifyHandle = { setVerifyMode?: (request: boolean, reject: boolean) => void };

const TLS_HANDSHAKE = 0x16;
const SSLV2_HELLO = 0x80;
/** A TLS record carries at most 16 KiB (+ its 5-byte header); a hello beyond it is left to OpenSSL. */
const HELLO_MAX = 16384 + 5;
/** ALPN names nginx accepts besides h2, in its order of preference. */
const HTTP1_ALPN = ['http/1.1', 'http/1.0', 'http/0.9'];

/** helloComplete says whether `buf` holds the whole first TLS record (or is not TLS, or is as much as we wait for). */
function helloComplete(buf: Buffer): boolean {
  if (buf[0] !== TLS_HANDSHAKE || buf.length >= HELLO_MAX) return true;
  // A ClientHello split over TCP segments (post-quantum key shares make them ~1.8 KB) is read whole first.
  return buf.length >= 5 && buf.length >= 5 + buf.readUInt16BE(3);
}

/** sslConnectionHandler is the ConnectionHandler of `listen … ssl` addresses. */
export function sslConnectionHandler(socket: net.Socket, slot: ListenSlot): void {
  const addr = addrConfOf(slot, stripV4Mapped(socket.localAddress ?? ''));
  const timer = setTimeout(() => socket.destroy(), addr.defaultSrv.clientHeaderTimeout!);
  (socket as Closable)[IDLE_CLOSER] = () => {
    socket.destroy();
    return true;
  };
  socket.on('error', () => {});
  socket.once('close', () => clearTimeout(timer));
  peekConnection(socket, addr, helloComplete, (first, peeked) => {
    if (first[0] !== TLS_HANDSHAKE && first[0] !== SSLV2_HELLO) {
      clearTimeout(timer);
      const c = new Http1Connection(socket, slot, undefined, peeked);
      c.plainOnSslPort = true;
      socket.resume();
      return;
    }
    handshake(socket, slot, addr, timer, first, peeked);
  });
}

function handshake(socket: net.Socket, slot: ListenSlot, addr: HttpAddrConf, timer: NodeJS.Timeout, first: Buffer, peeked: Peeked | undefined): void {
  const registry = addr.runtime.cycle.registry;
  const sslIdx = registry.index(httpSslModule);
  const v2Idx = registry.index(httpV2Module);
  const def = addr.defaultSrv.level.srv[sslIdx] as SslSrvConf;
  const byName = (name: string | false | undefined): CoreSrvConf =>
    typeof name === 'string' && name !== '' ? addr.names.find(name.toLowerCase()).srv : addr.defaultSrv;
  // The server is chosen from the ClientHello when it arrived whole (nearly always); else by SNICallback.
  const sni = clientHelloServerName(first);
  const named = byName(sni).level.srv[sslIdx] as SslSrvConf;
  if (named.rejectHandshake) {
    addr.runtime.cycle.log?.log('info', `client SSL handshake rejected while SSL handshaking, client: ${stripV4Mapped(socket.remoteAddress ?? '')}`);
    socket.destroy();
    return;
  }
  const chosen = named.context ? named : def;
  const tsock = new tls.TLSSocket(socket, {
    isServer: true,
    secureContext: chosen.context,
    requestCert: chosen.verifyClient !== 'off',
    rejectUnauthorized: false,
    // Node raises the session-ID cache events on the socket's `server`; ours is the server's cache.
    server: chosen.sessions as unknown as net.Server | undefined,
    SNICallback: sni !== undefined ? undefined : (name, cb) => {
      const sc = byName(name).level.srv[sslIdx] as SslSrvConf;
      if (sc.rejectHandshake) return cb(new Error('client SSL handshake rejected'), undefined);
      if (sc.context && sc.verifyClient !== def.verifyClient) {
        // Client certificates are a per-server choice: switch the verify mode with the context, as nginx does.
        (tsock as unknown as { _handle?: VerifyHandle })._handle?.setVerifyMode?.(sc.verifyClient !== 'off', false);
      }
      cb(null, sc.context === def.context ? undefined : sc.context);
    },
    ALPNCallback: ({ servername, protocols }) => {
      if (protocols.includes('h2') && (addr.http2 || v2Conf(byName(servername), v2Idx).enable)) return 'h2';
      return HTTP1_ALPN.find((p) => protocols.includes(p));
    },
  });
  if (sni) (tsock as { servername?: string | false }).servername = sni;
  copyProxyInfo(socket, tsock);
  (socket as Closable)[IDLE_CLOSER] = () => {
    const inner = (tsock as Closable)[IDLE_CLOSER];
    if (inner) return inner();
    tsock.destroy();
    return true;
  };
  let secured = false;
  tsock.on('error', (err: Error) => {
    if (!secured) {
      addr.runtime.cycle.log?.log('info', `SSL_do_handshake() failed (${err.message.trim()}) while SSL handshaking, client: ${stripV4Mapped(socket.remoteAddress ?? '')}`);
    }
    tsock.destroy();
  });
  tsock.once('secure', () => {
    secured = true;
    clearTimeout(timer);
    if (tsock.alpnProtocol === 'h2') startHttp2(tsock, socket, slot, peeked);
    else new Http1Connection(tsock, slot, tsock, peeked);
  });
}
