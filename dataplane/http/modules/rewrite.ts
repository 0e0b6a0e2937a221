/**
 * ngx_http_rewrite_module: a small program per server and per location, run in the server-rewrite and
 * rewrite phases. Each directive compiles to a step; a step returns DECLINED to go on, or a code that ends the
 * rewrite phase (a status to finalize with, OK after sending a response).
 */
import type { ConfCtx } from '../../core/conf.ts';
import { ARGS, CTX } from '../../core/module.ts';
import type { ConfDirective } from '../../core/tree.ts';
import { parseNumber } from '../../core/values.ts';
import type { HttpRequest } from '../request.ts';
import { DECLINED, OK, PHASE, defineHttpModule, type PhaseHandler } from '../types.ts';
import { compileTemplate, evaluate, type Template } from '../variables.ts';

/** RewriteStep is one compiled rewrite-module directive. */
export type RewriteStep = (r: HttpRequest) => number;

export interface RewriteLocConf {
  steps?: RewriteStep[];
  log?: boolean;
  uninitializedVariableWarn?: boolean;
}

const REWRITE_CTX = CTX.HTTP_SRV | CTX.HTTP_SIF | CTX.HTTP_LOC | CTX.HTTP_LIF;

/** addStep appends a compiled step to the conf of the block being read (server, location or if). */
export function addStep(conf: RewriteLocConf, step: RewriteStep): void {
  (conf.steps ??= []).push(step);
}

/** sendText answers with a complete in-memory body (used by `return code text`). */
export function sendText(r: HttpRequest, status: number, body: Buffer): number {
  r.out.status = status;
  r.out.contentType = r.loc.defaultType;
  r.out.contentLength = body.length;
  r.sendHeader();
  r.send(r.headerOnly ? null : body, true);
  return OK;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

function returnDirective(cf: ConfCtx, d: ConfDirective, conf: RewriteLocConf): string | void {
  const [first, second] = d.args;
  let status = parseNumber(first!);
  let text: Template | undefined;
  if (status === undefined) {
    if (d.args.length === 2 || !/^(https?:\/\/|\$scheme)/.test(first!)) cf.error(`invalid return code "${first}"`);
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

function runSteps(r: HttpRequest, idx: number): number {
  const conf = r.loc.confs[idx] as RewriteLocConf | undefined;
  const steps = conf?.steps;
  if (!steps) return DECLINED;
  for (let i = 0; i < steps.length; i++) {
    const rc = steps[i]!(r);
    if (rc !== DECLINED) return rc;
  }
  return DECLINED;
}

function rewriteHandler(cf: ConfCtx): PhaseHandler {
  const idx = cf.index(httpRewriteModule);
  return (r) => runSteps(r, idx);
}

export const httpRewriteModule = defineHttpModule<undefined, undefined, RewriteLocConf>({
  name: 'ngx_http_rewrite_module',
  type: 'http',
  configureArg: '--with-http_rewrite_module',
  directives: [{ name: 'return', contexts: REWRITE_CTX, args: ARGS.TAKE12, conf: 'loc', set: returnDirective }],
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
