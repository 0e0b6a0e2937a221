/**
 * ngx_http_core_module: servers, locations, listen, server_name, and the per-location basics (root, alias,
 * types, timeouts, limits, keep-alive, error_page, internal).
 */
import type { ConfCtx } from '../core/conf.ts';
import { ARGS, CTX } from '../core/module.ts';
import { enumSlot, flagSlot, msecSlot, numSlot, sizeSlot, strSlot } from '../core/slots.ts';
import type { ConfDirective } from '../core/tree.ts';
import { parseNumber, parseSize, parseTime } from '../core/values.ts';
import { parseResolver } from '../event/resolver.ts';
import {
  createCoreLocConf,
  createCoreSrvConf,
  mergeCoreLocConf,
  mergeCoreSrvConf,
  type CoreLocConf,
  type CoreMainConf,
  type CoreSrvConf,
  type LocationMatch,
} from './core-conf.ts';
import { sizeValueSlot } from './limit-rate.ts';
import { parseListen } from './listen.ts';
import { defineHttpModule, type HttpLevel, type HttpModule } from './types.ts';
import { CORE_VARIABLES, namedCaptureVariable } from './variables-core.ts';
import { declareVariable } from './variables.ts';

const SRV = CTX.HTTP_MAIN | CTX.HTTP_SRV;
const LOC = CTX.HTTP_MAIN | CTX.HTTP_SRV | CTX.HTTP_LOC;
const LOC_IF = LOC | CTX.HTTP_LIF;

function httpModules(cf: ConfCtx): HttpModule[] {
  return cf.registry.ofType('http') as HttpModule[];
}

/** createLocLevel makes the loc confs of every HTTP module for a new location (or server) level. */
export function createLocLevel(cf: ConfCtx, parent: HttpLevel, srv?: unknown[]): HttpLevel {
  const level: HttpLevel = { main: parent.main, srv: srv ?? parent.srv, loc: [] };
  for (const m of httpModules(cf)) level.loc[cf.index(m)] = m.createLocConf?.(cf);
  const clcf = level.loc[cf.index(httpCoreModule)] as CoreLocConf;
  clcf.confs = level.loc;
  return level;
}

function serverBlock(cf: ConfCtx, d: ConfDirective, cmcf: CoreMainConf): string | void {
  const level: HttpLevel = { main: cf.level.main, srv: [], loc: [] };
  for (const m of httpModules(cf)) level.srv[cf.index(m)] = m.createSrvConf?.(cf);
  const locLevel = createLocLevel(cf, level, level.srv);
  level.loc = locLevel.loc;
  const cscf = level.srv[cf.index(httpCoreModule)] as CoreSrvConf;
  cscf.level = level;
  cscf.loc = level.loc[cf.index(httpCoreModule)] as CoreLocConf;
  cscf.file = d.file;
  cscf.line = d.line;
  cmcf.servers.push(cscf);
  cf.parse(d.block!, CTX.HTTP_SRV, level);
}

const MODIFIERS = new Set(['=', '~', '~*', '^~']);

function locationBlock(cf: ConfCtx, d: ConfDirective, parent: CoreLocConf): string | void {
  let match: LocationMatch = '';
  let name: string;
  if (d.args.length === 2) {
    if (!MODIFIERS.has(d.args[0]!)) cf.error(`invalid location modifier "${d.args[0]}"`);
    match = d.args[0] as LocationMatch;
    name = d.args[1]!;
  } else {
    name = d.args[0]!;
    if (name.startsWith('=')) [match, name] = ['=', name.slice(1)];
    else if (name.startsWith('^~')) [match, name] = ['^~', name.slice(2)];
    else if (name.startsWith('~*')) [match, name] = ['~*', name.slice(2)];
    else if (name.startsWith('~')) [match, name] = ['~', name.slice(1)];
    else if (name.startsWith('@')) [match, name] = ['@', name.slice(1)];
  }
  const level = createLocLevel(cf, cf.level as HttpLevel);
  const clcf = level.loc[cf.index(httpCoreModule)] as CoreLocConf;
  clcf.name = name;
  clcf.match = match;
  clcf.file = d.file;
  clcf.line = d.line;
  if (match === '~' || match === '~*') clcf.regex = compileRegex(cf, name, match === '~*');
  if (parent.match !== 'server') {
    const full = `${parent.match ? parent.match + ' ' : ''}${parent.name}`;
    if (parent.match === '=') cf.error(`location "${name}" cannot be inside the exact location "${parent.name}"`);
    if (parent.match === '@') cf.error(`location "${name}" cannot be inside the named location "@${parent.name}"`);
    if (match === '@') cf.error(`named location "@${name}" can be on the server level only`);
    if ((match === '' || match === '^~' || match === '=') && parent.regex === undefined && !name.startsWith(parent.name)) {
      cf.error(`location "${name}" is outside location "${full.replace(/^ /, '')}"`);
    }
  }
  clcf.parent = parent;
  parent.children.push(clcf);
  cf.parse(d.block!, CTX.HTTP_LOC, level);
}

