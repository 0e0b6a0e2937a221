/**
 * HttpRuntime is one http{} block made runnable: the phase engine (ngx_http_core_run_phases and the phase
 * checkers), filter chains, finalization, special responses, error_page and internal redirects.
 */
import type { Cycle } from '../core/cycle.ts';
import type { ErrorLog } from '../core/log.ts';
import type { CoreLocConf, CoreMainConf } from './core-conf.ts';
import { findLocation, FOUND_EXACT, REDIRECT, type LocationSearch } from './locations.ts';
import type { HttpRequest } from './request.ts';
import { CLOSE_AFTER, errorPageBody } from './special.ts';
import { AGAIN, DECLINED, DONE, ERROR, OK, PHASE, type BodyFilter, type HeaderFilter, type PhaseHandler } from './types.ts';
import { VERSION } from '../core/version.ts';
import { startSubrequest, type SubrequestOptions } from './subrequest.ts';

type Checker = (rt: HttpRuntime, r: HttpRequest, step: Step) => boolean;

/** Step is one entry of the phase engine: a checker, the handler it runs, and the index of the next phase. */
interface Step {
  checker: Checker;
  handler: PhaseHandler | undefined;
  next: number;
}

export class HttpRuntime {
  readonly cycle: Cycle;
  readonly main: CoreMainConf;
  readonly coreIndex: number;
  readonly steps: Step[] = [];
  serverRewriteIndex = 0;
  locationRewriteIndex = 0;
  findConfigIndex = 0;
  headerFilter: HeaderFilter;
  bodyFilter: BodyFilter;
  logHandlers: PhaseHandler[] = [];
  /** Server-level locations by name for `@named` lookups, keyed per server conf. */

  constructor(cycle: Cycle, main: CoreMainConf, coreIndex: number) {
    this.cycle = cycle;
    this.main = main;
    this.coreIndex = coreIndex;
    this.headerFilter = (r) => {
      r.sink.sendHead(r);
      return OK;
    };
    this.bodyFilter = (r, chunk, last) => {
      if (last) r.responseDone = true;
      return r.sink.sendBody(r, chunk, last) ? OK : AGAIN;
    };
  }

  /** log returns the error log for a request: its location's `error_log` if it has one, else the cycle's. */
  log(r: HttpRequest): ErrorLog | undefined {
    return r.loc.errorLog ?? this.cycle.log;
  }

  /** buildPhaseEngine lays out the steps from the handlers modules registered per phase. */
  buildPhaseEngine(phases: PhaseHandler[][]): void {
    const s = this.steps;
    // Within a phase, handlers run in the order their modules are listed in dataplane/modules.ts.
    const add = (phase: number, checker: Checker) => {
      const start = s.length;
      for (const h of phases[phase] ?? []) s.push({ checker, handler: h, next: 0 });
      return start;
    };
    const fix = (from: number) => {
      for (let i = from; i < s.length; i++) s[i]!.next = s.length;
    };
    let i = add(PHASE.POST_READ, genericChecker);
    fix(i);
    this.serverRewriteIndex = s.length;
    i = add(PHASE.SERVER_REWRITE, rewriteChecker);
    fix(i);
    this.findConfigIndex = s.length;
    s.push({ checker: findConfigChecker, handler: undefined, next: 0 });
    this.locationRewriteIndex = s.length;
    i = add(PHASE.REWRITE, rewriteChecker);
    fix(i);
    s.push({ checker: postRewriteChecker, handler: undefined, next: this.findConfigIndex });
    i = add(PHASE.PREACCESS, genericChecker);
    fix(i);
    const accessStart = s.length;
    for (const h of phases[PHASE.ACCESS] ?? []) s.push({ checker: accessChecker, handler: h, next: 0 });
    if (s.length > accessStart) {
      s.push({ checker: postAccessChecker, handler: undefined, next: 0 });
      for (let k = accessStart; k < s.length; k++) s[k]!.next = s.length;
    }
    i = add(PHASE.PRECONTENT, genericChecker);
    fix(i);
    add(PHASE.CONTENT, contentChecker);
    s.push({ checker: contentFallbackChecker, handler: undefined, next: 0 });
    this.logHandlers = phases[PHASE.LOG] ?? [];
  }

