/**
 * ngx_http_auth_basic_module: `auth_basic realm|off` and `auth_basic_user_file file|data:…` in the access
 * phase. User files are read at most once a second per path (then only when their mtime changed), so a
 * request costs no disk I/O. bcrypt entries are checked asynchronously (the phase engine resumes the request)
 * and successful checks are remembered by a digest of hash and password, so a client sending the same
 * credentials on every request pays the bcrypt cost once. See htpasswd.ts for the supported hash schemes.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import type { ConfCtx } from '../../core/conf.ts';
import { sysErrorText } from '../../core/errors.ts';
import { ARGS, CTX } from '../../core/module.ts';
import type { ConfDirective } from '../../core/tree.ts';
import type { HttpRequest } from '../request.ts';
import { logRequest } from '../request-log.ts';
import { AGAIN, DECLINED, OK, PHASE, defineHttpModule, type PhaseHandler } from '../types.ts';
import { compileTemplate, evaluate, type Template } from '../variables.ts';
import { hashScheme, isSlowHash, parseHtpasswd, verifyFast, verifySlow } from './htpasswd.ts';

export interface AuthBasicLocConf {
  realm?: Template | null;
  userFile?: Template | null;
}

/** UserFile is a parsed user file with when it was last checked against the disk. */
interface UserFile {
  users: Map<string, string>;
  checkedAt: number;
  mtimeMs: number;
}

export interface AuthBasicMainConf {
  files: Map<string, UserFile>;
  /** Digests of (hash, password) pairs that bcrypt accepted; bounded, cleared when full. */
  verified: Set<string>;
  confPrefix: string;
}

/** AuthCtx is the per-request state while a bcrypt check runs. */
interface AuthCtx {
  rc: number;
}

const AUTH_CTX = CTX.HTTP_MAIN | CTX.HTTP_SRV | CTX.HTTP_LOC | CTX.HTTP_LMT;
const RECHECK_MS = 1000;
const VERIFIED_MAX = 4096;

/** basicCredentials decodes `Authorization: Basic …` into user and password (latin1), or undefined. */
export function basicCredentials(r: HttpRequest): { user: string; password: Buffer } | undefined {
  const h = r.header('authorization');
  if (h === undefined || h.length < 7 || h.slice(0, 6).toLowerCase() !== 'basic ') return undefined;
  const raw = Buffer.from(h.slice(6).trim(), 'base64');
  const colon = raw.indexOf(0x3a);
  if (colon < 0) return undefined;
  return { user: raw.toString('latin1', 0, colon), password: raw.subarray(colon + 1) };
}

function setRealm(r: HttpRequest, realm: string): number {
  r.addHeader('WWW-Authenticate', `Basic realm="${realm}"`);
  return 401;
}

function loadUsers(r: HttpRequest, amcf: AuthBasicMainConf, spec: string): Map<string, string> | number {
  if (spec.startsWith('data:')) {
    let f = amcf.files.get(spec);
    if (!f) amcf.files.set(spec, (f = { users: parseHtpasswd(spec.slice(5)), checkedAt: Infinity, mtimeMs: 0 }));
    return f.users;
  }
  const path = spec.startsWith('/') ? spec : `${amcf.confPrefix}/${spec}`;
  const now = Date.now();
  let f = amcf.files.get(path);
  if (f && now - f.checkedAt < RECHECK_MS) return f.users;
  try {
    const st = fs.statSync(path);
    if (!f || st.mtimeMs !== f.mtimeMs) {
      f = { users: parseHtpasswd(fs.readFileSync(path, 'utf8')), checkedAt: now, mtimeMs: st.mtimeMs };
      amcf.files.set(path, f);
    }
    f.checkedAt = now;
    return f.users;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    // A missing file forbids; any other failure is the server's fault (nginx: 403 vs 500, crit).
    logRequest(r, e.code === 'ENOENT' ? 'error' : 'crit', sysErrorText('open', path, e));
    return e.code === 'ENOENT' ? 403 : 500;
  }
}

function digest(hash: string, password: Buffer): string {
  return createHash('sha256').update(hash).update('\0').update(password).digest('base64');
}

