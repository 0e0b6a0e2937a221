/**
 * The rewrite module's `if` block (ngx_http_rewrite_if): a condition, and a pseudo-location whose confs are
 * merged from the enclosing location. When the condition holds, the request switches to that location (its
 * content handler, root, error pages …) and the block's rewrite steps run inline; otherwise they are skipped.
 */
import fs from 'node:fs';
import type { ConfCtx } from '../../core/conf.ts';
import { CTX } from '../../core/module.ts';
import type { ConfDirective } from '../../core/tree.ts';
import type { CoreLocConf } from '../core-conf.ts';
import { compileRegex, createLocLevel, httpCoreModule } from '../core-module.ts';
import type { HttpRequest } from '../request.ts';
import { DECLINED, type HttpLevel } from '../types.ts';
import { compileTemplate, evaluate } from '../variables.ts';
import { addStep, httpRewriteModule, runSteps, type RewriteLocConf } from './rewrite.ts';

type Condition = (r: HttpRequest) => boolean;

/** ifBlock reads `if (condition) { … }` in a server or location. */
export function ifBlock(cf: ConfCtx, d: ConfDirective, conf: RewriteLocConf): string | void {
  const core = cf.index(httpCoreModule);
  const parent = cf.level.loc![core] as CoreLocConf;
  const level = createLocLevel(cf, cf.level as HttpLevel);
  const clcf = level.loc[core] as CoreLocConf;
  clcf.name = parent.name;
  clcf.match = 'if';
  clcf.file = d.file;
  clcf.line = d.line;
  clcf.parent = parent;
  // Listed among the parent's children so the http block merges its confs like any nested location's.
  parent.children.push(clcf);
  const cond = compileCondition(cf, d);
  const inner = level.loc[cf.index(httpRewriteModule)] as RewriteLocConf;
  cf.parse(d.block!, cf.ctx === CTX.HTTP_SRV ? CTX.HTTP_SIF : CTX.HTTP_LIF, level);
  addStep(conf, (r) => {
    if (!cond(r)) return DECLINED;
    r.loc = clcf;
    if (clcf.handler) r.contentHandler = clcf.handler;
    return runSteps(r, inner.steps);
  });
}

const FILE_TESTS = new Set(['-f', '!-f', '-d', '!-d', '-e', '!-e', '-x', '!-x']);

function compileCondition(cf: ConfCtx, d: ConfDirective): Condition {
  const a = [...d.args];
  if (!a[0]!.startsWith('(')) cf.error(`invalid condition "${a[0]}"`);
  a[0] = a[0]!.slice(1);
  if (a[0] === '') a.shift();
  const lastArg = a[a.length - 1];
  if (lastArg === undefined || !lastArg.endsWith(')')) cf.error(`invalid condition "${d.args[d.args.length - 1]}"`);
  a[a.length - 1] = lastArg.slice(0, -1);
  if (a[a.length - 1] === '') a.pop();
  if (a.length === 0) cf.error(`invalid condition "${d.args.join(' ')}"`);

  if (a.length === 2 && FILE_TESTS.has(a[0]!)) return fileTest(a[0]!, compileTemplate(cf, a[1]!));
  if (!a[0]!.startsWith('$')) cf.error(`invalid condition "${a[0]}"`);
  const subject = compileTemplate(cf, a[0]!);
  if (a.length === 1) {
    return (r) => {
      const v = evaluate(r, subject);
      return v !== '' && v !== '0';
    };
  }
  if (a.length !== 3) cf.error(`unexpected "${a[1]}" in condition`);
  const op = a[1]!;
  const operand = a[2]!;
  switch (op) {
    case '=':
    case '!=': {
      const value = compileTemplate(cf, operand);
      const want = op === '=';
      return (r) => (evaluate(r, subject) === evaluate(r, value)) === want;
    }
    case '~':
    case '~*':
    case '!~':
    case '!~*': {
      const regex = compileRegex(cf, operand, op.endsWith('*'));
      const negate = op.startsWith('!');
      return (r) => {
        const m = regex.exec(evaluate(r, subject));
        if (m && !negate) r.captures = m;
        return negate ? m === null : m !== null;
      };
    }
  }
  cf.error(`unexpected "${op}" in condition`);
}

function fileTest(op: string, path: import('../variables.ts').Template): Condition {
  const negate = op.startsWith('!');
  const kind = op[op.length - 1];
  return (r) => {
    const p = evaluate(r, path);
    let ok: boolean;
    if (kind === 'x') {
      try {
        fs.accessSync(p, fs.constants.X_OK);
        ok = !fs.statSync(p).isDirectory();
      } catch {
        ok = false;
      }
    } else {
      const st = fs.statSync(p, { throwIfNoEntry: false });
      ok = st !== undefined && (kind === 'e' || (kind === 'f' ? st.isFile() : st.isDirectory()));
    }
    return ok !== negate;
  };
}
