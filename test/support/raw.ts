/**
 * Raw loopback exchanges for tests that need to see the bytes and whether the server closed the connection
 * (malformed requests, pipelining, keep-alive): an HTTP client library would hide both.
 */
import net from 'node:net';

/** RawResult is what came back on one connection and whether the server closed it. */
export interface RawResult {
  data: string;
  closed: boolean;
}

export interface RawOptions {
  /** How long to wait for the server to close before giving up (the connection is then reported open). */
  waitMs?: number;
  /** Resolve as soon as the received text matches this (the connection may still be open). */
  until?: RegExp;
  /** Pieces sent one after another with `gapMs` between them (slow clients, split heads). */
  gapMs?: number;
}

/** rawExchange sends `input` (one buffer or several pieces) and collects the answer until close or timeout. */
export function rawExchange(port: number, input: string | Buffer | (string | Buffer)[], o: RawOptions = {}): Promise<RawResult> {
  const pieces = Array.isArray(input) ? input : [input];
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    let data = '';
    let done = false;
    const finish = (closed: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      resolve({ data, closed });
    };
    const timer = setTimeout(() => finish(false), o.waitMs ?? 2000);
    sock.on('data', (d) => {
      data += d.toString('latin1');
      if (o.until && o.until.test(data)) finish(false);
    });
    sock.on('end', () => finish(true));
    sock.on('close', () => finish(true));
    sock.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ECONNRESET' || err.code === 'EPIPE') finish(true);
      else if (!done) {
        done = true;
        clearTimeout(timer);
        reject(err);
      }
    });
    sock.on('connect', async () => {
      for (let i = 0; i < pieces.length; i++) {
        if (i > 0 && o.gapMs) await new Promise((r) => setTimeout(r, o.gapMs));
        if (done || sock.destroyed) return;
        sock.write(pieces[i]!);
      }
    });
  });
}

/** statuses lists the status codes of every response in a raw byte stream, in order. */
export function statuses(data: string): number[] {
  return [...data.matchAll(/HTTP\/1\.[01] (\d{3}) [^\r\n]*\r\n/g)].map((m) => Number(m[1]));
}

/** rawRequest writes bytes to a TCP port and resolves with everything read until the server closes. */

export function rawRequest(port: number, data: string | Buffer, host = '127.0.0.1', ms = 5000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const s = net.connect({ port, host }, () => s.write(data));
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`no close from ${host}:${port} within ${ms}ms; got ${Buffer.concat(chunks).toString('latin1')}`));
    }, ms);
    s.on('data', (d) => chunks.push(d));
    s.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    s.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks));
    });
  });
}
