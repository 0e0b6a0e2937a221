/**
 * `daemon on`: Node cannot fork, so the CLI re-runs itself detached with the same arguments and a marker in
 * the environment. The child reports over IPC once its workers are bound (or the error), the parent prints
 * the error or exits 0, and the child lives on without a terminal, as nginx's daemon does.
 */
import { spawn } from 'node:child_process';

const MARKER = 'PORTICO_DAEMON_CHILD';

/** DaemonReport is the child's one message to its parent. */
type DaemonReport = { ready: true } | { error: string };

/** isDaemonChild tells whether this process is the detached re-run. */
export function isDaemonChild(): boolean {
  return process.env[MARKER] === '1';
}

/** daemonize starts the detached child and resolves with its error text, or undefined once it is ready. */
export function daemonize(): Promise<string | undefined> {
  const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
    detached: true,
    stdio: ['ignore', 'ignore', 'ignore', 'ipc'],
    env: { ...process.env, [MARKER]: '1' },
  });
  return new Promise((resolve) => {
    child.once('message', (m: DaemonReport) => {
      child.disconnect();
      child.unref();
      resolve('error' in m ? m.error : undefined);
    });
    child.once('exit', (code) => resolve(`the daemon exited with code ${code} before it was ready`));
    child.once('error', (err) => resolve(err.message));
  });
}

/** reportToParent tells the waiting parent how the start went, then lets go of it. */
export function reportToParent(error?: string): void {
  if (!process.send) return;
  process.send(error === undefined ? { ready: true } : { error }, () => process.disconnect?.());
}