function handler(cf: ConfCtx): PhaseHandler {
  const idx = cf.index(httpAuthBasicModule);
  const main = cf.scratch.get(MAIN_KEY) as AuthBasicMainConf;
  return (r) => {
    const conf = r.loc.confs[idx] as AuthBasicLocConf;
    if (!conf.realm || !conf.userFile) return DECLINED;
    const ctx = r.ctx[idx] as AuthCtx | undefined;
    if (ctx) return ctx.rc;
    const realm = evaluate(r, conf.realm);
    if (realm === 'off') return DECLINED;
    const cred = basicCredentials(r);
    if (!cred) {
      logRequest(r, 'info', 'no user/password was provided for basic authentication');
      return setRealm(r, realm);
    }
    const spec = evaluate(r, conf.userFile);
    const users = loadUsers(r, main, spec);
    if (typeof users === 'number') return users;
    const hash = users.get(cred.user);
    if (hash === undefined) {
      logRequest(r, 'error', `user "${cred.user}" was not found in "${spec.startsWith('data:') ? 'data:' : spec}"`);
      return setRealm(r, realm);
    }
    const fast = verifyFast(cred.password, hash);
    if (fast !== undefined) return fast ? OK : mismatch(r, cred.user, realm);
    if (!isSlowHash(hash) || hashScheme(hash) === undefined) {
      logRequest(r, 'error', `user "${cred.user}": unsupported password hash scheme`);
      return setRealm(r, realm);
    }
    const key = digest(hash, cred.password);
    if (main.verified.has(key)) return OK;
    const state: AuthCtx = { rc: AGAIN };
    r.ctx[idx] = state;
    verifySlow(cred.password, hash, (ok) => {
      if (ok) {
        if (main.verified.size >= VERIFIED_MAX) main.verified.clear();
        main.verified.add(key);
      }
      state.rc = ok ? OK : mismatch(r, cred.user, realm);
      if (!r.finalized) r.http.runPhases(r);
    });
    return AGAIN;
  };
}

function mismatch(r: HttpRequest, user: string, realm: string): number {
  logRequest(r, 'error', `user "${user}": password mismatch`);
  return setRealm(r, realm);
}

function authBasic(cf: ConfCtx, d: ConfDirective, conf: AuthBasicLocConf): string | void {
  if (conf.realm !== undefined) return 'is duplicate';
  conf.realm = d.args[0] === 'off' ? null : compileTemplate(cf, d.args[0]!);
}

function userFile(cf: ConfCtx, d: ConfDirective, conf: AuthBasicLocConf): string | void {
  if (conf.userFile !== undefined) return 'is duplicate';
  conf.userFile = compileTemplate(cf, d.args[0]!);
}

/** The http block's main conf, reachable when the phase handler is built (cf.level is the core level then). */
const MAIN_KEY = { name: 'http_auth_basic_main', type: 'http' } as const;

export const httpAuthBasicModule = defineHttpModule<AuthBasicMainConf, undefined, AuthBasicLocConf>({
  name: 'ngx_http_auth_basic_module',
  type: 'http',
  configureArg: '--without-http_auth_basic_module',
  variables: [
    {
      name: 'remote_user',
      get: (r) => basicCredentials(r)?.user,
    },
  ],
  directives: [
    { name: 'auth_basic', contexts: AUTH_CTX, args: ARGS.TAKE1, conf: 'loc', set: authBasic },
    { name: 'auth_basic_user_file', contexts: AUTH_CTX, args: ARGS.TAKE1, conf: 'loc', set: userFile },
  ],
  createMainConf(cf) {
    const conf: AuthBasicMainConf = { files: new Map(), verified: new Set(), confPrefix: cf.confPrefix };
    cf.scratch.set(MAIN_KEY, conf);
    return conf;
  },
  createLocConf: () => ({}),
  mergeLocConf(_cf, p, c) {
    if (c.realm === undefined) c.realm = p.realm;
    if (c.userFile === undefined) c.userFile = p.userFile;
  },
  phases: [{ phase: PHASE.ACCESS, handler }],
});
