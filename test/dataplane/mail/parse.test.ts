/**
 * The SMTP / IMAP / POP3 command parsers (in-process): exact results on known lines, and a fuzz run over
 * random and mutated input fed in random chunk sizes through a bounded buffer, checking that every call
 * either makes progress or waits, never throws, and never reads or keeps more than the buffer.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PARSE, type ParseResult } from '../../../dataplane/mail/mail.ts';
import { parseAuthLine, parseImapCommand, parsePop3Command, parseSmtpCommand, type ParseTarget } from '../../../dataplane/mail/parse.ts';
import { rng } from '../../support/mail-fixture.ts';

type Parser = (s: ParseTarget) => ParseResult;

/** Target is a ParseTarget over a fixed buffer, compacting on consume like the session does. */
class Target implements ParseTarget {
  buffer: Buffer;
  pos = 0;
  last = 0;
  command = '';
  args: Buffer[] = [];
  line = '';
  tag = '';
  literals = 0;
  constructor(size: number) {
    this.buffer = Buffer.alloc(size);
  }
  consumed(to: number): void {
    this.pos = to;
    if (this.pos === this.last) this.pos = this.last = 0;
  }
  /** push copies what fits and returns how many bytes were taken. */
  push(b: Buffer): number {
    if (this.pos > 0) {
      this.buffer.copyWithin(0, this.pos, this.last);
      this.last -= this.pos;
      this.pos = 0;
    }
    const n = b.copy(this.buffer, this.last);
    this.last += n;
    return n;
  }
}

function one(parser: Parser, text: string, size = 4096): { rc: ParseResult; t: Target } {
  const t = new Target(size);
  t.push(Buffer.from(text, 'latin1'));
  return { rc: parser(t), t };
}

const args = (t: Target) => t.args.map((a) => a.toString('latin1'));

describe('command parsers', () => {
  it('split SMTP commands into a verb and arguments and keep the line for MAIL FROM', () => {
    const { rc, t } = one(parseSmtpCommand, 'mail FROM:<a@b>  SIZE=10\r\n');
    assert.equal(rc, PARSE.OK);
    assert.equal(t.command, 'MAIL');
    assert.deepEqual(args(t), ['FROM:<a@b>', 'SIZE=10']);
    assert.equal(t.line, 'mail FROM:<a@b>  SIZE=10');
    assert.equal(one(parseSmtpCommand, 'STARTTLS\n').t.command, 'STARTTLS');
    assert.equal(one(parseSmtpCommand, 'HELO x').rc, PARSE.AGAIN);
    assert.equal(one(parseSmtpCommand, 'XYZZY\r\n').rc, PARSE.INVALID);
    assert.equal(one(parseSmtpCommand, 'HELO a\rb\r\n').rc, PARSE.INVALID);
    assert.equal(one(parseSmtpCommand, `HELO ${'a '.repeat(11)}\r\n`).rc, PARSE.INVALID);
  });

  it('accept at most two POP3 arguments', () => {
    const { rc, t } = one(parsePop3Command, 'APOP alice 0123\r\n');
    assert.equal(rc, PARSE.OK);
    assert.deepEqual([t.command, ...args(t)], ['APOP', 'alice', '0123']);
    assert.equal(one(parsePop3Command, 'APOP a b c\r\n').rc, PARSE.INVALID);
  });

  it('read IMAP tags, atoms, quoted strings and literals', () => {
    const { rc, t } = one(parseImapCommand, 'a01 LOGIN "al\\"ice" {4}\r\np w \r\n');
    assert.equal(rc, PARSE.OK);
    assert.equal(t.tag, 'a01 ');
    assert.deepEqual([t.command, ...args(t)], ['LOGIN', 'al"ice', 'p w ']);
    assert.equal(one(parseImapCommand, 'LOGIN\r\n').rc, PARSE.INVALID);
    assert.equal(one(parseImapCommand, 'a SELECT x\r\n').rc, PARSE.INVALID);
    assert.equal(one(parseImapCommand, 'a LOGIN "open\r\n').rc, PARSE.INVALID);
    assert.equal(one(parseImapCommand, 'a LOGIN {x}\r\n').rc, PARSE.INVALID);
  });

  it('ask once for a synchronizing literal and wait silently for a non-synchronizing one', () => {
    const t = new Target(4096);
    t.push(Buffer.from('a LOGIN {5}\r\n'));
    assert.equal(parseImapCommand(t), PARSE.IMAP_NEXT);
    assert.equal(parseImapCommand(t), PARSE.AGAIN);
    t.push(Buffer.from('alice {6+}\r\nsec'));
    assert.equal(parseImapCommand(t), PARSE.AGAIN);
    t.push(Buffer.from('ret\r\n'));
    assert.equal(parseImapCommand(t), PARSE.OK);
    assert.deepEqual(args(t), ['alice', 'secret']);
    assert.equal(one(parseImapCommand, 'a LOGIN {9999}\r\n', 256).rc, PARSE.INVALID);
  });

  it('take a SASL response line whole', () => {
    const { rc, t } = one(parseAuthLine, ' YWxpY2U= \r\n');
    assert.equal(rc, PARSE.OK);
    assert.deepEqual(args(t), ['YWxpY2U=']);
  });
});

