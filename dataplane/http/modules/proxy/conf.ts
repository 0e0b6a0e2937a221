/**
 * ngx_http_proxy_module's location configuration: the directive table, `proxy_pass` parsing (URL, upstream
 * name, variables; nginx's rules on where a URI part is allowed) and the merge, which compiles the request
 * headers (nginx's defaults: Host $proxy_host, Connection close) and the default proxy_redirect once per
 * location.
 */
import fs from 'node:fs';
import tls from 'node:tls';
import type { ConfCtx } from '../../../core/conf.ts';
import { ARGS, CTX, type Directive } from '../../../core/module.ts';
import { bitmaskSlot, flagSlot, msecSlot, numSlot, sizeSlot, strArraySlot } from '../../../core/slots.ts';
import type { ConfDirective } from '../../../core/tree.ts';
import { parseNumber, parseSize } from '../../../core/values.ts';
import type { UpstreamGroup } from '../../../upstream/group.ts';
import { FAIL } from '../../../upstream/peer.ts';
import { referenceUpstream } from '../../../upstream/upstream-module.ts';
import { UPSTREAM_HIDDEN } from '../../accel.ts';
import { compileRegex, httpCoreModule } from '../../core-module.ts';
import type { CoreLocConf } from '../../core-conf.ts';
import type { ContentHandler } from '../../types.ts';
import { compileTemplate, type Template } from '../../variables.ts';
import { cookieDirectives, mergeCookieConf, type CookieConf } from './cookies.ts';

/** Next-upstream conditions (NGX_HTTP_UPSTREAM_FT_*). */
export const FT = {
  OFF: 1,
  ERROR: 2,
  TIMEOUT: 4,
  INVALID_HEADER: 8,
  HTTP_500: 16,
  HTTP_502: 32,
  HTTP_503: 64,
  HTTP_504: 128,
  HTTP_403: 256,
  HTTP_404: 512,
  HTTP_429: 1024,
  NON_IDEMPOTENT: 2048,
} as const;

/** FT_STATUS maps an upstream status to its next-upstream condition. */
export const FT_STATUS: Record<number, number> = { 500: FT.HTTP_500, 502: FT.HTTP_502, 503: FT.HTTP_503, 504: FT.HTTP_504, 403: FT.HTTP_403, 404: FT.HTTP_404, 429: FT.HTTP_429 };

/** failureOf maps a next-upstream condition to the peer failure reason it counts as (403/404 count as none). */
export function failureOf(ft: number): number {
  if (ft === FT.ERROR) return FAIL.ERROR;
  if (ft === FT.TIMEOUT) return FAIL.TIMEOUT;
  if (ft === FT.INVALID_HEADER) return FAIL.INVALID_HEADER;
  if (ft === FT.HTTP_429) return FAIL.HTTP_429;
  if (ft & (FT.HTTP_500 | FT.HTTP_502 | FT.HTTP_503 | FT.HTTP_504)) return FAIL.HTTP_5XX;
  return FAIL.NONE;
}

/** Response headers proxy_ignore_headers can disable (NGX_HTTP_UPSTREAM_IGN_*). */
export const IGN = {
  'x-accel-redirect': 1,
  'x-accel-expires': 2,
  'x-accel-limit-rate': 4,
  'x-accel-buffering': 8,
  'x-accel-charset': 16,
  expires: 32,
  'cache-control': 64,
  'set-cookie': 128,
  vary: 256,
} as const;

/** ProxyPass is a compiled `proxy_pass`: a fixed group and URI part, or a template evaluated per request. */
export interface ProxyPass {
  https: boolean;
  group: UpstreamGroup | undefined;
  url: Template | undefined;
  /** The URI part ('' when absent), for static targets. */
  uri: string;
  /** $proxy_host and $proxy_port of a static target. */
  host: string;
  port: string;
  /** "http://backend" as written, for the default proxy_redirect. */
  urlText: string;
  /** The location's name and kind (prefix replacement needs them). */
  locName: string;
  locMatch: string;
}

/** HeaderRow is one compiled request header (proxy_set_header or a default); empty values are not sent. */
export interface HeaderRow {
  name: string;
  value: Template;
}

/** RedirectRule is one proxy_redirect rule (prefix or regex) for Location and Refresh. */
export interface RedirectRule {
  prefix: Template | undefined;
  regex: RegExp | undefined;
  replacement: Template;
}

