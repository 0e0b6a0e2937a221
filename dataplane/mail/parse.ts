/**
 * Command parsers for SMTP, IMAP and POP3 (nginx's ngx_mail_parse.c). Each works on the session's bounded
 * buffer [pos, last): it returns AGAIN until a whole command is there (the caller turns a full buffer into
 * "too long command"), INVALID for anything malformed (skipping to the end of that line, so one bad line
 * costs one error), or OK with `s.command` and `s.args` set and `pos` moved past the command.
 * Parsing restarts from the line start on every read; lines are bounded by the buffer, so this stays cheap
 * and keeps no half-parsed state except the count of IMAP literals already acknowledged.
 */
import { PARSE, type ParseResult } from './mail.ts';

/** ParseTarget is the part of a session the parsers read and fill. */
export interface ParseTarget {
  buffer: Buffer;
  pos: number;
  last: number;
  command: string;
  args: Buffer[];
  line: string;
  tag: string;
  literals: number;
  consumed(to: number): void;
}

const LF = 0x0a;
const CR = 0x0d;
const SP = 0x20;

const SMTP_VERBS = new Set(['HELO', 'EHLO', 'AUTH', 'QUIT', 'NOOP', 'MAIL', 'RCPT', 'RSET', 'VRFY', 'EXPN', 'HELP', 'STARTTLS']);
const POP3_VERBS = new Set(['USER', 'PASS', 'APOP', 'QUIT', 'CAPA', 'AUTH', 'NOOP', 'STLS']);
const IMAP_VERBS = new Set(['LOGIN', 'LOGOUT', 'NOOP', 'CAPABILITY', 'STARTTLS', 'AUTHENTICATE']);
/** nginx accepts at most this many SMTP arguments, and two for POP3. */
const SMTP_MAX_ARGS = 10;
const POP3_MAX_ARGS = 2;
const IMAP_MAX_ARGS = 8;

/** lineEnd returns the index of the LF ending the line at `from`, or -1 when it has not arrived. */
function lineEnd(s: ParseTarget, from: number): number {
  const i = s.buffer.subarray(from, s.last).indexOf(LF);
  return i < 0 ? -1 : from + i;
}

/** invalid skips the rest of the line (nginx's sw_invalid) and reports it. */
function invalid(s: ParseTarget, lf: number): ParseResult {
  s.args = [];
  s.consumed(lf + 1);
  return PARSE.INVALID;
}

/** parseWords splits "VERB arg arg" lines (SMTP, POP3): verbs are letters, arguments are runs of non-spaces. */
function parseWords(s: ParseTarget, verbs: Set<string>, maxArgs: number): ParseResult {
  const lf = lineEnd(s, s.pos);
  if (lf < 0) return PARSE.AGAIN;
  const b = s.buffer;
  const end = lf > s.pos && b[lf - 1] === CR ? lf - 1 : lf;
  let p = s.pos;
  while (p < end && isAlpha(b[p]!)) p++;
  const verb = b.toString('latin1', s.pos, p).toUpperCase();
  if (!verbs.has(verb) || (p < end && b[p] !== SP)) return invalid(s, lf);
  const args: Buffer[] = [];
  while (p < end) {
    while (p < end && b[p] === SP) p++;
    if (p === end) break;
    const start = p;
    while (p < end && b[p] !== SP) {
      if (b[p] === CR) return invalid(s, lf);
      p++;
    }
    if (args.length === maxArgs) return invalid(s, lf);
    args.push(Buffer.from(b.subarray(start, p)));
  }
  s.command = verb;
  s.args = args;
  s.line = b.toString('latin1', s.pos, end);
  s.consumed(lf + 1);
  return PARSE.OK;
}

/** parseSmtpCommand parses one SMTP command line. */
export function parseSmtpCommand(s: ParseTarget): ParseResult {
  return parseWords(s, SMTP_VERBS, SMTP_MAX_ARGS);
}

/** parsePop3Command parses one POP3 command line. */
export function parsePop3Command(s: ParseTarget): ParseResult {
  return parseWords(s, POP3_VERBS, POP3_MAX_ARGS);
}

/** parseAuthLine reads a SASL continuation line (base64, or `*`) as the single argument. */
export function parseAuthLine(s: ParseTarget): ParseResult {
  const lf = lineEnd(s, s.pos);
  if (lf < 0) return PARSE.AGAIN;
  const b = s.buffer;
  let end = lf > s.pos && b[lf - 1] === CR ? lf - 1 : lf;
  let start = s.pos;
  while (start < end && b[start] === SP) start++;
  while (end > start && b[end - 1] === SP) end--;
  if (b.subarray(start, end).includes(CR)) return invalid(s, lf);
  s.command = '';
  s.args = [Buffer.from(b.subarray(start, end))];
  s.consumed(lf + 1);
  return PARSE.OK;
}

