/**
 * The store: the latest copy of every watched object, by kind and `namespace/name`. Sources write it; the
 * model reads it. Listeners hear about every change so the reconcile loop can coalesce bursts.
 */
import { type Kind, type KubeObject, KINDS, objectKey } from './model/objects.ts';

/** StoreChange tells listeners which kind changed (endpoint-only changes are cheap to detect from it). */
export type StoreListener = (kind: Kind) => void;

/** Store holds objects per kind; reads return them sorted by key so every consumer is deterministic. */
export class Store {
  #maps = new Map<Kind, Map<string, KubeObject>>();
  #listeners: StoreListener[] = [];
  /** #sorted caches list() per kind until the next write of that kind (the model lists kinds many times). */
  #sorted = new Map<Kind, KubeObject[]>();

  constructor() {
    for (const kind of Object.keys(KINDS) as Kind[]) this.#maps.set(kind, new Map());
  }

  /** onChange registers a listener called after every write. */
  onChange(fn: StoreListener): void {
    this.#listeners.push(fn);
  }

  #emit(kind: Kind): void {
    this.#sorted.delete(kind);
    for (const fn of this.#listeners) fn(kind);
  }

  /** upsert adds or replaces one object. */
  upsert(kind: Kind, obj: KubeObject): void {
    this.#maps.get(kind)!.set(objectKey(obj), obj);
    this.#emit(kind);
  }

  /** delete removes one object. */
  delete(kind: Kind, obj: KubeObject): void {
    if (this.#maps.get(kind)!.delete(objectKey(obj))) this.#emit(kind);
  }

  /** replaceAll swaps the whole content of the given kinds at once (the folder source's re-scan). */
  replaceAll(objects: Map<Kind, KubeObject[]>): void {
    for (const [kind, list] of objects) {
      const m = new Map<string, KubeObject>();
      for (const o of list) m.set(objectKey(o), o);
      this.#maps.set(kind, m);
    }
    for (const kind of objects.keys()) this.#emit(kind);
  }

  /** get returns one object by namespace and name. */
  get(kind: Kind, namespace: string | undefined, name: string): KubeObject | undefined {
    return this.#maps.get(kind)!.get(namespace ? `${namespace}/${name}` : name);
  }

  /** list returns all objects of a kind, sorted by key; the array is shared and must not be modified. */
  list(kind: Kind): readonly KubeObject[] {
    let l = this.#sorted.get(kind);
    if (!l) {
      const m = this.#maps.get(kind)!;
      l = [...m.keys()].sort().map((k) => m.get(k)!);
      this.#sorted.set(kind, l);
    }
    return l;
  }
}