export interface ProxyLocConf extends CookieConf {
  pass?: ProxyPass;
  setHeaders?: [string, string][];
  headers?: HeaderRow[];
  /** Lowercase names of request headers not copied from the client (set or suppressed by the table). */
  overridden?: Set<string>;
  httpVersion?: string;
  passRequestHeaders?: boolean;
  passRequestBody?: boolean;
  hideHeaders?: string[];
  passHeaders?: string[];
  hide?: Set<string>;
  redirectSpec?: 'off' | 'default' | [string, string][];
  redirects?: RedirectRule[];
  interceptErrors?: boolean;
  ignoreHeaders?: number;
  requestBuffering?: boolean;
  buffering?: boolean;
  bufferSize?: number;
  buffers?: { num: number; size: number };
  busyBuffersSize?: number;
  maxTempFileSize?: number;
  tempFileWriteSize?: number;
  connectTimeout?: number;
  sendTimeout?: number;
  readTimeout?: number;
  nextUpstream?: number;
  nextUpstreamTries?: number;
  nextUpstreamTimeout?: number;
  sslServerName?: boolean;
  sslName?: string;
  sslNameTemplate?: Template;
  sslVerify?: boolean;
  sslVerifyDepth?: number;
  sslTrustedCertificate?: string;
  sslCertificate?: string;
  sslCertificateKey?: string;
  sslProtocols?: string[];
  sslContext?: tls.SecureContext;
  sslOptions?: { minVersion?: tls.SecureVersion; maxVersion?: tls.SecureVersion };
}

const LOC = CTX.HTTP_MAIN | CTX.HTTP_SRV | CTX.HTTP_LOC;

/** The request headers nginx's proxy module sets by default (ngx_http_proxy_headers). */
const DEFAULT_HEADERS: [string, string][] = [
  ['Host', '$proxy_host'],
  ['Connection', 'close'],
  ['TE', ''],
  ['Keep-Alive', ''],
  ['Expect', ''],
  ['Upgrade', ''],
];

/** Response headers hidden unless proxy_pass_header names them (ngx_http_proxy_hide_headers). */
const DEFAULT_HIDE = [...UPSTREAM_HIDDEN, 'x-pad'];

/** HandlerFactory makes a location's content handler bound to its proxy conf (once, at configuration time). */
export type HandlerFactory = (cf: ConfCtx, conf: ProxyLocConf) => ContentHandler;

function proxyPass(makeHandler: HandlerFactory) {
  return (cf: ConfCtx, d: ConfDirective, conf: ProxyLocConf): string | void => {
    const clcf = cf.level.loc![cf.index(httpCoreModule)] as CoreLocConf;
    if (conf.pass) return 'is duplicate';
    clcf.handler = makeHandler(cf, conf);
    if (clcf.name.endsWith('/')) clcf.autoRedirect = true;
    const url = d.args[0]!;
    const lower = url.toLowerCase();
    let https: boolean;
    if (lower.startsWith('http://')) https = false;
    else if (lower.startsWith('https://')) https = true;
    else if (url.includes('$')) https = false;
    else cf.error(`invalid URL prefix in "${url}"`);
    if (url.includes('$')) {
      conf.pass = { https, group: undefined, url: compileTemplate(cf, url), uri: '', host: '', port: '', urlText: url, locName: clcf.name, locMatch: clcf.match };
      return;
    }
    const rest = url.slice(https ? 8 : 7);
    let slash = rest.startsWith('unix:') ? rest.indexOf(':/', 5) + 1 : rest.indexOf('/');
    if (rest.startsWith('unix:') && slash === 0) slash = -1;
    const hostPart = slash < 0 ? rest : rest.slice(0, slash);
    const uri = slash < 0 ? '' : rest.slice(slash);
    if (hostPart === '') cf.error(`no host in "${url}"`);
    if (uri !== '') {
      if (clcf.match === '~' || clcf.match === '~*') {
        cf.error(`"proxy_pass" cannot have URI part in location given by regular expression, or inside named location, or inside "if" statement, or inside "limit_except" block`);
      }
      if (clcf.match === '@' || cf.ctx === CTX.HTTP_LIF || cf.ctx === CTX.HTTP_LMT) {
        cf.error(`"proxy_pass" cannot have URI part in location given by regular expression, or inside named location, or inside "if" statement, or inside "limit_except" block`);
      }
    }
    const group = referenceUpstream(cf, hostPart, https ? 443 : 80);
    const portMatch = /:(\d+)$/.exec(hostPart);
    conf.pass = {
      https, group, url: undefined, uri, host: hostPart,
      port: portMatch ? portMatch[1]! : https ? '443' : '80',
      urlText: url.slice(0, url.length - uri.length), locName: clcf.name, locMatch: clcf.match,
    };
  };
}

