/**
 * URI normalisation for request targets, after nginx's ngx_http_parse_complex_uri: percent-decoding, merging
 * slashes, resolving `.` and `..` segments. Returns undefined for a URI nginx rejects with 400 (bad escape,
 * NUL, `..` above the root).
 */

const HEX = (c: number): number => (c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1);

/** decodeUriPath percent-decodes a path given as a latin1 string; the result is a latin1 string of bytes. */
export function percentDecode(s: string): string | undefined {
  if (!s.includes('%')) return s.includes('\0') ? undefined : s;
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 37) {
      const h = HEX(s.charCodeAt(i + 1));
      const l = HEX(s.charCodeAt(i + 2));
      if (h < 0 || l < 0) return undefined;
      const b = (h << 4) | l;
      if (b === 0) return undefined;
      out += String.fromCharCode(b);
      i += 2;
    } else if (c === 0) {
      return undefined;
    } else {
      out += s[i];
    }
  }
  return out;
}

/** normalizePath resolves dot segments and optionally merges slashes; `..` above the root is an error. */
export function normalizePath(p: string, mergeSlashes: boolean): string | undefined {
  if (!p.includes('/.') && !(mergeSlashes && p.includes('//'))) return p;
  const segs = p.split('/');
  const out: string[] = [];
  for (let i = 1; i < segs.length; i++) {
    const s = segs[i]!;
    const last = i === segs.length - 1;
    if (s === '.') {
      if (last) out.push('');
      continue;
    }
    if (s === '..') {
      if (out.length === 0) return undefined;
      out.pop();
      if (last) out.push('');
      continue;
    }
    if (s === '' && mergeSlashes && !last) continue;
    out.push(s);
  }
  return '/' + out.join('/');
}
