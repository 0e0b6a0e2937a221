/**
 * nginx.conf reader: a tokenizer that follows nginx's ngx_conf_read_token rules (quotes, backslash escapes,
 * `#` comments, `${var}`), a parser that builds the shared ConfTree, and `include` with globs.
 * Semantic checks (unknown directives, contexts, arity) belong to the configuration engine, not here.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ConfError, sysErrorText } from './errors.ts';
import type { ConfDirective, ConfTree } from './tree.ts';

/** ParseOptions: includes resolve against `confPrefix` (the main config file's folder), as nginx does. */
export interface ParseOptions {
  confPrefix: string;
}

type Stop = 'end' | 'open' | 'close' | 'eof';

interface Statement {
  args: string[];
  stop: Stop;
  line: number;
}

const SPACE = new Set([' ', '\t', '\r', '\n']);

/** Lexer yields one statement at a time: the words up to `;`, `{`, `}` or the end of the text. */
class Lexer {
  #text: string;
  #pos = 0;
  line = 1;
  readonly file: string;

  constructor(text: string, file: string) {
    this.#text = text;
    this.file = file;
  }

  #fail(message: string): never {
    throw new ConfError(message, this.file, this.line);
  }

  next(): Statement {
    const text = this.#text;
    const args: string[] = [];
    let lastSpace = true;
    let needSpace = false;
    let comment = false;
    let escaped = false;
    let variable = false;
    let quote = '';
    let start = 0;

    while (this.#pos < text.length) {
      const ch = text[this.#pos++]!;
      if (ch === '\n') {
        this.line++;
        if (comment) comment = false;
      }
      if (comment) continue;
      if (escaped) {
        escaped = false;
        continue;
      }
      if (needSpace) {
        if (SPACE.has(ch)) {
          lastSpace = true;
          needSpace = false;
          continue;
        }
        if (ch === ';') return { args, stop: 'end', line: this.line };
        if (ch === '{') return { args, stop: 'open', line: this.line };
        // `if ("a" = "b")`: a `)` may follow a quoted word directly and becomes a word of its own.
        if (ch !== ')') this.#fail(`unexpected "${ch}"`);
        lastSpace = true;
        needSpace = false;
      }
      if (lastSpace) {
        if (SPACE.has(ch)) continue;
        start = this.#pos - 1;
        switch (ch) {
          case ';':
          case '{':
            if (args.length === 0) this.#fail(`unexpected "${ch}"`);
            return { args, stop: ch === '{' ? 'open' : 'end', line: this.line };
          case '}':
            if (args.length !== 0) this.#fail('unexpected "}"');
            return { args, stop: 'close', line: this.line };
          case '#':
            comment = true;
            continue;
          case '\\':
            escaped = true;
            lastSpace = false;
            continue;
          case '"':
          case "'":
            start++;
            quote = ch;
            lastSpace = false;
            continue;
          case '$':
            variable = true;
            lastSpace = false;
            continue;
          default:
            lastSpace = false;
            continue;
        }
      }
      // Inside a word.
      if (ch === '{' && variable) continue;
      variable = false;
      if (ch === '\\') {
        escaped = true;
        continue;
      }
      if (ch === '$') {
        variable = true;
        continue;
      }
      let end = -1;
      if (quote) {
        if (ch === quote) {
          quote = '';
          needSpace = true;
          end = this.#pos - 1;
        }
      } else if (SPACE.has(ch) || ch === ';' || ch === '{') {
        lastSpace = true;
        end = this.#pos - 1;
      }
      if (end < 0) continue;
      args.push(unescape(text.slice(start, end)));
      if (ch === ';') return { args, stop: 'end', line: this.line };
      if (ch === '{') return { args, stop: 'open', line: this.line };
    }
    if (args.length > 0 || !lastSpace || quote) {
      this.#fail('unexpected end of file, expecting ";" or "}"');
    }
    return { args, stop: 'eof', line: this.line };
  }
}

/** unescape applies nginx's word copy rules: \" \' \\ lose the backslash, \t \r \n become controls. */
function unescape(word: string): string {
  if (!word.includes('\\')) return word;
  let out = '';
  for (let i = 0; i < word.length; i++) {
    const c = word[i]!;
    if (c === '\\' && i + 1 < word.length) {
      const n = word[i + 1]!;
      if (n === '"' || n === "'" || n === '\\') {
        out += n;
        i++;
        continue;
      }
      if (n === 't' || n === 'r' || n === 'n') {
        out += n === 't' ? '\t' : n === 'r' ? '\r' : '\n';
        i++;
        continue;
      }
    }
    out += c;
  }
  return out;
}

function parseBlock(lexer: Lexer, opts: ParseOptions, inBlock: boolean, out: ConfDirective[], depth: number): void {
  for (;;) {
    const st = lexer.next();
    if (st.stop === 'eof') {
      if (inBlock) throw new ConfError('unexpected end of file, expecting "}"', lexer.file, st.line);
      return;
    }
    if (st.stop === 'close') {
      if (!inBlock) throw new ConfError('unexpected "}"', lexer.file, st.line);
      return;
    }
    const d: ConfDirective = { name: st.args[0]!, args: st.args.slice(1), file: lexer.file, line: st.line };
    if (st.stop === 'open') {
      d.block = [];
      parseBlock(lexer, opts, true, d.block, depth);
    }
    if (d.name === 'include' && !d.block) {
      if (d.args.length !== 1) throw new ConfError('invalid number of arguments in "include" directive', d.file, d.line);
      include(d, opts, out, depth);
      continue;
    }
    out.push(d);
  }
}

const MAX_INCLUDE_DEPTH = 32;

function include(d: ConfDirective, opts: ParseOptions, out: ConfDirective[], depth: number): void {
  if (depth >= MAX_INCLUDE_DEPTH) throw new ConfError('too deep include nesting', d.file, d.line);
  const pattern = path.resolve(opts.confPrefix, d.args[0]!);
  const files = /[*?[]/.test(pattern) ? fs.globSync(pattern).sort() : [pattern];
  for (const file of files) {
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (err) {
      throw new ConfError(sysErrorText('open', file, err as NodeJS.ErrnoException), d.file, d.line);
    }
    parseBlock(new Lexer(text, file), opts, false, out, depth + 1);
  }
}

/** parseConfString parses nginx.conf text; `file` names it in errors (and resolves nothing by itself). */
export function parseConfString(text: string, file: string, opts: ParseOptions): ConfTree {
  const out: ConfTree = [];
  parseBlock(new Lexer(text, file), opts, false, out, 0);
  return out;
}

/** parseConfFile reads and parses a config file, following includes. */
export function parseConfFile(file: string, opts?: ParseOptions): ConfTree {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfError(sysErrorText('open', file, err as NodeJS.ErrnoException));
  }
  return parseConfString(text, file, opts ?? { confPrefix: path.dirname(file) });
}
