/**
 * ngx_http_v2_module: `http2 on` per server (and `listen … http2`), stream limits and the obsolete HTTP/2
 * directives nginx still accepts. The protocol itself is nghttp2 through node:http2 (./connection.ts).
 */
import type { ConfCtx } from '../../core/conf.ts';
import { ARGS, CTX } from '../../core/module.ts';
import { flagSlot, numSlot, sizeSlot } from '../../core/slots.ts';
import type { ConfDirective } from '../../core/tree.ts';
import type { CoreSrvConf } from '../core-conf.ts';
import { defineHttpModule } from '../types.ts';

export interface V2SrvConf {
  enable?: boolean;
  maxConcurrentStreams?: number;
  chunkSize?: number;
  bodyPrereadSize?: number;
}

const SRV = CTX.HTTP_MAIN | CTX.HTTP_SRV;

function obsolete(instead: string) {
  return (cf: ConfCtx, d: ConfDirective): void => {
    cf.warn(`the "${d.name}" directive is obsolete, ${instead}`);
  };
}

export const httpV2Module = defineHttpModule<undefined, V2SrvConf, undefined>({
  name: 'ngx_http_v2_module',
  type: 'http',
  configureArg: '--with-http_v2_module',
  directives: [
    { name: 'http2', contexts: SRV, args: ARGS.FLAG, conf: 'srv', set: flagSlot('enable') },
    { name: 'http2_max_concurrent_streams', contexts: SRV, args: ARGS.TAKE1, conf: 'srv', set: numSlot('maxConcurrentStreams') },
    { name: 'http2_chunk_size', contexts: SRV, args: ARGS.TAKE1, conf: 'srv', set: sizeSlot('chunkSize') },
    { name: 'http2_body_preread_size', contexts: SRV, args: ARGS.TAKE1, conf: 'srv', set: sizeSlot('bodyPrereadSize') },
    { name: 'http2_recv_buffer_size', contexts: CTX.HTTP_MAIN, args: ARGS.TAKE1, set: () => {} },
    { name: 'http2_idle_timeout', contexts: SRV, args: ARGS.TAKE1, set: obsolete('use the "keepalive_timeout" directive instead') },
    { name: 'http2_recv_timeout', contexts: SRV, args: ARGS.TAKE1, set: obsolete('use the "client_header_timeout" directive instead') },
    { name: 'http2_max_requests', contexts: SRV, args: ARGS.TAKE1, set: obsolete('use the "keepalive_requests" directive instead') },
    { name: 'http2_max_field_size', contexts: SRV, args: ARGS.TAKE1, set: obsolete('use the "large_client_header_buffers" directive instead') },
    { name: 'http2_max_header_size', contexts: SRV, args: ARGS.TAKE1, set: obsolete('use the "large_client_header_buffers" directive instead') },
    { name: 'http2_push', contexts: SRV | CTX.HTTP_LOC, args: ARGS.TAKE1, set: obsolete('HTTP/2 server push is not supported') },
    { name: 'http2_push_preload', contexts: SRV | CTX.HTTP_LOC, args: ARGS.FLAG, set: obsolete('HTTP/2 server push is not supported') },
  ],
  createSrvConf: () => ({}),
  mergeSrvConf(_cf, p, c) {
    c.enable ??= p.enable ?? false;
    c.maxConcurrentStreams ??= p.maxConcurrentStreams ?? 128;
    c.chunkSize ??= p.chunkSize ?? 8192;
    c.bodyPrereadSize ??= p.bodyPrereadSize ?? 65536;
  },
});

/** v2Conf returns a server's HTTP/2 conf, given the module's index in the cycle's registry. */
export function v2Conf(srv: CoreSrvConf, idx: number): V2SrvConf {
  return srv.level.srv[idx] as V2SrvConf;
}
