/**
 * ngx_http_charset_filter_module, without recoding: `charset name` adds `; charset=name` to the Content-Type
 * of responses whose type is in `charset_types`; `override_charset` replaces a charset already set.
 * `source_charset` is accepted when it names the same charset; recoding tables (`charset_map`) are not built.
 */
import type { ConfCtx } from '../../core/conf.ts';
import { ARGS, CTX } from '../../core/module.ts';
import { flagSlot } from '../../core/slots.ts';
import type { ConfDirective } from '../../core/tree.ts';
import { defineHttpModule, type HeaderFilter, type HttpModule } from '../types.ts';

export interface CharsetLocConf {
  /** The charset to announce; '' is `off`. */
  charset?: string;
  source?: string;
  types?: Set<string>;
  override?: boolean;
}

const LOC = CTX.HTTP_MAIN | CTX.HTTP_SRV | CTX.HTTP_LOC;
const DEFAULT_TYPES = ['text/html', 'text/xml', 'text/plain', 'text/vnd.wap.wml', 'application/javascript', 'application/rss+xml'];

function charsetDirective(field: 'charset' | 'source') {
  return (_cf: ConfCtx, d: ConfDirective, conf: CharsetLocConf): string | void => {
    if (conf[field] !== undefined) return 'is duplicate';
    const v = d.args[0]!;
    conf[field] = field === 'charset' && v === 'off' ? '' : v.toLowerCase();
  };
}

function typesDirective(_cf: ConfCtx, d: ConfDirective, conf: CharsetLocConf): string | void {
  const set = (conf.types ??= new Set(['text/html']));
  for (const t of d.args) set.add(t.toLowerCase());
}

export const httpCharsetFilterModule: HttpModule<undefined, undefined, CharsetLocConf> = defineHttpModule<undefined, undefined, CharsetLocConf>({
  name: 'ngx_http_charset_filter_module',
  type: 'http',
  directives: [
    { name: 'charset', contexts: LOC | CTX.HTTP_LIF, args: ARGS.TAKE1, conf: 'loc', set: charsetDirective('charset') },
    { name: 'source_charset', contexts: LOC | CTX.HTTP_LIF, args: ARGS.TAKE1, conf: 'loc', set: charsetDirective('source') },
    { name: 'override_charset', contexts: LOC | CTX.HTTP_LIF, args: ARGS.FLAG, conf: 'loc', set: flagSlot('override') },
    { name: 'charset_types', contexts: LOC, args: ARGS.ONEMORE, conf: 'loc', set: typesDirective },
  ],
  createLocConf: () => ({}),
  mergeLocConf(cf, p, c) {
    c.charset ??= p.charset ?? '';
    c.source ??= p.source ?? '';
    c.types ??= p.types ?? new Set(DEFAULT_TYPES);
    c.override ??= p.override ?? false;
    if (c.charset && c.source && c.charset !== c.source) {
      cf.error(`no "charset_map" between the charsets "${c.source}" and "${c.charset}"`);
    }
  },
  headerFilter(next, cf): HeaderFilter {
    const idx = cf.index(httpCharsetFilterModule);
    return (r) => {
      const conf = r.loc.confs[idx] as CharsetLocConf;
      const o = r.out;
      if (conf.charset && o.contentType !== undefined && (o.charset === undefined || conf.override) && conf.types!.has(o.contentType.toLowerCase())) {
        o.charset = conf.charset;
      }
      return next(r);
    };
  },
});
