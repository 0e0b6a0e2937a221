/** Polling helpers for effects that land asynchronously (buffered log lines), bounded in time. */
import fs from 'node:fs';

/** waitForLines resolves with the file's lines once it has at least `n`, or rejects after `ms`. */
export async function waitForLines(file: string, n: number, ms = 3000): Promise<string[]> {
  const until = Date.now() + ms;
  for (;;) {
    let lines: string[] = [];
    try {
      lines = fs.readFileSync(file, 'latin1').split('\n').filter((l) => l !== '');
    } catch {
      // Not created yet.
    }
    if (lines.length >= n) return lines;
    if (Date.now() > until) throw new Error(`${file}: ${lines.length} lines after ${ms}ms, wanted ${n}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
