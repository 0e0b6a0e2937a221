/** printConf renders a ConfTree as nginx.conf text that parses back to the same tree (used by `-T`). */
import type { ConfDirective, ConfTree } from './tree.ts';

const NEEDS_QUOTES = /[\s;{}#"'\\]/;

/** quoteArg returns the argument as it must be written so that nginx's tokenizer reads it back unchanged. */
export function quoteArg(arg: string): string {
  if (arg !== '' && !NEEDS_QUOTES.test(arg)) return arg;
  let out = '"';
  for (let i = 0; i < arg.length; i++) {
    const c = arg[i]!;
    const n = arg[i + 1];
    if (c === '"') out += '\\"';
    else if (c === '\t') out += '\\t';
    else if (c === '\r') out += '\\r';
    else if (c === '\n') out += '\\n';
    else if (c === '\\' && (n === undefined || n === '"' || n === "'" || n === '\\' || n === 't' || n === 'r' || n === 'n')) out += '\\\\';
    else out += c;
  }
  return out + '"';
}

function printBlock(block: ConfDirective[], indent: string, lines: string[]): void {
  for (const d of block) {
    const head = [quoteArg(d.name), ...d.args.map(quoteArg)].join(' ');
    if (d.block) {
      lines.push(`${indent}${head} {`);
      printBlock(d.block, indent + '    ', lines);
      lines.push(`${indent}}`);
    } else {
      lines.push(`${indent}${head};`);
    }
  }
}

export function printConf(tree: ConfTree): string {
  const lines: string[] = [];
  printBlock(tree, '', lines);
  return lines.join('\n') + '\n';
}
