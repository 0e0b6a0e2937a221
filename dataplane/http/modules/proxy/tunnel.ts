/**
 * A tunnel between the client and the upstream after `101 Switching Protocols` (WebSocket and other
 * upgrades): bytes flow both ways with backpressure; proxy_read_timeout bounds how long the tunnel may stay
 * silent (nginx applies it to reads from the upstream, proxy_send_timeout to stalled writes). When either
 * side closes, both are closed and the request is logged.
 */
import type net from 'node:net';
import type { HttpRequest } from '../../request.ts';
import { OK } from '../../types.ts';
import { countRead } from '../../../event/read-gc.ts';

export class Tunnel {
  readonly r: HttpRequest;
  readonly client: net.Socket;
  readonly upstream: net.Socket;
  readonly idle: NodeJS.Timeout;
  done = false;

  constructor(r: HttpRequest, client: net.Socket, upstream: net.Socket, readTimeout: number, sendTimeout: number, fromClient: Buffer | undefined, fromUpstream: Buffer) {
    this.r = r;
    this.client = client;
    this.upstream = upstream;
    this.idle = setTimeout(() => this.close('upstream timed out (110: Connection timed out) while proxying upgraded connection'), Math.max(readTimeout, 1));
    if (fromUpstream.length > 0) client.write(fromUpstream);
    if (fromClient && fromClient.length > 0) upstream.write(fromClient);
    this.pipe(client, upstream, sendTimeout);
    this.pipe(upstream, client, sendTimeout);
    client.resume();
    upstream.resume();
  }

  pipe(from: net.Socket, to: net.Socket, sendTimeout: number): void {
    let stall: NodeJS.Timeout | undefined;
    from.on('data', (d: Buffer) => {
      countRead(d.length);
      this.idle.refresh();
      if (from === this.upstream) this.r.bytesSent += d.length;
      if (!to.write(d)) {
        from.pause();
        stall ??= setTimeout(() => this.close('upstream timed out (110: Connection timed out) while sending to upgraded connection'), Math.max(sendTimeout, 1));
        to.once('drain', () => {
          if (stall) clearTimeout(stall);
          stall = undefined;
          from.resume();
        });
      }
    });
    from.on('end', () => to.end());
    from.on('close', () => {
      if (stall) clearTimeout(stall);
      this.close('');
    });
    from.on('error', () => {});
  }

  close(why: string): void {
    if (this.done) return;
    this.done = true;
    clearTimeout(this.idle);
    if (why) this.r.http.cycle.log?.log('error', `*${this.r.conn.id} ${why}`);
    this.client.destroySoon?.();
    this.upstream.destroySoon?.();
    setTimeout(() => {
      this.client.destroy();
      this.upstream.destroy();
    }, 1000).unref();
    this.r.responseDone = true;
    this.r.finalize(OK);
  }
}
