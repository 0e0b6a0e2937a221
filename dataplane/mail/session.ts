/**
 * One mail connection (nginx's ngx_mail_session_t plus ngx_mail_handler.c): the PROXY protocol header, the TLS
 * handshake, the bounded command buffer, the read timer, replies, and closing. Protocol modules drive it
 * through `onRead` (the current read handler) and `send`; auth_http and proxy take over in turn.
 */
import type net from 'node:net';
import { Duplex } from 'node:stream';
import tls from 'node:tls';
import { readProxyProtocol } from '../event/proxy-protocol.ts';
import type { LogLevel } from '../core/log.ts';
import { AUTH, PARSE, type MailListen, type MailProtocol, type MailServer, type ParseResult } from './mail.ts';
import { countRead } from '../event/read-gc.ts';

/** The PROXY protocol v2 maximum (header plus TLVs) bounds what we read before the header is complete. */
const PROXY_PROTOCOL_MAX = 4096;
/** Replies queued to a client that does not read past this many bytes stop command processing until drained. */
const SEND_HIGH_WATER = 64 * 1024;

/** MailSession is one client connection from accept to close. */
export class MailSession {
  readonly server: MailServer;
  readonly listen: MailListen;
  readonly protocol: MailProtocol;
  readonly number: number;
  /** The accepted TCP socket; `socket` becomes a TLSSocket over it after `ssl` or STARTTLS. */
  readonly raw: net.Socket;
  socket: net.Socket;
  /** Client address as Client-IP / XCLIENT ADDR see it (replaced by the PROXY protocol when trusted). */
  addrText: string;
  clientPort: number;
  /** Client host name from the resolver (SMTP), `[UNAVAILABLE]` or `[TEMPUNAVAIL]`. */
  host = '';

  /** The command buffer (`*_client_buffer`): bytes [pos, last) are unparsed. */
  buffer: Buffer;
  pos = 0;
  last = 0;
  #backlog: Buffer[] = [];
  /** The parsed command (upper-case verb), its arguments and its whole line (for MAIL FROM / RCPT TO). */
  command = '';
  args: Buffer[] = [];
  line = '';
  /** The reply being built for the current command (s->out). */
  out = '';
  /** Parser state kept across reads: IMAP literals already acknowledged with `+ OK`. */
  literals = 0;
  /** The IMAP tag of the command being answered, with its trailing space. */
  tag = '';

  /** Protocol state machine position (ngx_smtp_start, ngx_pop3_user …), owned by the protocol module. */
  mailState = 0;
  authMethod: number = AUTH.PLAIN;
  login = '';
  passwd: string | undefined;
  /** Challenge for APOP / CRAM-MD5: `<random.time@server_name>`. */
  salt = '';
  loginAttempt = 0;
  errors = 0;
  quit = false;
  esmtp = false;
  smtpHelo = '';
  smtpFrom = '';
  smtpTo = '';
  /** Whether TLS came from STARTTLS (for the log). */
  starttls = false;
  /** Client certificate check for Auth-SSL-Verify: SUCCESS, FAILED:reason or NONE. */
  sslVerify = 'NONE';
  /** What the session is doing, for error log lines (`while in auth state`). */
  action = 'sending client greeting line';
  /** Upstream name once known, for log lines. */
  upstreamName = '';

  /** The read handler: called when command bytes arrive; null while auth_http or the upstream login runs. */
  onRead: (() => void) | null = null;
  /** Set by the proxy once bytes are relayed untouched. */
  relay: ((chunk: Buffer) => void) | null = null;
  /** Called once when the session closes (auth_http aborts its request, the proxy closes the upstream). */
  readonly cleanups: (() => void)[] = [];
  closed = false;
  #timer: NodeJS.Timeout | undefined;
  #waitingDrain = false;

  constructor(socket: net.Socket, listen: MailListen, number: number) {
    this.raw = socket;
    this.socket = socket;
    this.listen = listen;
    this.server = listen.server;
    this.protocol = listen.server.protocol;
    this.number = number;
    this.addrText = stripV4Mapped(socket.remoteAddress ?? '');
    this.clientPort = socket.remotePort ?? 0;
    this.buffer = Buffer.alloc(0);
    this.#attach(socket);
    this.server.stats.sessions[this.protocol.name]++;
    this.server.stats.active[this.protocol.name]++;
  }

