/**
 * A test-only HTTP module (added by test/support/serve.ts, never by dataplane/modules.ts): `echo_body;` makes a
 * location read the whole request body and answer with its length and bytes, so tests can drive the body
 * reader (Content-Length, chunked, limits, timeouts, 100-continue) through a real connection.
 */
import { ARGS, CTX } from '../../dataplane/core/module.ts';
import type { CoreLocConf } from '../../dataplane/http/core-conf.ts';
import type { HttpRequest } from '../../dataplane/http/request.ts';
import { DONE, OK, defineHttpModule } from '../../dataplane/http/types.ts';
import { httpCoreModule } from '../../dataplane/http/core-module.ts';

function echoBody(r: HttpRequest): number {
  r.conn.readBody(r, {
    onEnd(status) {
      if (status !== 0) return r.finalize(status);
      const body = r.body ? Buffer.concat(r.body) : Buffer.alloc(0);
      r.respond(200, 'text/plain', Buffer.concat([Buffer.from(`len=${body.length}\n`), body]));
      r.finalize(OK);
    },
  });
  return DONE;
}

/** echoModule provides `echo_body`, `test_response` and `test_auto_redirect`. */
export const echoModule = defineHttpModule({
  name: 'test_echo_module',
  type: 'http',
  directives: [
    {
      name: 'echo_body',
      contexts: CTX.HTTP_LOC,
      args: ARGS.NOARGS,
      conf: 'loc',
      set(cf, _d) {
        const clcf = cf.level.loc![cf.index(httpCoreModule)] as CoreLocConf;
        clcf.handler = echoBody;
      },
    },
    {
      // Stands in for a proxied upstream's response: `test_response 401 "WWW-Authenticate: Basic" …` answers with
      // that status and those headers (content handlers' headers reach subrequests, unlike add_header's).
      name: 'test_response',
      contexts: CTX.HTTP_LOC,
      args: ARGS.ONEMORE,
      conf: 'loc',
      set(cf, d) {
        const status = Number(d.args[0]);
        const headers = d.args.slice(1).flatMap((h) => {
          const i = h.indexOf(':');
          return [h.slice(0, i), h.slice(i + 1).trim()];
        });
        const clcf = cf.level.loc![cf.index(httpCoreModule)] as CoreLocConf;
        clcf.handler = (r: HttpRequest) => {
          r.out.headers.push(...headers);
          return r.respond(status, 'text/plain', Buffer.from(`${status}\n`));
        };
      },
    },
    {
      // Stands in for proxy_pass and friends, which ask for nginx's auto_redirect of `/dir` to `/dir/`.
      name: 'test_auto_redirect',
      contexts: CTX.HTTP_LOC,
      args: ARGS.NOARGS,
      conf: 'loc',
      set(cf, _d) {
        (cf.level.loc![cf.index(httpCoreModule)] as CoreLocConf).autoRedirect = true;
      },
    },
  ],
});
