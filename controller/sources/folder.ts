/**
 * The folder source: multi-document YAML (or JSON) manifests in a directory, the cluster-less way to run
 * Portico. A re-scan replaces the store's content at once; a folder with a broken file keeps the last good
 * content and reports where the error is.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { KINDS, type Kind, type KubeObject, isKind } from '../model/objects.ts';
import type { Store } from '../store.ts';

/** ManifestScan is the objects found by kind, and the problems with file:line. */
export interface ManifestScan {
  objects: Map<Kind, KubeObject[]>;
  errors: string[];
  warnings: string[];
}

function manifestFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    if (e.name.startsWith('.')) continue;
    const full = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...manifestFiles(full));
    else if (/\.(ya?ml|json)$/.test(e.name)) out.push(full);
  }
  return out;
}

/** ParsedFile is one file's documents (with where they start) or its parse errors, kept while the file is unchanged. */
interface ParsedFile {
  stamp: string;
  docs: { where: string; value: unknown }[];
  errors: string[];
}

/** ManifestCache keeps parsed files by path so a re-scan only parses what changed (YAML parsing dominates). */
export type ManifestCache = Map<string, ParsedFile>;

function parseFile(file: string, cache?: ManifestCache): ParsedFile {
  const st = fs.statSync(file);
  const stamp = `${st.mtimeMs}:${st.ctimeMs}:${st.size}`;
  const hit = cache?.get(file);
  if (hit && hit.stamp === stamp) return hit;
  const text = fs.readFileSync(file, 'utf8');
  const lineOf = (offset: number) => text.slice(0, offset).split('\n').length;
  const parsed: ParsedFile = { stamp, docs: [], errors: [] };
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length) {
      for (const e of doc.errors) parsed.errors.push(`${file}:${e.linePos?.[0]?.line ?? '?'}: ${e.message.split('\n')[0]}`);
      continue;
    }
    const value = doc.toJS() as unknown;
    if (value !== null && value !== undefined) parsed.docs.push({ where: `${file}:${lineOf(doc.range[0])}`, value });
  }
  cache?.set(file, parsed);
  return parsed;
}

