/**
 * The controller's JSON logger (pino). Secret material is redacted by path wherever it could appear.
 */
import { pino, type Logger } from 'pino';

/** REDACT lists the log fields that may carry secrets. */
export const REDACT = ['data', 'stringData', '*.data', '*.stringData', 'key', '*.key', 'tree', 'token', 'authorization', '*.authorization'];

/** createLogger returns a pino logger writing JSON to `dest` (stderr by default). */
export function createLogger(level = 'info', dest: NodeJS.WritableStream = process.stderr): Logger {
  return pino({ level, base: { component: 'controller' }, redact: { paths: REDACT, censor: '[redacted]' } }, dest as pino.DestinationStream);
}

export type { Logger };
