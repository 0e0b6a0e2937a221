/**
 * ngx_http_index_module: for a URI ending in `/`, the first `index` file that exists becomes an internal
 * redirect to uri + name (so its own location applies); an index name starting with `/` is a redirect target
 * used as is. With none found the request goes on (autoindex, or 403), or is 404 when the directory is missing.
 */
import fs from 'node:fs';
import type { ConfCtx } from '../../core/conf.ts';
import { ARGS, CTX } from '../../core/module.ts';
import type { ConfDirective } from '../../core/tree.ts';
import type { HttpRequest } from '../request.ts';
import { DECLINED, DONE, PHASE, defineHttpModule, type PhaseHandler } from '../types.ts';
import { compileTemplate, evaluate, type Template } from '../variables.ts';
import { mapUriToPath } from '../variables-core.ts';
import { openError } from './static.ts';

export interface IndexLocConf {
  indices?: Template[];
}

function indexDirective(cf: ConfCtx, d: ConfDirective, conf: IndexLocConf): string | void {
  const list = (conf.indices ??= []);
  for (const a of d.args) {
    if (a === '') cf.error(`index "" in "index" directive is invalid`);
    list.push(compileTemplate(cf, a));
  }
}

function indexHandler(cf: ConfCtx): PhaseHandler {
  const idx = cf.index(httpIndexModule);
  return (r: HttpRequest) => {
    if (!r.uri.endsWith('/')) return DECLINED;
    if (r.method !== 'GET' && r.method !== 'HEAD' && r.method !== 'POST') return DECLINED;
    const conf = r.loc.confs[idx] as IndexLocConf;
    const dir = mapUriToPath(r, r.uri);
    for (const t of conf.indices!) {
      const name = evaluate(r, t);
      if (name.startsWith('/')) {
        r.http.internalRedirect(r, name, r.args);
        return DONE;
      }
      const st = fs.statSync(dir + name, { throwIfNoEntry: false });
      if (st === undefined || st.isDirectory()) continue;
      r.http.internalRedirect(r, r.uri + name, r.args);
      return DONE;
    }
    try {
      if (fs.statSync(dir).isDirectory()) return DECLINED;
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      if (e.code === 'ENOENT') {
        r.http.cycle.log?.log('error', `*${r.conn.id} "${dir}" is not found (2: No such file or directory), client: ${r.conn.remoteAddress}`);
        return 404;
      }
      return openError(r, dir, e);
    }
    return DECLINED;
  };
}

export const httpIndexModule = defineHttpModule<undefined, undefined, IndexLocConf>({
  name: 'ngx_http_index_module',
  type: 'http',
  directives: [{ name: 'index', contexts: CTX.HTTP_MAIN | CTX.HTTP_SRV | CTX.HTTP_LOC, args: ARGS.ONEMORE, conf: 'loc', set: indexDirective }],
  createLocConf: () => ({}),
  mergeLocConf(cf, p, c) {
    c.indices ??= p.indices ?? [compileTemplate(cf, 'index.html')];
  },
  phases: [{ phase: PHASE.CONTENT, handler: indexHandler }],
});