/** scanManifests reads every manifest under dir (sorted, recursive); `cache` skips files that did not change. */
export function scanManifests(dir: string, cache?: ManifestCache): ManifestScan {
  const objects = new Map<Kind, KubeObject[]>((Object.keys(KINDS) as Kind[]).map((k) => [k, []]));
  const errors: string[] = [];
  const warnings: string[] = [];
  let files: string[];
  try {
    files = fs.statSync(dir).isDirectory() ? manifestFiles(dir) : [dir];
  } catch (e) {
    return { objects, errors: [`cannot read manifests directory "${dir}": ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`], warnings };
  }
  for (const file of files) {
    let parsed: ParsedFile;
    try {
      parsed = parseFile(file, cache);
    } catch (e) {
      // Removed or unreadable between listing and reading: the next event re-scans.
      errors.push(`${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      continue;
    }
    errors.push(...parsed.errors);
    for (const { where, value } of parsed.docs) {
      const items = (value as KubeObject).kind === 'List' ? ((value as { items?: unknown[] }).items ?? []) : [value];
      for (const item of items) addObject(item, where, objects, errors, warnings);
    }
  }
  if (cache) for (const f of cache.keys()) if (!files.includes(f)) cache.delete(f);
  return { objects, errors, warnings };
}

function addObject(item: unknown, where: string, objects: Map<Kind, KubeObject[]>, errors: string[], warnings: string[]): void {
  if (typeof item !== 'object' || item === null || Array.isArray(item)) return void errors.push(`${where}: a manifest must be a mapping with kind and metadata`);
  const obj = item as KubeObject;
  if (typeof obj.kind !== 'string' || !obj.kind) return void errors.push(`${where}: "kind" is missing`);
  if (typeof obj.metadata?.name !== 'string' || !obj.metadata.name) return void errors.push(`${where}: ${obj.kind} has no metadata.name`);
  if (!isKind(obj.kind)) return void warnings.push(`${where}: kind ${obj.kind} is not used by Portico; ignored`);
  if (KINDS[obj.kind].namespaced) obj.metadata.namespace ??= 'default';
  if (obj.kind === 'Ingress' && (typeof obj.spec !== 'object' || obj.spec === null)) return void errors.push(`${where}: Ingress ${obj.metadata.name} has no spec`);
  const list = objects.get(obj.kind)!;
  const key = `${obj.metadata.namespace ?? ''}/${obj.metadata.name}`;
  if (list.some((o) => `${o.metadata.namespace ?? ''}/${o.metadata.name}` === key)) return void errors.push(`${where}: duplicate ${obj.kind} ${key}`);
  list.push(obj);
}

/** folderStamp is the list of manifest files with their stamps: equal stamps mean nothing changed. */
function folderStamp(dir: string): string {
  try {
    const files = fs.statSync(dir).isDirectory() ? manifestFiles(dir) : [dir];
    return files.map((f) => {
      const st = fs.statSync(f, { throwIfNoEntry: false });
      return `${f}@${st ? `${st.mtimeMs}:${st.ctimeMs}:${st.size}` : '-'}`;
    }).join('\n');
  } catch {
    return '';
  }
}

function subdirs(dir: string): string[] {
  const out = [dir];
  try {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) if (e.isDirectory() && !e.name.startsWith('.')) out.push(...subdirs(path.join(dir, e.name)));
  } catch {
    // gone: the next scan reports it
  }
  return out;
}

/**
 * FolderSource keeps a store in step with a directory of manifests. It watches every folder (inotify through
 * fs.watch, re-armed after each scan, which also covers files replaced by rename) and, as a safety net for
 * missed events, compares file stamps every `pollMs`; the store is only rewritten when a stamp changed.
 */
export class FolderSource {
  readonly dir: string;
  #store: Store;
  #watchers = new Map<string, fs.FSWatcher>();
  #timer?: NodeJS.Timeout;
  #poll?: NodeJS.Timeout;
  #debounceMs: number;
  #report: (scan: ManifestScan) => void;
  #cache: ManifestCache = new Map();
  #loaded = '';

  constructor(dir: string, store: Store, report: (scan: ManifestScan) => void, debounceMs = 100) {
    this.dir = dir;
    this.#store = store;
    this.#report = report;
    this.#debounceMs = debounceMs;
  }

  /** load scans once; it fills the store only when the folder has no errors, and returns the scan. */
  load(): ManifestScan {
    const stamp = folderStamp(this.dir);
    const scan = scanManifests(this.dir, this.#cache);
    this.#report(scan);
    if (scan.errors.length === 0) {
      this.#store.replaceAll(scan.objects);
      this.#loaded = stamp;
    }
    if (this.#poll) this.#arm();
    return scan;
  }

  #changed = (): void => {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      if (folderStamp(this.dir) !== this.#loaded) this.load();
    }, this.#debounceMs);
  };

  #arm(): void {
    const dirs = new Set(fs.statSync(this.dir, { throwIfNoEntry: false })?.isDirectory() ? subdirs(this.dir) : [this.dir]);
    for (const [d, w] of this.#watchers) if (!dirs.has(d)) (w.close(), this.#watchers.delete(d));
    for (const d of dirs) {
      if (this.#watchers.has(d)) continue;
      try {
        const w = fs.watch(d, this.#changed);
        w.on('error', () => (w.close(), this.#watchers.delete(d)));
        this.#watchers.set(d, w);
      } catch {
        // unreadable folder: the poll still notices changes
      }
    }
  }

  /** watch re-scans (debounced) whenever anything under the folder changes. */
  watch(pollMs = 1000): void {
    this.#poll = setInterval(this.#changed, pollMs);
    this.#poll.unref();
    this.#arm();
  }

  /** close stops watching. */
  close(): void {
    clearTimeout(this.#timer);
    clearInterval(this.#poll);
    for (const w of this.#watchers.values()) w.close();
    this.#watchers.clear();
  }
}
