/**
 * Write batching across sockets: writes issued while handling one round of I/O events are held (cork) and
 * flushed together after the round (setImmediate runs after the poll phase). A peer woken by the first flush
 * is usually still running when the next ones arrive, which saves the wake-up that dominates small
 * loopback exchanges; each socket still gets one write system call per round.
 */
import type net from 'node:net';

const held: net.Socket[] = [];
let scheduled = false;

function flush(): void {
  scheduled = false;
  for (let i = 0; i < held.length; i++) {
    const s = held[i]!;
    if (s.writableCorked) s.uncork();
  }
  held.length = 0;
}

/** holdWrites corks `s` until the end of this round of I/O; call it before writing. */
export function holdWrites(s: net.Socket): void {
  if (s.writableCorked) return;
  s.cork();
  held.push(s);
  if (!scheduled) {
    scheduled = true;
    setImmediate(flush);
  }
}
