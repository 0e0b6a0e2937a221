/** A Node http2 client helper for tests: one request on a session, answered with its headers and body. */
import type http2 from 'node:http2';

/** H2Answer is a response: its headers (with :status) and its whole body. */
export interface H2Answer {
  headers: http2.IncomingHttpHeaders;
  body: Buffer;
  text: string;
}

/**
 * h2Request sends one request on `session`. `body` is written whole, or as chunks with a 10 ms pause between
 * them (a streamed body without Content-Length); without it the request ends with its headers.
 */
export function h2Request(session: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders, body?: string | Buffer | Buffer[]): Promise<H2Answer> {
  return new Promise((resolve, reject) => {
    const req = session.request(headers, { endStream: body === undefined });
    const parts: Buffer[] = [];
    let h: http2.IncomingHttpHeaders = {};
    req.on('response', (x) => (h = x));
    req.on('data', (d: Buffer) => parts.push(d));
    req.on('end', () => {
      const all = Buffer.concat(parts);
      resolve({ headers: h, body: all, text: all.toString('latin1') });
    });
    req.on('error', reject);
    if (body === undefined) return;
    if (!Array.isArray(body)) return void req.end(body);
    let i = 0;
    const next = (): void => {
      if (req.destroyed) return;
      if (i === body.length) return void req.end();
      req.write(body[i++]);
      setTimeout(next, 10);
    };
    next();
  });
}