  /** runPhases runs the request from its current phase until a handler suspends or finalizes it. */
  runPhases(r: HttpRequest): void {
    const steps = this.steps;
    while (r.phaseIndex < steps.length) {
      const step = steps[r.phaseIndex]!;
      if (!step.checker(this, r, step)) return;
    }
  }

  /** start runs a new request from the first phase. */
  start(r: HttpRequest): void {
    r.phaseIndex = 0;
    this.runPhases(r);
  }

  /** finalize ends a request with a handler's code (ngx_http_finalize_request). */
  finalize(r: HttpRequest, rc: number): void {
    if (r.finalized) return;
    if (rc === DONE || rc === AGAIN || rc === DECLINED) return;
    if (rc === ERROR || rc === 444 || rc === 499 || rc === 408) {
      r.out.status ||= rc === ERROR ? 500 : rc;
      this.terminate(r, rc === ERROR ? 500 : rc);
      return;
    }
    if (rc >= 300 || rc === 201 || rc === 204) {
      if (r.headerSent) {
        this.terminate(r, rc);
        return;
      }
      this.specialResponse(r, rc);
      return;
    }
    if (!r.responseDone) {
      if (!r.headerSent) {
        this.specialResponse(r, 500);
        return;
      }
      r.send(null, true);
    }
    this.done(r);
  }

  /** subrequest starts a child request of `r` (see subrequest.ts). */
  subrequest(r: HttpRequest, uri: string, args: string, opts: SubrequestOptions, done: (sr: HttpRequest) => void): HttpRequest | undefined {
    const sr = startSubrequest(r, uri, args, opts, done);
    if (!sr) this.log(r)?.log('error', `*${r.conn.id} subrequests cycle while processing "${uri}"`);
    return sr;
  }

  /** done runs the log phase and hands the connection back (keep-alive or close); a subrequest reports to its parent. */
  done(r: HttpRequest): void {
    if (r.finalized) return;
    const pacer = r.pacer;
    if (pacer !== undefined && pacer.busy) {
      // A rate-limited response is over only once its last byte is written (nginx's ngx_http_writer): the log
      // and the next request wait. The handler is finished, so a client leaving now just aborts the request.
      r.conn.onClientClose = undefined;
      pacer.onIdle(() => this.done(r));
      return;
    }
    r.finalized = true;
    if (r !== r.main) {
      r.responseDone = true;
      r.onSubrequestDone?.();
      return;
    }
    for (const h of this.logHandlers) h(r);
    if (r.cleanups) runCleanups(r);
    r.conn.requestDone(r);
  }

  /** terminate aborts a request: no (more) response, close the connection, still log it. */
  terminate(r: HttpRequest, status: number): void {
    if (r.finalized) return;
    if (!r.headerSent) r.out.status = status;
    if (r !== r.main) {
      // A failed subrequest ends itself; its parent decides what that means for the client.
      if (r.headerSent) r.out.status = status >= 400 ? status : 500;
      this.done(r);
      return;
    }
    r.keepalive = false;
    r.finalized = true;
    for (const h of this.logHandlers) h(r);
    if (r.cleanups) runCleanups(r);
    r.conn.abort(r);
  }

  /** specialResponse sends an error or redirect page, honouring error_page (ngx_http_special_response_handler). */
  specialResponse(r: HttpRequest, status: number): void {
    const clcf = r.loc;
    if (r.headerSent) {
      this.terminate(r, status);
      return;
    }
    r.errStatus = 0;
    if (CLOSE_AFTER.has(status)) r.keepalive = false;
    if (r.hasBody && !r.bodyRead) r.conn.discardBody(r);
    if (!r.errorPage || clcf.recursiveErrorPages) {
      const page = clcf.errorPages?.find((p) => p.status === status);
      if (page && (status !== 494 && status !== 497 ? true : r.srv !== undefined)) {
        r.errorPage = true;
        if (this.errorPage(r, status, page.overwrite, page.uri)) return;
      }
    }
    // Headers set so far stay (WWW-Authenticate, add_header … always); the entity headers are replaced.
    const o = r.out;
    o.status = status;
    o.statusText = undefined;
    o.contentType = undefined;
    o.charset = undefined;
    o.contentLength = -1;
    o.lastModified = undefined;
    o.etag = undefined;
    if (status < 301 || status > 308) o.location = undefined;
    const body = errorPageBody(status, clcf.serverTokens ?? true, VERSION);
    if (body === undefined || status === 204) {
      r.out.contentLength = 0;
      r.sendHeader();
      r.send(null, true);
      this.done(r);
      return;
    }
    const buf = Buffer.from(body, 'latin1');
    r.out.contentType = 'text/html';
    r.out.contentLength = buf.length;
    r.sendHeader();
    r.send(r.headerOnly ? null : buf, true);
    this.done(r);
  }

