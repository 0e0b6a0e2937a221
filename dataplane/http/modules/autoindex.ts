/**
 * ngx_http_autoindex_module: a listing of the directory a `/`-ending URI maps to, as HTML (nginx's layout),
 * JSON or XML. Dot files are hidden; directories come first, then names in byte order.
 */
import fs from 'node:fs';
import { ARGS, CTX } from '../../core/module.ts';
import { enumSlot, flagSlot } from '../../core/slots.ts';
import type { HttpRequest } from '../request.ts';
import { DECLINED, PHASE, defineHttpModule, type PhaseHandler } from '../types.ts';
import { mapUriToPath } from '../variables-core.ts';
import { openError } from './static.ts';

export interface AutoindexLocConf {
  enable?: boolean;
  format?: 'html' | 'json' | 'xml';
  exactSize?: boolean;
  localtime?: boolean;
}

interface Entry {
  name: string;
  dir: boolean;
  mtime: Date;
  size: number;
}

const LOC = CTX.HTTP_MAIN | CTX.HTTP_SRV | CTX.HTTP_LOC;
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const p2 = (n: number) => String(n).padStart(2, '0');

function escapeHtml(s: string): string {
  return s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
}

function listDate(d: Date, local: boolean): string {
  return local
    ? `${p2(d.getDate())}-${MONTHS[d.getMonth()]}-${d.getFullYear()} ${p2(d.getHours())}:${p2(d.getMinutes())}`
    : `${p2(d.getUTCDate())}-${MONTHS[d.getUTCMonth()]}-${d.getUTCFullYear()} ${p2(d.getUTCHours())}:${p2(d.getUTCMinutes())}`;
}

/** humanSize is nginx's 6-wide scaled size: bytes up to 9999, then K, M, G rounded half up. */
function humanSize(n: number): string {
  const scale = (unit: number, c: string) => `${String(Math.floor(n / unit) + (n % unit > unit / 2 - 1 ? 1 : 0)).padStart(6)}${c}`;
  if (n > 1024 ** 3 - 1) return scale(1024 ** 3, 'G');
  if (n > 1024 ** 2 - 1) return scale(1024 ** 2, 'M');
  if (n > 9999) return scale(1024, 'K');
  return ` ${String(n).padStart(6)}`;
}

/** escapeHref percent-encodes what cannot stand in an href (nginx's NGX_ESCAPE_HTML set), byte by byte. */
function escapeHref(name: string): string {
  let out = '';
  for (const b of Buffer.from(name)) {
    out += b <= 0x20 || b >= 0x7f || b === 0x22 || b === 0x23 || b === 0x25 || b === 0x26 || b === 0x27 || b === 0x3c || b === 0x3e || b === 0x3f
      ? '%' + b.toString(16).toUpperCase().padStart(2, '0')
      : String.fromCharCode(b);
  }
  return out;
}

function html(r: HttpRequest, conf: AutoindexLocConf, entries: Entry[]): string {
  const title = escapeHtml(r.uri);
  let out = `<html>\r\n<head><title>Index of ${title}</title></head>\r\n<body>\r\n<h1>Index of ${title}</h1><hr><pre><a href="../">../</a>\r\n`;
  for (const e of entries) {
    const name = e.name + (e.dir ? '/' : '');
    const shown = [...name].length > 50 ? [...name].slice(0, 47).join('') + '..>' : name;
    // Padding counts bytes, as nginx's does.
    const pad = Math.max(1, 51 - Buffer.byteLength(shown));
    const size = e.dir ? (conf.exactSize ? '-'.padStart(19) : '-'.padStart(7)) : conf.exactSize ? String(e.size).padStart(19) : humanSize(e.size);
    out += `<a href="${escapeHref(name)}">${escapeHtml(shown)}</a>${' '.repeat(pad)}${listDate(e.mtime, conf.localtime!)} ${size}\r\n`;
  }
  return out + '</pre><hr></body>\r\n</html>\r\n';
}

function json(entries: Entry[]): string {
  const rows = entries.map((e) => {
    const base = `{ "name":${JSON.stringify(e.name)}, "type":"${e.dir ? 'directory' : 'file'}", "mtime":"${e.mtime.toUTCString()}"`;
    return e.dir ? `${base} }` : `${base}, "size":${e.size} }`;
  });
  return `[\r\n${rows.join(',\r\n')}${rows.length ? '\r\n' : ''}]`;
}

function xml(entries: Entry[]): string {
  const rows = entries.map((e) => {
    const mtime = e.mtime.toISOString().replace(/\.\d{3}Z$/, 'Z');
    return e.dir ? `<directory mtime="${mtime}">${escapeHtml(e.name)}</directory>` : `<file mtime="${mtime}" size="${e.size}">${escapeHtml(e.name)}</file>`;
  });
  return `<?xml version="1.0"?>\r\n<list>\r\n${rows.map((x) => x + '\r\n').join('')}</list>\r\n`;
}

function handler(cf: import('../../core/conf.ts').ConfCtx): PhaseHandler {
  const idx = cf.index(httpAutoindexModule);
  return (r) => {
    if (!r.uri.endsWith('/')) return DECLINED;
    const conf = r.loc.confs[idx] as AutoindexLocConf;
    if (!conf.enable) return DECLINED;
    if (r.method !== 'GET' && r.method !== 'HEAD') return DECLINED;
    const dir = mapUriToPath(r, r.uri);
    const entries: Entry[] = [];
    try {
      for (const name of fs.readdirSync(dir)) {
        if (name.startsWith('.')) continue;
        const st = fs.statSync(dir + name, { throwIfNoEntry: false });
        if (!st) continue;
        entries.push({ name, dir: st.isDirectory(), mtime: st.mtime, size: st.size });
      }
    } catch (err) {
      return openError(r, dir, err as NodeJS.ErrnoException);
    }
    entries.sort((a, b) => (a.dir !== b.dir ? (a.dir ? -1 : 1) : a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const fmt = conf.format!;
    const body = Buffer.from(fmt === 'json' ? json(entries) : fmt === 'xml' ? xml(entries) : html(r, conf, entries));
    r.conn.discardBody(r);
    r.out.charset = fmt === 'html' ? undefined : 'utf-8';
    return r.respond(200, fmt === 'json' ? 'application/json' : fmt === 'xml' ? 'text/xml' : 'text/html', body);
  };
}

export const httpAutoindexModule = defineHttpModule<undefined, undefined, AutoindexLocConf>({
  name: 'ngx_http_autoindex_module',
  type: 'http',
  directives: [
    { name: 'autoindex', contexts: LOC, args: ARGS.FLAG, conf: 'loc', set: flagSlot('enable') },
    { name: 'autoindex_format', contexts: LOC, args: ARGS.TAKE1, conf: 'loc', set: enumSlot('format', { html: 'html', json: 'json', xml: 'xml' }) },
    { name: 'autoindex_exact_size', contexts: LOC, args: ARGS.FLAG, conf: 'loc', set: flagSlot('exactSize') },
    { name: 'autoindex_localtime', contexts: LOC, args: ARGS.FLAG, conf: 'loc', set: flagSlot('localtime') },
  ],
  createLocConf: () => ({}),
  mergeLocConf(_cf, p, c) {
    c.enable ??= p.enable ?? false;
    c.format ??= p.format ?? 'html';
    c.exactSize ??= p.exactSize ?? true;
    c.localtime ??= p.localtime ?? false;
  },
  phases: [{ phase: PHASE.CONTENT, handler }],
});
