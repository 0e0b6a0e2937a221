/**
 * ngx_http_rewrite_module: a small program per server and per location, run in the server-rewrite and
 * rewrite phases. Each directive (return, rewrite, set, break, if) compiles to a step; a step returns DECLINED
 * to go on, BREAK to stop the program and go on with the phases, or a code that ends the rewrite phase (a
 * status to finalize with, OK after sending a response).
 */
import type { ConfCtx } from '../../core/conf.ts';
import { ARGS, CTX } from '../../core/module.ts';
import { flagSlot } from '../../core/slots.ts';
import type { ConfDirective } from '../../core/tree.ts';
import { parseNumber } from '../../core/values.ts';
import { compileRegex } from '../core-module.ts';
import { httpMainConf } from '../http-module.ts';
import type { HttpRequest } from '../request.ts';
import { DECLINED, OK, PHASE, defineHttpModule, type PhaseHandler } from '../types.ts';
import { compileTemplate, declareVariable, evaluate, findVariable, type Template } from '../variables.ts';
import { ifBlock } from './rewrite-if.ts';

/** RewriteStep is one compiled rewrite-module directive. */
export type RewriteStep = (r: HttpRequest) => number;

/** BREAK ends the rewrite program without ending the request (`break`, `rewrite … last|break`). */
export const BREAK = -100;

export interface RewriteLocConf {
  steps?: RewriteStep[];
  log?: boolean;
  uninitializedVariableWarn?: boolean;
}

/** REWRITE_CTX: where rewrite-module directives may appear. */
export const REWRITE_CTX = CTX.HTTP_SRV | CTX.HTTP_SIF | CTX.HTTP_LOC | CTX.HTTP_LIF;

/** addStep appends a compiled step to the conf of the block being read (server, location or if). */
export function addStep(conf: RewriteLocConf, step: RewriteStep): void {
  (conf.steps ??= []).push(step);
}