function nextUpstreamSlot(field: 'nextUpstream') {
  const bits: Record<string, number> = {
    off: FT.OFF, error: FT.ERROR, timeout: FT.TIMEOUT, invalid_header: FT.INVALID_HEADER, http_500: FT.HTTP_500,
    http_502: FT.HTTP_502, http_503: FT.HTTP_503, http_504: FT.HTTP_504, http_403: FT.HTTP_403, http_404: FT.HTTP_404,
    http_429: FT.HTTP_429, non_idempotent: FT.NON_IDEMPOTENT, updating: 0,
  };
  const set = bitmaskSlot(field, bits);
  return (cf: ConfCtx, d: ConfDirective, conf: ProxyLocConf): string | void => {
    const rv = set(cf, d, conf);
    if (rv) return rv;
    if (conf.nextUpstream! & FT.OFF && d.args.length > 1) cf.error(`invalid value "${d.args.find((a) => a !== 'off')}"`);
    if (conf.nextUpstream! & FT.OFF) conf.nextUpstream = FT.OFF;
  };
}

/** proxyDirectives returns the proxy module's directive table; proxy_pass installs handlers from `makeHandler`. */
export function proxyDirectives(makeHandler: HandlerFactory): Directive[] {
  return [
    { name: 'proxy_pass', contexts: CTX.HTTP_LOC | CTX.HTTP_LIF | CTX.HTTP_LMT, args: ARGS.TAKE1, conf: 'loc', set: proxyPass(makeHandler) },
    {
      name: 'proxy_set_header',
      contexts: LOC,
      args: ARGS.TAKE2,
      conf: 'loc',
      set(_cf, d, conf: ProxyLocConf) {
        (conf.setHeaders ??= []).push([d.args[0]!, d.args[1]!]);
      },
    },
    {
      name: 'proxy_http_version',
      contexts: LOC,
      args: ARGS.TAKE1,
      conf: 'loc',
      set(cf, d, conf: ProxyLocConf) {
        if (conf.httpVersion) return 'is duplicate';
        if (d.args[0] !== '1.0' && d.args[0] !== '1.1') cf.error(`invalid value "${d.args[0]}"`);
        conf.httpVersion = d.args[0];
      },
    },
    { name: 'proxy_pass_request_headers', contexts: LOC, args: ARGS.FLAG, conf: 'loc', set: flagSlot('passRequestHeaders') },
    { name: 'proxy_pass_request_body', contexts: LOC, args: ARGS.FLAG, conf: 'loc', set: flagSlot('passRequestBody') },
    { name: 'proxy_hide_header', contexts: LOC, args: ARGS.TAKE1, conf: 'loc', set: strArraySlot('hideHeaders') },
    { name: 'proxy_pass_header', contexts: LOC, args: ARGS.TAKE1, conf: 'loc', set: strArraySlot('passHeaders') },
    {
      name: 'proxy_redirect',
      contexts: LOC,
      args: ARGS.TAKE12,
      conf: 'loc',
      set(cf, d, conf: ProxyLocConf) {
        const [a, b] = d.args;
        if (d.args.length === 1) {
          if (a !== 'off' && a !== 'default') cf.error(`invalid parameter "${a}"`);
          if (conf.redirectSpec !== undefined && conf.redirectSpec !== 'default' && a === 'off') return 'is duplicate';
          if (a === 'off') conf.redirectSpec = 'off';
          else if (Array.isArray(conf.redirectSpec)) conf.redirectSpec.push(['default', '']);
          else conf.redirectSpec = [['default', '']];
          return;
        }
        if (conf.redirectSpec === 'off') return 'is duplicate';
        if (!Array.isArray(conf.redirectSpec)) conf.redirectSpec = [];
        conf.redirectSpec.push([a!, b!]);
        // Compile now so variable references are checked with this directive's position.
        compileTemplate(cf, b!);
      },
    },
    { name: 'proxy_intercept_errors', contexts: LOC, args: ARGS.FLAG, conf: 'loc', set: flagSlot('interceptErrors') },
    { name: 'proxy_ignore_headers', contexts: LOC, args: ARGS.ONEMORE, conf: 'loc', set: bitmaskSlot('ignoreHeaders', IGN) },
    { name: 'proxy_request_buffering', contexts: LOC, args: ARGS.FLAG, conf: 'loc', set: flagSlot('requestBuffering') },
    { name: 'proxy_buffering', contexts: LOC, args: ARGS.FLAG, conf: 'loc', set: flagSlot('buffering') },
    { name: 'proxy_buffer_size', contexts: LOC, args: ARGS.TAKE1, conf: 'loc', set: sizeSlot('bufferSize') },
    {
      name: 'proxy_buffers',
      contexts: LOC,
      args: ARGS.TAKE2,
      conf: 'loc',
      set(cf, d, conf: ProxyLocConf) {
        if (conf.buffers) return 'is duplicate';
        const num = parseNumber(d.args[0]!);
        const size = parseSize(d.args[1]!);
        if (!num || !size) cf.error(`invalid value "${d.args.join(' ')}"`);
        conf.buffers = { num: num!, size: size! };
      },
    },
    { name: 'proxy_busy_buffers_size', contexts: LOC, args: ARGS.TAKE1, conf: 'loc', set: sizeSlot('busyBuffersSize') },
    { name: 'proxy_max_temp_file_size', contexts: LOC, args: ARGS.TAKE1, conf: 'loc', set: sizeSlot('maxTempFileSize') },
    { name: 'proxy_temp_file_write_size', contexts: LOC, args: ARGS.TAKE1, conf: 'loc', set: sizeSlot('tempFileWriteSize') },
    { name: 'proxy_temp_path', contexts: LOC, args: ARGS.TAKE1234, conf: 'loc', set() {} },
    { name: 'proxy_connect_timeout', contexts: LOC, args: ARGS.TAKE1, conf: 'loc', set: msecSlot('connectTimeout') },
    { name: 'proxy_send_timeout', contexts: LOC, args: ARGS.TAKE1, conf: 'loc', set: msecSlot('sendTimeout') },
    { name: 'proxy_read_timeout', contexts: LOC, args: ARGS.TAKE1, conf: 'loc', set: msecSlot('readTimeout') },
    { name: 'proxy_next_upstream', contexts: LOC, args: ARGS.ONEMORE, conf: 'loc', set: nextUpstreamSlot('nextUpstream') },
    { name: 'proxy_next_upstream_tries', contexts: LOC, args: ARGS.TAKE1, conf: 'loc', set: numSlot('nextUpstreamTries') },
    { name: 'proxy_next_upstream_timeout', contexts: LOC, args: ARGS.TAKE1, conf: 'loc', set: msecSlot('nextUpstreamTimeout') },
    { name: 'proxy_ssl_server_name', contexts: LOC, args: ARGS.FLAG, conf: 'loc', set: flagSlot('sslServerName') },
    {
      name: 'proxy_ssl_name',
      contexts: LOC,
      args: ARGS.TAKE1,
      conf: 'loc',
      set(cf, d, conf: ProxyLocConf) {
        if (conf.sslName !== undefined) return 'is duplicate';
        conf.sslName = d.args[0]!;
        conf.sslNameTemplate = compileTemplate(cf, d.args[0]!);
      },
    },
    { name: 'proxy_ssl_verify', contexts: LOC, args: ARGS.FLAG, conf: 'loc', set: flagSlot('sslVerify') },
    { name: 'proxy_ssl_verify_depth', contexts: LOC, args: ARGS.TAKE1, conf: 'loc', set: numSlot('sslVerifyDepth') },
    { name: 'proxy_ssl_trusted_certificate', contexts: LOC, args: ARGS.TAKE1, conf: 'loc', set: pathOrData('sslTrustedCertificate') },
    { name: 'proxy_ssl_certificate', contexts: LOC, args: ARGS.TAKE1, conf: 'loc', set: pathOrData('sslCertificate') },
    { name: 'proxy_ssl_certificate_key', contexts: LOC, args: ARGS.TAKE1, conf: 'loc', set: pathOrData('sslCertificateKey') },
    { name: 'proxy_ssl_protocols', contexts: LOC, args: ARGS.ONEMORE, conf: 'loc', set: strArraySlot('sslProtocols') },
    ...cookieDirectives,
    ...['proxy_ssl_session_reuse', 'proxy_ssl_ciphers', 'proxy_socket_keepalive', 'proxy_ignore_client_abort', 'proxy_cache', 'proxy_cache_path', 'proxy_method', 'proxy_bind', 'proxy_headers_hash_max_size', 'proxy_headers_hash_bucket_size'].map(
      (name): Directive => ({ name, contexts: LOC, args: ARGS.ONEMORE, conf: 'loc', set() {} }),
    ),
  ];
}