  /**
   * filterFinalize turns the response being sent into nginx's page for `status` from inside a header filter
   * (ngx_http_filter_finalize_request without error_page): the caller then passes the head on; the handler's
   * body is dropped and the page goes out in its place.
   */
  filterFinalize(r: HttpRequest, status: number): void {
    const o = r.out;
    const body = Buffer.from(errorPageBody(status, r.loc.serverTokens ?? true, VERSION) ?? '', 'latin1');
    o.status = status;
    o.statusText = undefined;
    o.contentType = 'text/html';
    o.charset = undefined;
    o.contentLength = body.length;
    o.lastModified = undefined;
    o.etag = undefined;
    r.errStatus = 0;
    r.allowRanges = false;
    r.keepalive &&= !CLOSE_AFTER.has(status);
    r.replacement = body;
  }

  /** errorPage redirects an error to its page; returns false if the page cannot be used. */
  errorPage(r: HttpRequest, status: number, overwrite: number, uri: string): boolean {
    const target = this.expand(r, uri);
    // The page is answered with the original status, `=code`'s, or (`=` alone) whatever the page produces.
    r.errStatus = overwrite < 0 ? status : overwrite;
    r.out.status = 0;
    if (target.startsWith('@')) {
      r.out.headers = [];
      this.namedLocation(r, target.slice(1));
      return true;
    }
    if (target.startsWith('/')) {
      const q = target.indexOf('?');
      if (r.method !== 'HEAD') r.method = 'GET';
      r.out.headers = [];
      this.internalRedirect(r, q < 0 ? target : target.slice(0, q), q < 0 ? '' : target.slice(q + 1));
      return true;
    }
    // An absolute URL: a redirect (302 unless `=301` etc. said otherwise).
    const code = overwrite === 301 || overwrite === 302 || overwrite === 303 || overwrite === 307 || overwrite === 308 ? overwrite : 302;
    r.errStatus = 0;
    r.out = { status: 0, contentLength: -1, headers: [], location: target };
    r.errorPage = true;
    this.specialResponse(r, code);
    return true;
  }

  /** expand replaces variables in an error_page target (compiled lazily by the variables module). */
  expand(r: HttpRequest, text: string): string {
    return this.expandText ? this.expandText(r, text) : text;
  }

  /** Set by the variables layer: expands `$var` in runtime strings. */
  expandText: ((r: HttpRequest, text: string) => string) | undefined;

  /** internalRedirect restarts the request at server-rewrite with a new URI (ngx_http_internal_redirect). */
  internalRedirect(r: HttpRequest, uri: string, args: string): void {
    if (--r.uriChanges === 0) {
      this.log(r)?.log('error', `*${r.conn.id} rewrite or internal redirection cycle while internally redirecting to "${uri}"`);
      r.errorPage = true;
      this.specialResponse(r, 500);
      return;
    }
    r.uri = uri;
    r.args = args;
    r.internal = true;
    r.validUnparsedUri = false;
    r.validLocation = true;
    r.ctx.length = 0;
    r.vars.clear();
    r.loc = r.srv.loc;
    r.captures = undefined;
    r.contentHandler = undefined;
    r.phaseIndex = this.serverRewriteIndex;
    this.runPhases(r);
  }

  /** namedLocation continues the request in a `@name` location, from the rewrite phase. */
  namedLocation(r: HttpRequest, name: string): void {
    const loc = r.srv.loc.tree?.named.get(name);
    if (!loc) {
      this.log(r)?.log('error', `*${r.conn.id} could not find named location "@${name}"`);
      r.errorPage = true;
      this.specialResponse(r, 500);
      return;
    }
    if (--r.uriChanges === 0) {
      r.errorPage = true;
      this.specialResponse(r, 500);
      return;
    }
    r.loc = loc;
    r.internal = true;
    r.ctx.length = 0;
    r.vars.clear();
    r.contentHandler = loc.handler;
    r.phaseIndex = this.locationRewriteIndex;
    this.runPhases(r);
  }
}

function runCleanups(r: HttpRequest): void {
  const list = r.cleanups!;
  r.cleanups = undefined;
  for (const fn of list) fn();
}

