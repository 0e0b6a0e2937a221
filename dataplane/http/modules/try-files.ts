/**
 * ngx_http_try_files_module: `try_files file … uri|=code|@name` as a precontent-phase handler. Each candidate is
 * mapped onto the file system with the location's root or alias; a name ending in `/` must be a directory,
 * any other a non-directory. The first that exists becomes the request's URI (same location, no new
 * search); otherwise the last argument is an internal redirect, a named location, or a status.
 */
import fs from 'node:fs';
import type { ConfCtx } from '../../core/conf.ts';
import { ARGS, CTX } from '../../core/module.ts';
import type { ConfDirective } from '../../core/tree.ts';
import { parseNumber } from '../../core/values.ts';
import { DECLINED, DONE, PHASE, defineHttpModule, type PhaseHandler } from '../types.ts';
import { compileTemplate, evaluate, type Template } from '../variables.ts';
import { mapUriToPath } from '../variables-core.ts';
import type { HttpRequest } from '../request.ts';

export interface TryFilesLocConf {
  files?: Template[];
  /** The fallback: a URI template, `@name`, or a status (`=404`). */
  fallback?: { uri?: Template; named?: string; status?: number };
}

function tryFilesDirective(cf: ConfCtx, d: ConfDirective, conf: TryFilesLocConf): string | void {
  if (conf.files) return 'is duplicate';
  const last = d.args[d.args.length - 1]!;
  if (last.startsWith('=')) {
    const code = parseNumber(last.slice(1));
    if (code === undefined || code > 999) cf.error(`invalid code "${last}"`);
    conf.fallback = { status: code };
  } else if (last.startsWith('@')) conf.fallback = { named: last.slice(1) };
  else conf.fallback = { uri: compileTemplate(cf, last) };
  conf.files = d.args.slice(0, -1).map((a) => compileTemplate(cf, a));
}

function tryFiles(r: HttpRequest, conf: TryFilesLocConf): number {
  const files = conf.files!;
  for (let i = 0; i < files.length; i++) {
    const name = evaluate(r, files[i]!);
    if (name === '') continue;
    const dir = name.endsWith('/');
    const st = fs.statSync(mapUriToPath(r, name), { throwIfNoEntry: false });
    if (st === undefined || st.isDirectory() !== dir) continue;
    r.uri = name;
    return DECLINED;
  }
  const fb = conf.fallback!;
  if (fb.status !== undefined) return fb.status;
  if (fb.named !== undefined) {
    r.http.namedLocation(r, fb.named);
    return DONE;
  }
  const target = evaluate(r, fb.uri!);
  const q = target.indexOf('?');
  r.http.internalRedirect(r, q < 0 ? target : target.slice(0, q), q < 0 ? '' : target.slice(q + 1));
  return DONE;
}

function handler(cf: ConfCtx): PhaseHandler {
  const idx = cf.index(httpTryFilesModule);
  return (r) => {
    const conf = r.loc.confs[idx] as TryFilesLocConf | undefined;
    return conf?.files ? tryFiles(r, conf) : DECLINED;
  };
}

export const httpTryFilesModule = defineHttpModule<undefined, undefined, TryFilesLocConf>({
  name: 'ngx_http_try_files_module',
  type: 'http',
  directives: [{ name: 'try_files', contexts: CTX.HTTP_SRV | CTX.HTTP_LOC, args: ARGS.TWOMORE, conf: 'loc', set: tryFilesDirective }],
  // Not inherited: a server-level try_files applies only when no location matches, as in nginx.
  createLocConf: () => ({}),
  phases: [{ phase: PHASE.PRECONTENT, handler }],
});
