/**
 * The X-Accel-* response headers an upstream uses to steer the server (ngx_http_upstream's process_accel_*),
 * shared by every module that talks to upstreams (proxy_pass, grpc_pass).
 */
import type { HttpRequest } from './request.ts';

/** Response headers every upstream module hides by default (nginx's *_hide_headers share these). */
export const UPSTREAM_HIDDEN = ['date', 'server', 'x-accel-expires', 'x-accel-redirect', 'x-accel-limit-rate', 'x-accel-buffering', 'x-accel-charset'];

/** accelRedirect answers `r` from `uri` instead (X-Accel-Redirect): a named location or an internal redirect. */
export function accelRedirect(r: HttpRequest, uri: string): void {
  r.out = { status: 0, contentLength: -1, headers: [] };
  // As nginx: the redirected request is a GET (HEAD stays HEAD) without the original body.
  if (r.method !== 'HEAD') r.method = 'GET';
  if (uri.startsWith('@')) {
    r.http.namedLocation(r, uri.slice(1));
    return;
  }
  const q = uri.indexOf('?');
  r.http.internalRedirect(r, q < 0 ? uri : uri.slice(0, q), q < 0 ? '' : uri.slice(q + 1));
}