/** sendText answers with a complete in-memory body (used by `return code text`). */
export function sendText(r: HttpRequest, status: number, body: Buffer): number {
  r.conn.discardBody(r);
  return r.respond(status, r.loc.defaultType, body);
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const ABSOLUTE = /^(https?:\/\/|\$scheme)/;

function returnDirective(cf: ConfCtx, d: ConfDirective, conf: RewriteLocConf): string | void {
  const [first, second] = d.args;
  let status = parseNumber(first!);
  let text: Template | undefined;
  if (status === undefined) {
    if (d.args.length === 2 || !ABSOLUTE.test(first!)) cf.error(`invalid return code "${first}"`);
    status = 302;
    text = compileTemplate(cf, first!);
  } else {
    if (status > 999) cf.error(`invalid return code "${first}"`);
    if (second !== undefined) text = compileTemplate(cf, second);
  }
  const code = status;
  if (REDIRECTS.has(code) && text) {
    const t = text;
    addStep(conf, (r) => {
      r.out.location = evaluate(r, t);
      return code;
    });
    return;
  }
  if (!text || code === 444) {
    addStep(conf, () => code);
    return;
  }
  const t = text;
  const constant = t.constant !== undefined ? Buffer.from(t.constant) : undefined;
  addStep(conf, (r) => sendText(r, code, constant ?? Buffer.from(evaluate(r, t))));
}

/** escapeArgs percent-encodes a capture copied into the query part, as nginx's NGX_ESCAPE_ARGS. */
function escapeArgs(s: string): string {
  return s.replace(/[\x00-\x20"#%&+;?\x7f-\xff]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0'));
}

/** evaluateReplacement renders a rewrite replacement; captures after a `?` are escaped for the query. */
function evaluateReplacement(r: HttpRequest, t: Template, m: RegExpExecArray): string {
  if (t.constant !== undefined) return t.constant;
  let out = '';
  let inArgs = false;
  for (const p of t.parts) {
    if (typeof p === 'string') {
      out += p;
      if (p.includes('?')) inArgs = true;
    } else if (p.capture >= 0) out += inArgs ? escapeArgs(m[p.capture] ?? '') : (m[p.capture] ?? '');
    else out += evaluate(r, { source: '', constant: undefined, parts: [p] });
  }
  return out;
}

function rewriteDirective(cf: ConfCtx, d: ConfDirective, conf: RewriteLocConf): string | void {
  const [pattern, replacement, flag] = d.args as [string, string, string | undefined];
  const regex = compileRegex(cf, pattern, false);
  let status = 0;
  let last = false;
  let breaks = false;
  if (ABSOLUTE.test(replacement)) status = 302;
  if (flag !== undefined) {
    if (flag === 'last') last = true;
    else if (flag === 'break') breaks = true;
    else if (flag === 'redirect') status = 302;
    else if (flag === 'permanent') status = 301;
    else cf.error(`invalid parameter "${flag}"`);
  }
  // A trailing `?` drops the original arguments; any other `?` puts new ones first.
  const dropArgs = replacement.endsWith('?');
  const text = compileTemplate(cf, dropArgs ? replacement.slice(0, -1) : replacement);
  const hasArgs = replacement.indexOf('?') >= 0 && replacement.indexOf('?') < replacement.length - 1;
  const idx = cf.index(httpRewriteModule);
  addStep(conf, (r) => {
    const m = regex.exec(r.uri);
    const rlcf = r.loc.confs[idx] as RewriteLocConf;
    if (!m) {
      if (rlcf.log) r.http.cycle.log?.log('notice', `*${r.conn.id} "${pattern}" does not match "${r.uri}", client: ${r.conn.remoteAddress}`);
      return DECLINED;
    }
    if (rlcf.log) r.http.cycle.log?.log('notice', `*${r.conn.id} "${pattern}" matches "${r.uri}", client: ${r.conn.remoteAddress}`);
    r.captures = m;
    const value = evaluateReplacement(r, text, m);
    let uri = value;
    let args = r.args;
    if (hasArgs) {
      const q = value.indexOf('?');
      uri = value.slice(0, q);
      args = dropArgs || !r.args ? value.slice(q + 1) : `${value.slice(q + 1)}&${r.args}`;
    } else if (dropArgs) args = '';
    if (status) {
      r.out.location = args ? `${uri}?${args}` : uri;
      return status;
    }
    if (uri === '') {
      r.http.cycle.log?.log('error', `*${r.conn.id} the rewritten URI has a zero length, client: ${r.conn.remoteAddress}`);
      return 500;
    }
    if (rlcf.log) r.http.cycle.log?.log('notice', `*${r.conn.id} rewritten data: "${uri}", args: "${args}", client: ${r.conn.remoteAddress}`);
    r.uri = uri;
    r.args = args;
    r.internal = true;
    r.validUnparsedUri = false;
    if (breaks) {
      // nginx's valid_location = 0: proxy_pass then ignores its URI part and sends the whole changed URI.
      r.validLocation = false;
      r.uriChanged = false;
      return BREAK;
    }
    r.uriChanged = true;
    return last ? BREAK : DECLINED;
  });
}

function breakDirective(_cf: ConfCtx, _d: ConfDirective, conf: RewriteLocConf): string | void {
  addStep(conf, (r) => {
    r.uriChanged = false;
    return BREAK;
  });
}

function setDirective(cf: ConfCtx, d: ConfDirective, conf: RewriteLocConf): string | void {
  const [nameArg, valueArg] = d.args as [string, string];
  if (!nameArg.startsWith('$')) cf.error(`invalid variable name "${nameArg}"`);
  const name = nameArg.slice(1).toLowerCase();
  const cmcf = httpMainConf(cf);
  let def = findVariable(cmcf, name);
  if (def && !def.set) cf.error(`the duplicate "${name}" variable`);
  if (!def) def = declareVariable(cmcf, userVariable(cf, name));
  const value = compileTemplate(cf, valueArg);
  const setter = def.set!;
  addStep(conf, (r) => {
    setter(r, name, evaluate(r, value));
    r.vars.delete(name);
    return DECLINED;
  });
}

/** userVariable is a variable created by `set`; reading it before any `set` ran is "uninitialized". */
function userVariable(cf: ConfCtx, name: string): import('../types.ts').VariableDef {
  const idx = cf.index(httpRewriteModule);
  return {
    name,
    nocache: true,
    get(r) {
      const v = r.userVars?.get(name);
      if (v === undefined && (r.loc.confs[idx] as RewriteLocConf | undefined)?.uninitializedVariableWarn) {
        r.http.cycle.log?.log('warn', `*${r.conn.id} using uninitialized "${name}" variable, client: ${r.conn.remoteAddress}`);
      }
      return v;
    },
    set(r, _n, value) {
      (r.userVars ??= new Map()).set(name, value);
    },
  };
}

/** runSteps runs a conf's program; shared with `if` blocks, whose steps run inline. */
export function runSteps(r: HttpRequest, steps: RewriteStep[] | undefined): number {
  if (!steps) return DECLINED;
  for (let i = 0; i < steps.length; i++) {
    const rc = steps[i]!(r);
    if (rc !== DECLINED) return rc;
  }
  return DECLINED;
}

function rewriteHandler(cf: ConfCtx): PhaseHandler {
  const idx = cf.index(httpRewriteModule);
  return (r) => {
    const rc = runSteps(r, (r.loc.confs[idx] as RewriteLocConf | undefined)?.steps);
    return rc === BREAK ? DECLINED : rc;
  };
}

export const httpRewriteModule = defineHttpModule<undefined, undefined, RewriteLocConf>({
  name: 'ngx_http_rewrite_module',
  type: 'http',
  configureArg: '--with-http_rewrite_module',
  directives: [
    { name: 'return', contexts: REWRITE_CTX, args: ARGS.TAKE12, conf: 'loc', set: returnDirective },
    { name: 'rewrite', contexts: REWRITE_CTX, args: ARGS.TAKE23, conf: 'loc', set: rewriteDirective },
    { name: 'break', contexts: REWRITE_CTX, args: ARGS.NOARGS, conf: 'loc', set: breakDirective },
    { name: 'set', contexts: REWRITE_CTX, args: ARGS.TAKE2, conf: 'loc', set: setDirective },
    { name: 'if', contexts: CTX.HTTP_SRV | CTX.HTTP_LOC, args: ARGS.BLOCK | ARGS.ONEMORE, conf: 'loc', set: (cf, d, conf) => ifBlock(cf, d, conf) },
    { name: 'rewrite_log', contexts: CTX.HTTP_MAIN | REWRITE_CTX, args: ARGS.FLAG, conf: 'loc', set: flagSlot('log') },
    { name: 'uninitialized_variable_warn', contexts: CTX.HTTP_MAIN | REWRITE_CTX, args: ARGS.FLAG, conf: 'loc', set: flagSlot('uninitializedVariableWarn') },
  ],
  createLocConf: () => ({}),
  mergeLocConf(_cf, p, c) {
    c.log ??= p.log ?? false;
    c.uninitializedVariableWarn ??= p.uninitializedVariableWarn ?? true;
  },
  phases: [
    { phase: PHASE.SERVER_REWRITE, handler: rewriteHandler },
    { phase: PHASE.REWRITE, handler: rewriteHandler },
  ],
});
