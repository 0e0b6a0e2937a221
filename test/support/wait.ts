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

/** waitForLine resolves with the file's lines once one of them is `line`, or rejects after `ms`. */
export async function waitForLine(file: string, line: string, ms = 3000): Promise<string[]> {
  const until = Date.now() + ms;
  for (;;) {
    const lines = await waitForLines(file, 0);
    if (lines.includes(line)) return lines;
    if (Date.now() > until) throw new Error(`${file}: no line "${line}" after ${ms}ms; have:\n${lines.join('\n')}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** waitForMatches resolves with the lines matching `re` once there are at least `n`, or rejects after `ms`. */
export async function waitForMatches(file: string, re: RegExp, n: number, ms = 3000): Promise<string[]> {
  const until = Date.now() + ms;
  for (;;) {
    const lines = (await waitForLines(file, 0)).filter((l) => re.test(l));
    if (lines.length >= n) return lines;
    if (Date.now() > until) throw new Error(`${file}: ${lines.length} lines matching ${re} after ${ms}ms, wanted ${n}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
