/**
 * ngx_http_auth_request_module: `auth_request uri|off` asks a subrequest whether the client may pass: 2xx
 * allows, 401 and 403 are returned to the client (401 with the subrequest's WWW-Authenticate), anything else
 * is a 500. `auth_request_set $var value` evaluates `value` against the subrequest's response (its headers,
 * its upstream variables) and stores it on the request, as nginx does, for whatever handles it next.
 */
import type { ConfCtx } from '../../core/conf.ts';
import { ARGS, CTX } from '../../core/module.ts';
import type { ConfDirective } from '../../core/tree.ts';
import type { HttpRequest } from '../request.ts';
import { logRequest } from '../request-log.ts';
import { AGAIN, DECLINED, ERROR, OK, PHASE, defineHttpModule, type PhaseHandler, type VariableDef } from '../types.ts';
import { compileTemplate, declareVariable, evaluate, type Template } from '../variables.ts';
import { httpMainConf } from '../http-module.ts';

/** AuthRequestSet is one `auth_request_set $name value`. */
interface AuthRequestSet {
  name: string;
  def: VariableDef;
  value: Template;
}

export interface AuthRequestLocConf {
  /** undefined: inherit; null: off. */
  uri?: string | null;
  sets?: AuthRequestSet[];
}

/** AuthRequestCtx follows one request's auth subrequest. */
interface AuthRequestCtx {
  done: boolean;
  /** True while the handler that started the subrequest has not returned yet. */
  inHandler: boolean;
  sr: HttpRequest | undefined;
}

const AUTH_CTX = CTX.HTTP_MAIN | CTX.HTTP_SRV | CTX.HTTP_LOC;

function authRequest(_cf: ConfCtx, d: ConfDirective, conf: AuthRequestLocConf): string | void {
  if (conf.uri !== undefined) return 'is duplicate';
  conf.uri = d.args[0] === 'off' ? null : d.args[0]!;
}

function authRequestSet(cf: ConfCtx, d: ConfDirective, conf: AuthRequestLocConf): string | void {
  const v = d.args[0]!;
  if (!v.startsWith('$')) cf.error(`invalid variable name "${v}"`);
  const name = v.slice(1).toLowerCase();
  const def = declareVariable(httpMainConf(cf), {
    name,
    // Holds a value only once auth_request stored one in the request's variable cache.
    get: () => undefined,
    set: (r, n, value) => void r.vars.set(n, value),
  });
  (conf.sets ??= []).push({ name, def, value: compileTemplate(cf, d.args[1]!) });
}

function result(r: HttpRequest, conf: AuthRequestLocConf, ctx: AuthRequestCtx): number {
  const sr = ctx.sr!;
  for (const s of conf.sets ?? []) {
    const value = evaluate(sr, s.value);
    if (s.def.set) s.def.set(r, s.name, value);
    else r.vars.set(s.name, value);
  }
  const status = sr.out.status;
  if (status === 403) return 403;
  if (status === 401) {
    const h = sr.out.headers;
    for (let i = 0; i < h.length; i += 2) if (h[i]!.toLowerCase() === 'www-authenticate') r.addHeader('WWW-Authenticate', h[i + 1]!);
    return 401;
  }
  if (status >= 200 && status < 300) return OK;
  logRequest(r, 'error', `auth request unexpected status: ${status}`);
  return 500;
}

function handler(cf: ConfCtx): PhaseHandler {
  const idx = cf.index(httpAuthRequestModule);
  return (r) => {
    const conf = r.loc.confs[idx] as AuthRequestLocConf;
    if (!conf.uri) return DECLINED;
    let ctx = r.ctx[idx] as AuthRequestCtx | undefined;
    if (ctx) return ctx.done ? result(r, conf, ctx) : AGAIN;
    ctx = { done: false, inHandler: true, sr: undefined };
    r.ctx[idx] = ctx;
    const state = ctx;
    const q = conf.uri.indexOf('?');
    const ok = r.subrequest(q < 0 ? conf.uri : conf.uri.slice(0, q), q < 0 ? '' : conf.uri.slice(q + 1), { headerOnly: true }, (sr) => {
      state.sr = sr;
      state.done = true;
      if (!state.inHandler && !r.finalized) r.http.runPhases(r);
    });
    state.inHandler = false;
    if (!ok) return ERROR;
    return state.done ? result(r, conf, state) : AGAIN;
  };
}

export const httpAuthRequestModule = defineHttpModule<undefined, undefined, AuthRequestLocConf>({
  name: 'ngx_http_auth_request_module',
  type: 'http',
  configureArg: '--with-http_auth_request_module',
  directives: [
    { name: 'auth_request', contexts: AUTH_CTX, args: ARGS.TAKE1, conf: 'loc', set: authRequest },
    { name: 'auth_request_set', contexts: AUTH_CTX, args: ARGS.TAKE2, conf: 'loc', set: authRequestSet },
  ],
  createLocConf: () => ({}),
  mergeLocConf(_cf, p, c) {
    if (c.uri === undefined) c.uri = p.uri;
    c.sets ??= p.sets;
  },
  phases: [{ phase: PHASE.ACCESS, handler }],
});