function pathOrData(field: 'sslTrustedCertificate' | 'sslCertificate' | 'sslCertificateKey') {
  return (cf: ConfCtx, d: ConfDirective, conf: ProxyLocConf): string | void => {
    if (conf[field] !== undefined) return 'is duplicate';
    const v = d.args[0]!;
    if (v.startsWith('data:')) conf[field] = v.slice(5);
    else {
      try {
        conf[field] = fs.readFileSync(cf.fullPath(v, true), 'utf8');
      } catch (err) {
        cf.error(`cannot load certificate "${v}": ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      }
    }
  };
}

function compileHeaders(cf: ConfCtx, set: [string, string][]): { rows: HeaderRow[]; overridden: Set<string> } {
  const rows: HeaderRow[] = [];
  const overridden = new Set<string>(['content-length', 'transfer-encoding']);
  const seen = new Set<string>();
  for (const [name, value] of set) {
    const l = name.toLowerCase();
    if (seen.has(l)) continue;
    seen.add(l);
    overridden.add(l);
    rows.push({ name, value: compileTemplate(cf, value) });
  }
  for (const [name, value] of DEFAULT_HEADERS) {
    const l = name.toLowerCase();
    if (seen.has(l)) continue;
    overridden.add(l);
    if (value !== '') rows.push({ name, value: compileTemplate(cf, value) });
  }
  return { rows, overridden };
}

const PROTOCOLS: Record<string, tls.SecureVersion> = { tlsv1: 'TLSv1', 'tlsv1.1': 'TLSv1.1', 'tlsv1.2': 'TLSv1.2', 'tlsv1.3': 'TLSv1.3' };

/** mergeProxyLocConf is ngx_http_proxy_merge_loc_conf: defaults, compiled headers, redirects and TLS context. */
export function mergeProxyLocConf(cf: ConfCtx, p: ProxyLocConf, c: ProxyLocConf): void {
  // An `if` inside a proxying location keeps the location's content handler, so it must see its proxy_pass
  // too (nginx copies upstream into "noname" locations). Other nested locations never run the proxy handler
  // unless they have their own proxy_pass, so inheriting it there changes nothing.
  c.pass ??= p.pass;
  if (c.setHeaders === undefined) c.setHeaders = p.setHeaders;
  if (c.setHeaders === p.setHeaders && p.headers) {
    c.headers = p.headers;
    c.overridden = p.overridden;
  } else {
    const h = compileHeaders(cf, c.setHeaders ?? []);
    c.headers = h.rows;
    c.overridden = h.overridden;
  }
  c.httpVersion ??= p.httpVersion ?? '1.0';
  c.passRequestHeaders ??= p.passRequestHeaders ?? true;
  c.passRequestBody ??= p.passRequestBody ?? true;
  c.hideHeaders ??= p.hideHeaders;
  c.passHeaders ??= p.passHeaders;
  const hide = new Set(DEFAULT_HIDE);
  for (const h of c.hideHeaders ?? []) hide.add(h.toLowerCase());
  for (const h of c.passHeaders ?? []) hide.delete(h.toLowerCase());
  c.hide = hide;
  c.interceptErrors ??= p.interceptErrors ?? false;
  c.ignoreHeaders ??= p.ignoreHeaders ?? 0;
  c.requestBuffering ??= p.requestBuffering ?? true;
  c.buffering ??= p.buffering ?? true;
  c.bufferSize ??= p.bufferSize ?? 4096;
  c.buffers ??= p.buffers ?? { num: 8, size: 4096 };
  c.busyBuffersSize ??= p.busyBuffersSize ?? 2 * c.bufferSize;
  c.maxTempFileSize ??= p.maxTempFileSize ?? 1024 * 1024 * 1024;
  c.tempFileWriteSize ??= p.tempFileWriteSize ?? 2 * c.bufferSize;
  c.connectTimeout ??= p.connectTimeout ?? 60_000;
  c.sendTimeout ??= p.sendTimeout ?? 60_000;
  c.readTimeout ??= p.readTimeout ?? 60_000;
  c.nextUpstream ??= p.nextUpstream ?? FT.ERROR | FT.TIMEOUT;
  c.nextUpstreamTries ??= p.nextUpstreamTries ?? 0;
  c.nextUpstreamTimeout ??= p.nextUpstreamTimeout ?? 0;
  c.redirectSpec ??= p.redirectSpec ?? 'default';
  c.redirects = compileRedirects(cf, c);
  mergeCookieConf(p, c);
  c.sslServerName ??= p.sslServerName ?? false;
  if (c.sslName === undefined) {
    c.sslName = p.sslName;
    c.sslNameTemplate = p.sslNameTemplate;
  }
  c.sslVerify ??= p.sslVerify ?? false;
  c.sslVerifyDepth ??= p.sslVerifyDepth ?? 1;
  c.sslTrustedCertificate ??= p.sslTrustedCertificate;
  c.sslCertificate ??= p.sslCertificate;
  c.sslCertificateKey ??= p.sslCertificateKey;
  c.sslProtocols ??= p.sslProtocols ?? ['TLSv1.2', 'TLSv1.3'];
  if (c.sslCertificate !== undefined && c.sslCertificateKey === undefined) {
    cf.error(`no "proxy_ssl_certificate_key" is defined for certificate "${c.sslCertificate.slice(0, 40)}"`);
  }
  const same = c.sslTrustedCertificate === p.sslTrustedCertificate && c.sslCertificate === p.sslCertificate && c.sslCertificateKey === p.sslCertificateKey && c.sslProtocols === p.sslProtocols;
  if (same && p.sslContext) {
    c.sslContext = p.sslContext;
    c.sslOptions = p.sslOptions;
  } else if (c.pass?.https || c.pass?.url || c.sslCertificate || c.sslTrustedCertificate) {
    const versions = c.sslProtocols.map((v) => PROTOCOLS[v.toLowerCase()]).filter((v): v is tls.SecureVersion => v !== undefined);
    const order = ['TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3'];
    versions.sort((a, b) => order.indexOf(a) - order.indexOf(b));
    c.sslOptions = { minVersion: versions[0], maxVersion: versions[versions.length - 1] };
    try {
      c.sslContext = tls.createSecureContext({
        ca: c.sslTrustedCertificate, cert: c.sslCertificate, key: c.sslCertificateKey, ...c.sslOptions,
      });
    } catch (err) {
      cf.error(`cannot load proxy_ssl certificates: ${(err as Error).message}`);
    }
  }
}

function compileRedirects(cf: ConfCtx, c: ProxyLocConf): RedirectRule[] {
  const spec = c.redirectSpec!;
  if (spec === 'off') return [];
  const rows = spec === 'default' ? [['default', ''] as [string, string]] : spec;
  const out: RedirectRule[] = [];
  for (const [from, to] of rows) {
    if (from === 'default') {
      const pass = c.pass;
      if (!pass) continue;
      if (pass.url) {
        if (spec !== 'default') cf.error(`"proxy_redirect default" cannot be used with "proxy_pass" directive with variables`);
        continue;
      }
      if (pass.uri) out.push({ prefix: compileTemplate(cf, pass.urlText + pass.uri), regex: undefined, replacement: compileTemplate(cf, pass.locName) });
      else out.push({ prefix: compileTemplate(cf, pass.urlText + '/'), regex: undefined, replacement: compileTemplate(cf, '/') });
      continue;
    }
    if (from.startsWith('~')) {
      const caseless = from.startsWith('~*');
      out.push({ prefix: undefined, regex: compileRegex(cf, from.slice(caseless ? 2 : 1), caseless), replacement: compileTemplate(cf, to) });
    } else out.push({ prefix: compileTemplate(cf, from), regex: undefined, replacement: compileTemplate(cf, to) });
  }
  return out;
}