const SEEDS = [
  'EHLO client.example\r\n',
  'AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n',
  'MAIL FROM:<a@b>\r\n',
  'a1 LOGIN {5}\r\nalice {6+}\r\nsecret\r\n',
  'a2 LOGIN "al\\\\ice" "p\\"w"\r\n',
  'b AUTHENTICATE PLAIN\r\n',
  'USER alice\r\nPASS secret\r\n',
  'APOP alice c4c9334bac560ecc979e58001b3e22fb\r\n',
  '* {0}\r\n\r\n',
];
const ALPHABET = ' \r\n{}"\\+*0123456789aAzZ:<>@=\x00\xff';

function mutate(r: () => number, s: string): string {
  const chars = [...s];
  const n = 1 + Math.floor(r() * 6);
  for (let i = 0; i < n; i++) {
    const at = Math.floor(r() * (chars.length + 1));
    const op = r();
    const ch = ALPHABET[Math.floor(r() * ALPHABET.length)]!;
    if (op < 0.4) chars.splice(at, 0, ch);
    else if (op < 0.7) chars.splice(at, 1);
    else if (op < 0.85) chars[at] = ch;
    else chars.splice(at, 0, ...'9'.repeat(Math.floor(r() * 12)));
  }
  return chars.join('');
}

function randomInput(r: () => number): Buffer {
  if (r() < 0.3) return Buffer.from(Array.from({ length: Math.floor(r() * 600) }, () => Math.floor(r() * 256)));
  let s = '';
  while (s.length < 300 && r() < 0.8) s += mutate(r, SEEDS[Math.floor(r() * SEEDS.length)]!);
  return Buffer.from(s, 'latin1');
}

/** drive feeds `input` in random chunks, calling the parser the way the session does. */
function drive(parser: Parser, input: Buffer, size: number, r: () => number): void {
  const t = new Target(size);
  let off = 0;
  let calls = 0;
  while (off < input.length || t.last > t.pos) {
    if (off < input.length) off += t.push(input.subarray(off, off + 1 + Math.floor(r() * 64)));
    for (;;) {
      assert.ok(++calls < 100_000, 'the parser makes progress');
      const before = t.pos + t.last * 1e6;
      const rc = parser(t);
      assert.ok(t.pos <= t.last && t.last <= size, 'positions stay inside the buffer');
      assert.ok(t.args.reduce((n, a) => n + a.length, 0) <= size, 'arguments are bounded by the buffer');
      if (rc === PARSE.AGAIN) {
        if (t.last === size && t.pos === 0) t.pos = t.last = 0; // "too long command": the session replies and closes
        break;
      }
      if (rc === PARSE.IMAP_NEXT) {
        const again = parser(t);
        assert.ok(again === PARSE.AGAIN, 'a literal is acknowledged once');
        break;
      }
      assert.ok(rc === PARSE.OK || rc === PARSE.INVALID);
      assert.notEqual(t.pos + t.last * 1e6, before, 'a finished command consumes input');
      t.literals = 0;
      if (t.pos === t.last) break;
    }
    if (off >= input.length && t.last > t.pos) {
      // Nothing more will come: whatever is left is an unterminated line the session would time out on.
      break;
    }
  }
}

describe('command parser fuzzing', () => {
  const parsers: [string, Parser, number][] = [
    ['smtp', parseSmtpCommand, 512],
    ['pop3', parsePop3Command, 128],
    ['imap', parseImapCommand, 256],
    ['sasl', parseAuthLine, 128],
  ];
  for (const [name, parser, size] of parsers) {
    it(`${name}: 3000 random and mutated inputs never throw, hang or overrun`, () => {
      const r = rng(0xc0ffee ^ name.length);
      const t0 = Date.now();
      for (let i = 0; i < 3000 && Date.now() - t0 < 20_000; i++) drive(parser, randomInput(r), size, r);
    });
  }
});