/** compileRegex turns a PCRE-style pattern into a JS RegExp (named groups `(?P<n>` → `(?<n>`, `(?i)`). */
export function compileRegex(cf: ConfCtx, pattern: string, caseless: boolean): RegExp {
  let src = pattern.replace(/\(\?P</g, '(?<');
  let flags = caseless ? 'i' : '';
  if (src.startsWith('(?i)')) {
    src = src.slice(4);
    flags = 'i';
  }
  let re: RegExp;
  try {
    re = new RegExp(src, flags);
  } catch (err) {
    cf.error(`pcre2_compile() failed: ${(err as Error).message.replace(/^Invalid regular expression: /, '')} in "${pattern}"`);
  }
  // Named captures become variables, as nginx's ngx_http_regex_compile makes them.
  const cmcf = cf.level.main[cf.index(httpCoreModule)] as CoreMainConf | undefined;
  if (cmcf) for (const m of src.matchAll(/\(\?<([A-Za-z_][A-Za-z0-9_]*)>/g)) declareVariable(cmcf, namedCaptureVariable(m[1]!.toLowerCase()));
  return re;
}

function typesBlock(cf: ConfCtx, d: ConfDirective, clcf: CoreLocConf): string | void {
  const types = clcf.types && clcf.confs === cf.level.loc ? clcf.types : new Map<string, string>();
  for (const t of d.block!) {
    if (t.block) cf.error(`unexpected "{"`, t);
    for (const ext of t.args) types.set(ext.toLowerCase(), t.name);
  }
  clcf.types = types;
}

function errorPage(cf: ConfCtx, d: ConfDirective, clcf: CoreLocConf): string | void {
  const args = d.args;
  const uri = args[args.length - 1]!;
  let overwrite = -1;
  let codesEnd = args.length - 1;
  const eq = args[args.length - 2]!;
  if (eq.startsWith('=')) {
    codesEnd--;
    if (eq === '=') overwrite = 0;
    else {
      const n = parseNumber(eq.slice(1));
      if (n === undefined) cf.error(`invalid value "${eq}"`);
      overwrite = n;
    }
  }
  if (codesEnd < 1) cf.error(`invalid number of arguments in "error_page" directive`);
  const pages = clcf.errorPages && clcf.confs === cf.level.loc ? clcf.errorPages : [];
  for (const c of args.slice(0, codesEnd)) {
    const code = parseNumber(c);
    if (code === undefined) cf.error(`invalid value "${c}"`);
    if (code === 499 || code < 300 || code > 599) cf.error(`value "${c}" must be between 300 and 599`);
    pages.push({ status: code, overwrite, uri });
  }
  clcf.errorPages = pages;
}

export const httpCoreModule: HttpModule<CoreMainConf, CoreSrvConf, CoreLocConf> = defineHttpModule<CoreMainConf, CoreSrvConf, CoreLocConf>({
  name: 'ngx_http_core_module',
  type: 'http',
  variables: CORE_VARIABLES,
  directives: [
    { name: 'server', contexts: CTX.HTTP_MAIN, args: ARGS.BLOCK | ARGS.NOARGS, conf: 'main', set: serverBlock },
    { name: 'location', contexts: CTX.HTTP_SRV | CTX.HTTP_LOC, args: ARGS.BLOCK | ARGS.TAKE12, conf: 'loc', set: locationBlock },
    {
      name: 'listen',
      contexts: CTX.HTTP_SRV,
      args: ARGS.ONEMORE,
      conf: 'srv',
      set(cf, d, cscf: CoreSrvConf) {
        cscf.listens.push({ ...parseListen(cf, d.args), file: d.file, line: d.line } as never);
      },
    },
    {
      name: 'server_name',
      contexts: CTX.HTTP_SRV,
      args: ARGS.ONEMORE,
      conf: 'srv',
      set(cf, d, cscf: CoreSrvConf) {
        for (const a of d.args) {
          if (a.startsWith('~')) cscf.serverNames.push({ name: a, regex: compileRegex(cf, a.slice(1), true) });
          else {
            if (a.includes('*') && !a.startsWith('*.') && !a.endsWith('.*')) cf.error(`invalid server name or wildcard "${a}" on 0.0.0.0:80`);
            cscf.serverNames.push({ name: a.toLowerCase() });
          }
        }
      },
    },
    {
      name: 'root',
      contexts: LOC_IF,
      args: ARGS.TAKE1,
      conf: 'loc',
      set(cf, d, clcf: CoreLocConf) {
        if (clcf.alias !== undefined) return `is duplicate, "alias" directive was specified earlier`;
        if (clcf.root !== undefined) return 'is duplicate';
        clcf.root = d.args[0]!;
      },
    },
    {
      name: 'alias',
      contexts: CTX.HTTP_LOC,
      args: ARGS.TAKE1,
      conf: 'loc',
      set(cf, d, clcf: CoreLocConf) {
        if (clcf.root !== undefined) return `is duplicate, "root" directive was specified earlier`;
        if (clcf.alias !== undefined) return 'is duplicate';
        if (clcf.match === '@') return 'cannot be used inside the named location';
        clcf.alias = d.args[0]!;
      },
    },
    { name: 'types', contexts: LOC, args: ARGS.BLOCK | ARGS.NOARGS, conf: 'loc', set: typesBlock },
    { name: 'default_type', contexts: LOC, args: ARGS.TAKE1, conf: 'loc', set: strSlot('defaultType') },
    {
      name: 'keepalive_timeout',
      contexts: LOC,
      args: ARGS.TAKE12,
      conf: 'loc',
      set(cf, d, clcf: CoreLocConf) {
        if (clcf.keepaliveTimeout !== undefined) return 'is duplicate';
        const t = parseTimeArg(cf, d.args[0]!);
        clcf.keepaliveTimeout = t;
        if (d.args[1] !== undefined) clcf.keepaliveHeaderTimeout = parseTimeArg(cf, d.args[1]);
      },
    },
    { name: 'keepalive_requests', contexts: LOC, args: ARGS.TAKE1, conf: 'loc', set: numSlot('keepaliveRequests') },
    { name: 'keepalive_time', contexts: LOC, args: ARGS.TAKE1, conf: 'loc', set: msecSlot('keepaliveTime') },
    { name: 'client_max_body_size', contexts: LOC, args: ARGS.TAKE1, conf: 'loc', set: sizeSlot('clientMaxBodySize') },
    { name: 'client_body_timeout', contexts: LOC, args: ARGS.TAKE1, conf: 'loc', set: msecSlot('clientBodyTimeout') },
    { name: 'client_body_buffer_size', contexts: LOC, args: ARGS.TAKE1, conf: 'loc', set: sizeSlot('clientBodyBufferSize') },
    { name: 'send_timeout', contexts: LOC, args: ARGS.TAKE1, conf: 'loc', set: msecSlot('sendTimeout') },
    { name: 'client_header_timeout', contexts: SRV, args: ARGS.TAKE1, conf: 'srv', set: msecSlot('clientHeaderTimeout') },
    { name: 'client_header_buffer_size', contexts: SRV, args: ARGS.TAKE1, conf: 'srv', set: sizeSlot('clientHeaderBufferSize') },
    {
      name: 'large_client_header_buffers',
      contexts: SRV,
      args: ARGS.TAKE2,
      conf: 'srv',
      set(cf, d, cscf: CoreSrvConf) {
        if (cscf.largeClientHeaderBuffers) return 'is duplicate';
        const num = parseNumber(d.args[0]!);
        const size = parseSize(d.args[1]!);
        if (!num) cf.error(`invalid value "${d.args[0]}"`);
        if (!size) cf.error(`invalid value "${d.args[1]}"`);
        cscf.largeClientHeaderBuffers = { num: num!, size: size! };
      },
    },
    { name: 'merge_slashes', contexts: SRV, args: ARGS.FLAG, conf: 'srv', set: flagSlot('mergeSlashes') },
    { name: 'underscores_in_headers', contexts: SRV, args: ARGS.FLAG, conf: 'srv', set: flagSlot('underscoresInHeaders') },
    { name: 'ignore_invalid_headers', contexts: SRV, args: ARGS.FLAG, conf: 'srv', set: flagSlot('ignoreInvalidHeaders') },
    { name: 'server_tokens', contexts: LOC, args: ARGS.TAKE1, conf: 'loc', set: flagSlot('serverTokens') },
    { name: 'chunked_transfer_encoding', contexts: LOC, args: ARGS.FLAG, conf: 'loc', set: flagSlot('chunkedTransferEncoding') },
    {
      name: 'internal',
      contexts: CTX.HTTP_LOC,
      args: ARGS.NOARGS,
      conf: 'loc',
      set(_cf, _d, clcf: CoreLocConf) {
        if (clcf.internal) return 'is duplicate';
        clcf.internal = true;
      },
    },
    { name: 'error_page', contexts: LOC_IF, args: ARGS.TWOMORE, conf: 'loc', set: errorPage },
    { name: 'log_not_found', contexts: LOC, args: ARGS.FLAG, conf: 'loc', set: flagSlot('logNotFound') },
    { name: 'absolute_redirect', contexts: LOC, args: ARGS.FLAG, conf: 'loc', set: flagSlot('absoluteRedirect') },
    { name: 'server_name_in_redirect', contexts: LOC, args: ARGS.FLAG, conf: 'loc', set: flagSlot('serverNameInRedirect') },
    { name: 'port_in_redirect', contexts: LOC, args: ARGS.FLAG, conf: 'loc', set: flagSlot('portInRedirect') },
    { name: 'recursive_error_pages', contexts: LOC, args: ARGS.FLAG, conf: 'loc', set: flagSlot('recursiveErrorPages') },
    { name: 'limit_rate', contexts: LOC_IF, args: ARGS.TAKE1, conf: 'loc', set: sizeValueSlot('limitRate') },
    { name: 'limit_rate_after', contexts: LOC_IF, args: ARGS.TAKE1, conf: 'loc', set: sizeValueSlot('limitRateAfter') },
    { name: 'reset_timedout_connection', contexts: LOC, args: ARGS.FLAG, conf: 'loc', set: flagSlot('resetTimedoutConnection') },
    { name: 'lingering_close', contexts: LOC, args: ARGS.TAKE1, conf: 'loc', set: enumSlot('lingeringClose', { on: 'on', off: 'off', always: 'always' }) },
    {
      name: 'resolver',
      contexts: LOC,
      args: ARGS.ONEMORE,
      conf: 'loc',
      set(cf, d, clcf: CoreLocConf) {
        if (clcf.resolver) return 'is duplicate';
        clcf.resolver = parseResolver(cf, d.args);
      },
    },
    { name: 'resolver_timeout', contexts: LOC, args: ARGS.TAKE1, conf: 'loc', set: msecSlot('resolverTimeout') },
    { name: 'satisfy', contexts: LOC, args: ARGS.TAKE1, conf: 'loc', set: enumSlot('satisfy', { all: 'all', any: 'any' }) },
    // Accepted for nginx.conf compatibility; the Node runtime decides these itself.
    ...['sendfile', 'tcp_nopush', 'tcp_nodelay', 'aio', 'directio', 'open_file_cache_errors', 'log_subrequest', 'msie_padding', 'msie_refresh'].map((name) => ({
      name,
      contexts: LOC_IF,
      args: ARGS.TAKE1,
      conf: 'loc' as const,
      set() {},
    })),
    ...['server_names_hash_max_size', 'server_names_hash_bucket_size', 'variables_hash_max_size', 'variables_hash_bucket_size', 'types_hash_max_size', 'types_hash_bucket_size', 'output_buffers', 'postpone_output', 'sendfile_max_chunk', 'open_file_cache', 'lingering_time', 'lingering_timeout', 'send_lowat', 'client_body_temp_path', 'connection_pool_size', 'request_pool_size'].map((name) => ({
      name,
      contexts: LOC,
      args: ARGS.ONEMORE,
      conf: 'loc' as const,
      set() {},
    })),
  ],
  createMainConf: () => ({ servers: [], phases: [], variables: new Map(), prefixVariables: [] }),
  createSrvConf: () => createCoreSrvConf(undefined as unknown as HttpLevel),
  mergeSrvConf: mergeCoreSrvConf,
  createLocConf: createCoreLocConf,
  mergeLocConf: mergeCoreLocConf,
});

function parseTimeArg(cf: ConfCtx, v: string): number {
  const t = parseTime(v, 's');
  if (t === undefined) cf.error(`invalid value "${v}"`);
  return t;
}