  /** start runs ngx_mail_init_connection: log, PROXY protocol, TLS, then the protocol's greeting. */
  start(): void {
    this.server.log?.log('info', `*${this.number} client ${this.addrText}:${this.clientPort} connected to ${this.listen.addrText}`);
    if (this.listen.proxyProtocol) {
      this.action = 'reading PROXY protocol';
      this.buffer = Buffer.alloc(PROXY_PROTOCOL_MAX);
      this.onRead = () => this.#readProxyProtocol();
      this.setTimer(this.server.timeout);
      return;
    }
    this.#afterProxyProtocol();
  }

  #readProxyProtocol(): void {
    const r = readProxyProtocol(this.buffer.subarray(this.pos, this.last));
    if (r === 'again') {
      if (this.last < this.buffer.length) return;
      this.error('info', 'broken header: too long');
      return this.close();
    }
    if ('error' in r) {
      this.error('error', r.error);
      return this.close();
    }
    this.pos += r.size;
    if (r.addrs && this.server.realIp(this.addrText)) {
      this.addrText = r.addrs.srcAddr;
      this.clientPort = r.addrs.srcPort;
    }
    this.onRead = null;
    this.#afterProxyProtocol();
  }

  #afterProxyProtocol(): void {
    if (this.listen.ssl) {
      this.action = 'SSL handshaking';
      this.upgradeTls(() => this.#initSession(), true);
      return;
    }
    this.#initSession();
  }

  #initSession(): void {
    this.action = 'sending client greeting line';
    this.protocol.initSession(this);
  }

  /** useBuffer gives the session its command buffer (nginx creates it at the first command), keeping bytes. */
  useBuffer(size: number): void {
    if (this.buffer.length === size) return;
    const old = this.buffer.subarray(this.pos, this.last);
    this.buffer = Buffer.alloc(size);
    this.pos = 0;
    this.last = 0;
    if (old.length) this.#backlog.unshift(Buffer.from(old));
    this.#fill();
  }

  #attach(sock: net.Socket): void {
    sock.on('data', this.#onData);
    sock.on('end', this.#onEnd);
    sock.on('error', this.#onError);
    sock.on('close', this.#onClose);
  }

  #detach(sock: net.Socket): void {
    sock.off('data', this.#onData);
    sock.off('end', this.#onEnd);
    sock.off('error', this.#onError);
    sock.off('close', this.#onClose);
  }

  #onData = (chunk: Buffer): void => {
    countRead(chunk.length);
    if (this.relay) return this.relay(chunk);
    this.#backlog.push(chunk);
    this.#fill();
    if (this.onRead && !this.#waitingDrain) this.onRead();
  };

  #onEnd = (): void => {
    if (this.relay) return; // the proxy watches for end itself
    if (!this.closed) this.close();
  };

  #onError = (err: NodeJS.ErrnoException): void => {
    if (this.closed) return;
    this.error('info', `${err.code === 'ECONNRESET' ? 'recv() failed (104: Connection reset by peer)' : err.message}`);
    this.close();
  };

  #onClose = (): void => {
    if (!this.closed) this.close();
  };

  /** #fill moves received bytes into the command buffer as room allows; the rest waits (socket paused). */
  #fill(): void {
    if (this.pos === this.last) this.pos = this.last = 0;
    else if (this.pos > 0 && this.#backlog.length) {
      this.buffer.copyWithin(0, this.pos, this.last);
      this.last -= this.pos;
      this.pos = 0;
    }
    while (this.#backlog.length && this.last < this.buffer.length) {
      const chunk = this.#backlog[0]!;
      const n = chunk.copy(this.buffer, this.last);
      this.last += n;
      if (n === chunk.length) this.#backlog.shift();
      else this.#backlog[0] = chunk.subarray(n);
    }
    if (this.#backlog.length) this.socket.pause();
    else if (this.socket.isPaused() && !this.closed && this.onRead) this.socket.resume();
  }

  /** consumed moves pos past a parsed command and pulls waiting bytes in. */
  consumed(to: number): void {
    this.pos = to;
    this.#fill();
  }

  /** discard drops everything buffered (STARTTLS: what came before the handshake must not be trusted). */
  discard(): void {
    this.pos = this.last = 0;
    this.#backlog.length = 0;
  }

  /** takeBuffered returns and forgets the unparsed bytes (handed to the upstream after login). */
  takeBuffered(): Buffer[] {
    const out: Buffer[] = [];
    if (this.last > this.pos) out.push(Buffer.from(this.buffer.subarray(this.pos, this.last)));
    out.push(...this.#backlog);
    this.discard();
    return out;
  }

  /**
   * readCommand is ngx_mail_read_command: parse one command; a full buffer without one is a too long command
   * (reply, then close); every invalid command counts towards `max_errors`.
   */
  readCommand(): ParseResult {
    if (this.pos === this.last) return PARSE.AGAIN;
    let rc = this.protocol.parseCommand(this);
    if (rc === PARSE.AGAIN) {
      if (this.last < this.buffer.length || this.pos > 0) return rc;
      this.error('info', `client sent too long command "${printable(this.buffer.subarray(0, Math.min(this.last, 64)))}..."`);
      this.quit = true;
      rc = PARSE.INVALID;
    }
    if (rc === PARSE.INVALID) {
      this.errors++;
      if (this.errors >= this.server.maxErrors && !this.quit) {
        this.error('info', 'client sent too many invalid commands');
        this.quit = true;
      }
    }
    return rc;
  }

  /** authLoop runs the protocol's auth state over every buffered command, as nginx's `s->blocked` does. */
  authLoop(): void {
    const handler = this.onRead;
    while (!this.closed && this.onRead === handler && !this.quit) {
      const rc = this.readCommand();
      if (rc === PARSE.AGAIN) return;
      this.setTimer(this.server.timeout);
      this.protocol.authState(this, rc);
      if (this.socket.writableLength > SEND_HIGH_WATER && !this.closed) {
        this.#waitingDrain = true;
        this.socket.once('drain', () => {
          this.#waitingDrain = false;
          this.onRead?.();
        });
        return;
      }
    }
  }

  /** send writes a reply; with `quit` set the connection closes once it is written. */
  send(text: string | Buffer): void {
    if (this.closed) return;
    if (this.quit) {
      this.socket.end(text);
      this.#finish();
      return;
    }
    if (text.length) this.socket.write(text);
  }

  #finish(): void {
    const sock = this.socket;
    this.close(false);
    // Give the last reply a moment to leave, then make sure the descriptor is gone even if the peer stalls.
    sock.once('finish', () => sock.destroy());
    setTimeout(() => sock.destroy(), 5000).unref();
  }

  /** setTimer arms the single read timer (c->read timer); firing closes the session as nginx does. */
  setTimer(ms: number, onTimeout?: () => void): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(onTimeout ?? (() => this.timedOut()), ms);
    this.#timer.unref?.();
  }

  /** refreshTimer restarts the armed timer without allocating (proxy traffic in either direction). */
  refreshTimer(): void {
    this.#timer?.refresh();
  }

  clearTimer(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  timedOut(): void {
    this.error('info', 'client timed out (110: Connection timed out)');
    this.close();
  }

  /** blockRead stops reading commands (auth_http, upstream login); bytes stay queued, the socket paused. */
  blockRead(): void {
    this.onRead = null;
    this.clearTimer();
    this.socket.pause();
  }

  /** setReadHandler makes `fn` the read handler, resumes the socket and runs it over what is buffered. */
  setReadHandler(fn: () => void): void {
    this.onRead = fn;
    if (this.closed) return;
    this.#fill();
    if (!this.#backlog.length) this.socket.resume();
    if (this.last > this.pos) fn();
  }

  /**
   * upgradeTls wraps the socket in TLS and calls `done` after the handshake. With STARTTLS whatever the client
   * sent before the handshake is dropped (RFC 3207 §4); with implicit TLS behind a PROXY protocol header the
   * bytes already read are the start of the ClientHello and are handed to TLS first.
   */
  upgradeTls(done: () => void, implicit = false): void {
    const ctx = this.server.secureContext;
    if (!ctx) return this.close();
    this.#detach(this.socket);
    const early = implicit ? this.takeBuffered() : (this.discard(), []);
    const base = early.length ? bridge(this.socket, early) : this.socket;
    const verify = this.server.verifyClient;
    const secure = new tls.TLSSocket(base as net.Socket, { isServer: true, secureContext: ctx, requestCert: verify > 0, rejectUnauthorized: false });
    this.socket = secure;
    this.#attach(secure);
    this.setTimer(this.server.timeout);
    secure.once('secure', () => {
      if (this.closed) return;
      if (verify && !this.#verifyCert(secure)) return;
      done();
    });
  }

  /** #verifyCert applies `ssl_verify_client` after the handshake (ngx_mail_verify_cert). */
  #verifyCert(secure: tls.TLSSocket): boolean {
    const verify = this.server.verifyClient;
    const hasCert = secure.getPeerX509Certificate() !== undefined;
    // A TLSSocket made by hand (not by tls.Server) does not fill `authorized`; ask OpenSSL's result directly.
    const handle = (secure as unknown as { _handle?: { verifyError?: () => (Error & { code?: string }) | null } })._handle;
    const failure = hasCert ? (handle?.verifyError?.() ?? null) : null;
    this.sslVerify = !hasCert ? 'NONE' : failure ? `FAILED:${failure.code ?? failure.message}` : 'SUCCESS';
    let reply: string | undefined;
    if (failure && verify !== 3) {
      this.error('info', `client SSL certificate verify error: (${failure.code ?? failure.message})`);
      reply = this.protocol.certError;
    } else if (verify === 1 && !hasCert) {
      this.error('info', 'client sent no required SSL certificate');
      reply = this.protocol.noCert;
    }
    if (reply === undefined) return true;
    this.quit = true;
    this.send(reply);
    return false;
  }

  get ssl(): boolean {
    return this.socket instanceof tls.TLSSocket;
  }

  /** error logs a line in nginx's mail format: `*N text while action, client: …, server: …, login: "…"`. */
  error(level: LogLevel, text: string): void {
    const log = this.server.log;
    if (!log || !log.enabled(level)) return;
    let line = `*${this.number} ${text}`;
    if (this.action) line += ` while ${this.action}`;
    line += `, client: ${this.addrText}${this.starttls ? ' using starttls' : ''}, server: ${this.listen.addrText}`;
    if (this.login) line += `, login: "${this.login.replace(/[\x00-\x1f\x7f"\\]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`)}"`;
    if (this.upstreamName) line += `, upstream: ${this.upstreamName}`;
    log.log(level, line);
  }

  /** internalServerError replies the protocol's temporary failure and closes. */
  internalServerError(): void {
    this.quit = true;
    this.send(this.protocol.internalServerError);
  }

  /** close tears the session down (ngx_mail_close_connection); `destroy` false leaves the socket to flush. */
  close(destroy = true): void {
    if (this.closed) return;
    this.closed = true;
    this.onRead = null;
    this.relay = null;
    this.clearTimer();
    this.server.stats.active[this.protocol.name]--;
    for (const fn of this.cleanups.splice(0)) fn();
    // The last line of a session ("proxied session done") is logged before this, so the log may go now.
    queueMicrotask(() => this.server.sessionEnded());
    if (destroy) {
      this.socket.destroy();
      if (this.socket !== this.raw) this.raw.destroy();
    } else if (this.socket !== this.raw) {
      this.socket.once('close', () => this.raw.destroy());
    }
  }
}

/** bridge is a stream that replays `first` and then the socket's bytes, for TLS over already-read data. */
function bridge(raw: net.Socket, first: Buffer[]): Duplex {
  const d = new Duplex({
    read: () => void raw.resume(),
    write: (chunk, _enc, cb) => void raw.write(chunk, cb),
    final: (cb) => void raw.end(cb),
    destroy: (err, cb) => {
      raw.destroy();
      cb(err);
    },
  });
  for (const b of first) d.push(b);
  raw.on('data', (c: Buffer) => {
    if (!d.push(c)) raw.pause();
  });
  raw.on('end', () => d.push(null));
  raw.on('error', (e) => d.destroy(e));
  raw.on('close', () => d.destroy());
  raw.resume();
  return d;
}

function stripV4Mapped(a: string): string {
  return a.startsWith('::ffff:') && a.includes('.') ? a.slice(7) : a;
}

/** printable shows client bytes in a log line without control characters. */
export function printable(b: Buffer): string {
  return b.toString('latin1').replace(/[\x00-\x1f\x7f-\xff]/g, (c) => (c === '\r' || c === '\n' ? ' ' : '?')).trimEnd();
}
