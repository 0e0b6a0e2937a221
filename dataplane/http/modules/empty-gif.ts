/** ngx_http_empty_gif_module: `empty_gif;` answers with a 1×1 transparent GIF (43 bytes). */
import { ARGS, CTX } from '../../core/module.ts';
import type { CoreLocConf } from '../core-conf.ts';
import { httpCoreModule } from '../core-module.ts';
import type { HttpRequest } from '../request.ts';
import { defineHttpModule } from '../types.ts';

// The same 43 bytes nginx sends: GIF89a, 1×1 screen, a 2-colour table (black, white), a graphic control
// extension marking colour 0 transparent, one 1×1 image, trailer.
const GIF = Buffer.from([
  0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x01, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff,
  0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x01, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x02,
  0x02, 0x4c, 0x01, 0x00, 0x3b,
]);
/** nginx gives the image a fixed Last-Modified (23349600 s after the epoch), so caches can revalidate it. */
const LAST_MODIFIED = 23_349_600_000;

function emptyGif(r: HttpRequest): number {
  if (r.method !== 'GET' && r.method !== 'HEAD') return 405;
  r.conn.discardBody(r);
  r.out.lastModified = LAST_MODIFIED;
  return r.respond(200, 'image/gif', GIF);
}

export const httpEmptyGifModule = defineHttpModule({
  name: 'ngx_http_empty_gif_module',
  type: 'http',
  directives: [
    {
      name: 'empty_gif',
      contexts: CTX.HTTP_LOC,
      args: ARGS.NOARGS,
      conf: 'loc',
      set(cf) {
        (cf.level.loc![cf.index(httpCoreModule)] as CoreLocConf).handler = emptyGif;
      },
    },
  ],
});
