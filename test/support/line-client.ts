/**
 * LineClient is a small raw-socket client for line protocols (SMTP, IMAP, POP3): send bytes, wait for a reply
 * matching a pattern, upgrade to TLS in place (STARTTLS), and see when the server closes.
 */
import net from 'node:net';
import tls from 'node:tls';

export class LineClient {
  socket: net.Socket;
  /** Everything received and not yet consumed by `expect`. */
  buffer = '';
  /** Everything received, for assertions on whole dialogues. */
  transcript = '';
  closed: Promise<void>;
  isClosed = false;
  #wake: (() => void) | undefined;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    this.closed = new Promise((resolve) => socket.once('close', () => ((this.isClosed = true), this.#wake?.(), resolve())));
    this.#listen(socket);
    socket.on('error', () => {});
  }

  #listen(socket: net.Socket): void {
    socket.on('data', (d: Buffer) => {
      this.buffer += d.toString('latin1');
      this.transcript += d.toString('latin1');
      this.#wake?.();
    });
  }

  /** connect opens a plain (or implicit TLS) connection. */
  static connect(port: number, opts: { tls?: boolean; localAddress?: string } = {}): Promise<LineClient> {
    return new Promise((resolve, reject) => {
      const socket = opts.tls
        ? tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false })
        : net.connect({ port, host: '127.0.0.1', localAddress: opts.localAddress });
      socket.once(opts.tls ? 'secureConnect' : 'connect', () => resolve(new LineClient(socket)));
      socket.once('error', reject);
    });
  }

  send(text: string | Buffer): void {
    this.socket.write(text);
  }

  /** expect waits until the unconsumed input matches `re`, consumes through the match and returns it. */
  async expect(re: RegExp, ms = 5000): Promise<string> {
    const until = Date.now() + ms;
    for (;;) {
      const m = re.exec(this.buffer);
      if (m) {
        const end = m.index + m[0].length;
        const got = this.buffer.slice(0, end);
        this.buffer = this.buffer.slice(end);
        return got;
      }
      if (this.isClosed) throw new Error(`connection closed while waiting for ${re}; got ${JSON.stringify(this.buffer)}`);
      const left = until - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${re}; got ${JSON.stringify(this.buffer)}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.#wake = () => (clearTimeout(t), resolve());
      });
    }
  }

  /** startTls upgrades this connection to TLS (after the server said yes to STARTTLS / STLS). */
  async startTls(): Promise<tls.TLSSocket> {
    this.socket.removeAllListeners('data');
    const secure = tls.connect({ socket: this.socket, rejectUnauthorized: false, servername: 'localhost' });
    await new Promise<void>((resolve, reject) => {
      secure.once('secureConnect', resolve);
      secure.once('error', reject);
    });
    secure.on('error', () => {});
    this.socket = secure;
    this.#listen(secure);
    return secure;
  }

  close(): void {
    this.socket.destroy();
  }
}
