/**
 * Real command-line clients for tests: curl (HTTP/1.1, HTTP/2) and `openssl s_client`, run as processes with
 * a time bound.
 */
import { execFile } from 'node:child_process';

/** CurlResult is what curl reported: status, negotiated HTTP version, headers (lowercase names) and body. */
export interface CurlResult {
  status: number;
  version: string;
  headers: Record<string, string>;
  body: string;
}

const MARK = '\n--portico-curl--';

/** curl runs curl with `args` (a URL included) and parses its response; rejects on curl errors. */
export function curl(args: string[]): Promise<CurlResult> {
  return new Promise((resolve, reject) => {
    execFile('curl', ['-sS', '-m', '5', '-D', '-', '-w', `${MARK}%{http_code} %{http_version}`, ...args], { encoding: 'latin1' }, (err, out, stderr) => {
      if (err) return reject(new Error(`curl ${args.join(' ')}: ${stderr || err.message}`));
      const i = out.lastIndexOf(MARK);
      const [code, version] = out.slice(i + MARK.length).split(' ');
      const text = out.slice(0, i);
      // The last header block ends at the first blank line after the final status line (skip 1xx blocks).
      let start = 0;
      let end = text.indexOf('\r\n\r\n');
      while (end >= 0 && /^HTTP\/[\d.]+ 1\d\d/.test(text.slice(start))) {
        start = end + 4;
        end = text.indexOf('\r\n\r\n', start);
      }
      const headers: Record<string, string> = {};
      for (const line of text.slice(start, end).split('\r\n').slice(1)) {
        const c = line.indexOf(':');
        if (c > 0) headers[line.slice(0, c).toLowerCase()] = line.slice(c + 1).trim();
      }
      resolve({ status: Number(code), version: version!, headers, body: end < 0 ? '' : text.slice(end + 4) });
    });
  });
}

/** sClient runs `openssl s_client` with `args`, sending `input` and closing; resolves with all output. */
export function sClient(args: string[], input = ''): Promise<string> {
  return new Promise((resolve) => {
    const p = execFile('openssl', ['s_client', ...args], { encoding: 'latin1', timeout: 5000 }, (_err, out, stderr) => resolve(out + stderr));
    p.stdin!.end(input);
  });
}
