/** rawRequest writes bytes to a TCP port and resolves with everything read until the server closes. */
import net from 'node:net';

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