function genericChecker(rt: HttpRuntime, r: HttpRequest, step: Step): boolean {
  const rc = step.handler!(r);
  if (rc === OK) {
    r.phaseIndex = step.next;
    return true;
  }
  if (rc === DECLINED) {
    r.phaseIndex++;
    return true;
  }
  if (rc === AGAIN || rc === DONE) return false;
  rt.finalize(r, rc);
  return false;
}

function rewriteChecker(rt: HttpRuntime, r: HttpRequest, step: Step): boolean {
  const rc = step.handler!(r);
  if (rc === DECLINED) {
    r.phaseIndex++;
    return true;
  }
  if (rc === DONE) return false;
  rt.finalize(r, rc);
  return false;
}

function findConfigChecker(rt: HttpRuntime, r: HttpRequest): boolean {
  r.uriChanged = false;
  const search: LocationSearch = { loc: r.srv.loc, captures: undefined };
  const rc = findLocation(search, r.srv.loc, r.uri);
  const clcf: CoreLocConf = search.loc;
  r.loc = clcf;
  r.captures = search.captures;
  if (!r.internal && clcf.internal) {
    rt.finalize(r, 404);
    return false;
  }
  r.contentHandler = clcf.handler;
  if (r.contentLength > 0 && r.contentLength > clcf.clientMaxBodySize! && clcf.clientMaxBodySize !== 0) {
    rt.log(r)?.log('error', `*${r.conn.id} client intended to send too large body: ${r.contentLength} bytes`);
    rt.finalize(r, 413);
    return false;
  }
  if (rc === REDIRECT) {
    r.out.location = r.uri + '/' + (r.args ? `?${r.args}` : '');
    rt.finalize(r, 301);
    return false;
  }
  void FOUND_EXACT;
  r.phaseIndex++;
  return true;
}

function postRewriteChecker(rt: HttpRuntime, r: HttpRequest, step: Step): boolean {
  if (!r.uriChanged) {
    r.phaseIndex++;
    return true;
  }
  if (--r.uriChanges === 0) {
    rt.log(r)?.log('error', `*${r.conn.id} rewrite or internal redirection cycle while processing "${r.uri}"`);
    rt.finalize(r, 500);
    return false;
  }
  r.phaseIndex = step.next;
  return true;
}

function accessChecker(rt: HttpRuntime, r: HttpRequest, step: Step): boolean {
  if (r !== r.main) {
    r.phaseIndex = step.next;
    return true;
  }
  const rc = step.handler!(r);
  if (rc === DECLINED) {
    r.phaseIndex++;
    return true;
  }
  if (rc === AGAIN || rc === DONE) return false;
  const satisfyAny = r.loc.satisfy === 'any';
  if (!satisfyAny) {
    if (rc === OK) {
      r.phaseIndex++;
      return true;
    }
  } else {
    if (rc === OK) {
      r.accessCode = 0;
      r.phaseIndex = step.next;
      return true;
    }
    if (rc === 403 || rc === 401) {
      if (r.accessCode !== 401) r.accessCode = rc;
      r.phaseIndex++;
      return true;
    }
  }
  rt.finalize(r, rc);
  return false;
}

function postAccessChecker(rt: HttpRuntime, r: HttpRequest): boolean {
  if (r.accessCode) {
    const code = r.accessCode;
    r.accessCode = 0;
    rt.finalize(r, code);
    return false;
  }
  r.phaseIndex++;
  return true;
}

function contentChecker(rt: HttpRuntime, r: HttpRequest, step: Step): boolean {
  if (r.contentHandler) {
    r.phaseIndex = rt.steps.length;
    rt.finalize(r, r.contentHandler(r));
    return false;
  }
  const rc = step.handler!(r);
  if (rc !== DECLINED) {
    rt.finalize(r, rc);
    return false;
  }
  r.phaseIndex++;
  return true;
}

function contentFallbackChecker(rt: HttpRuntime, r: HttpRequest): boolean {
  if (r.contentHandler) {
    r.phaseIndex = rt.steps.length;
    rt.finalize(r, r.contentHandler(r));
    return false;
  }
  // No handler produced a response: a directory URI is forbidden, anything else is not found.
  r.phaseIndex = rt.steps.length;
  rt.finalize(r, r.uri.endsWith('/') ? 403 : 404);
  return false;
}