/**
 * parseImapCommand parses `tag SP command [SP arg]* CRLF` where an argument is an atom, a "quoted string"
 * (backslash escapes " and \) or a literal {n} / {n+}. A synchronizing literal that has not arrived yet
 * returns IMAP_NEXT once, so the caller sends the `+ OK` continuation.
 */
export function parseImapCommand(s: ParseTarget): ParseResult {
  const b = s.buffer;
  s.tag = '';
  const lf0 = lineEnd(s, s.pos);
  if (lf0 < 0) return PARSE.AGAIN;
  let p = s.pos;
  while (p < lf0 && isTagChar(b[p]!)) p++;
  s.tag = p > s.pos && b[p] === SP ? b.toString('latin1', s.pos, p) + ' ' : '';
  if (!s.tag) return invalidImap(s, lf0);
  const verbStart = ++p;
  while (p < lf0 && isAlpha(b[p]!)) p++;
  const verb = b.toString('latin1', verbStart, p).toUpperCase();
  if (!IMAP_VERBS.has(verb)) return invalidImap(s, lf0);
  const args: Buffer[] = [];
  let lf = lf0;
  let literal = 0;
  for (;;) {
    const end = lf > p && b[lf - 1] === CR ? lf - 1 : lf;
    if (p === end) break;
    if (b[p] !== SP || p + 1 === end) return invalidImap(s, lf);
    p++;
    if (args.length === IMAP_MAX_ARGS) return invalidImap(s, lf);
    const ch = b[p]!;
    if (ch === 0x22) {
      const q = readQuoted(b, p + 1, end);
      if (!q) return invalidImap(s, lf);
      args.push(q.value);
      p = q.next;
      continue;
    }
    if (ch === 0x7b) {
      const lit = readLiteralSpec(b, p, end);
      if (!lit || end !== lit.next) return invalidImap(s, lf);
      const dataStart = lf + 1;
      if (dataStart + lit.size > s.buffer.length) return invalidImap(s, lf);
      if (s.last < dataStart + lit.size) {
        if (!lit.nonSync && literal >= s.literals) {
          s.literals = literal + 1;
          return PARSE.IMAP_NEXT;
        }
        return PARSE.AGAIN;
      }
      args.push(Buffer.from(b.subarray(dataStart, dataStart + lit.size)));
      literal++;
      p = dataStart + lit.size;
      const next = lineEnd(s, p);
      if (next < 0) return PARSE.AGAIN;
      lf = next;
      continue;
    }
    const start = p;
    while (p < end && b[p] !== SP) {
      if (!isAtomChar(b[p]!)) return invalidImap(s, lf);
      p++;
    }
    args.push(Buffer.from(b.subarray(start, p)));
  }
  s.command = verb;
  s.args = args;
  s.literals = 0;
  s.consumed(lf + 1);
  return PARSE.OK;
}

function invalidImap(s: ParseTarget, lf: number): ParseResult {
  s.literals = 0;
  return invalid(s, lf);
}

function readQuoted(b: Buffer, from: number, end: number): { value: Buffer; next: number } | undefined {
  const out: number[] = [];
  for (let p = from; p < end; p++) {
    const ch = b[p]!;
    if (ch === 0x22) return { value: Buffer.from(out), next: p + 1 };
    if (ch === 0x5c) {
      const n = b[p + 1];
      if (n !== 0x22 && n !== 0x5c) return undefined;
      out.push(n);
      p++;
      continue;
    }
    if (ch === CR || ch === LF) return undefined;
    out.push(ch);
  }
  return undefined;
}

function readLiteralSpec(b: Buffer, from: number, end: number): { size: number; nonSync: boolean; next: number } | undefined {
  let p = from + 1;
  let size = 0;
  const digits = p;
  while (p < end && b[p]! >= 0x30 && b[p]! <= 0x39) {
    size = size * 10 + (b[p]! - 0x30);
    if (size > 0x7fffffff) return undefined;
    p++;
  }
  if (p === digits) return undefined;
  const nonSync = b[p] === 0x2b;
  if (nonSync) p++;
  if (b[p] !== 0x7d) return undefined;
  return { size, nonSync, next: p + 1 };
}

function isAlpha(ch: number): boolean {
  const c = ch | 0x20;
  return c >= 0x61 && c <= 0x7a;
}

/** Tag characters: printable ASCII except the IMAP specials and "+" (RFC 3501 `tag`). */
function isTagChar(ch: number): boolean {
  return ch > SP && ch < 0x7f && !'(){%*"\\]+'.includes(String.fromCharCode(ch));
}

function isAtomChar(ch: number): boolean {
  return ch > SP && ch < 0x7f && ch !== 0x22 && ch !== 0x28 && ch !== 0x29 && ch !== 0x7b;
}
