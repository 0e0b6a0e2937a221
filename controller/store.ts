/**
 * The store: the latest copy of every watched object, by kind and `namespace/name`. Sources write it; the
 * model reads it. Listeners hear about every change so the reconcile loop can coalesce bursts.
 */
import { HostLookups } from './model/host-lookups.ts';
import { type Kind, type KubeObject, KINDS, objectKey } from './model/objects.ts';

const OWN_STATUS = new Set<Kind>(['Ingress', 'MailProxy', 'HTTPRoutePolicy']);

/** modelView is the part of an object the model may read, as text for comparison. */
function modelView(kind: Kind, o: KubeObject): string {
  const { resourceVersion: _rv, managedFields: _mf, ...meta } = o.metadata as KubeObject['metadata'] & { managedFields?: unknown };
  return JSON.stringify({ ...o, metadata: meta, status: OWN_STATUS.has(kind) ? undefined : o.status });
}

/** StoreChange tells listeners which kind changed (endpoint-only changes are cheap to detect from it). */
export type StoreListener = (kind: Kind) => void;

/** Store holds objects per kind; reads return them sorted by key so every consumer is deterministic. */
export class Store {
  #maps = new Map<Kind, Map<string, KubeObject>>();
  #listeners: StoreListener[] = [];
  /** #sorted caches list() per kind until the next write of that kind (the model lists kinds many times). */
  #sorted = new Map<Kind, KubeObject[]>();
  /** externalNames holds what the host names of ExternalName Services resolved to (a changed answer is a Service change). */
  readonly hostLookups = new HostLookups(() => this.#emit('Service'));

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

  /**
   * upsert adds or replaces one object. A write that changes nothing the model reads (resourceVersion,
   * managedFields, and the status of kinds whose status we write) updates the copy without waking listeners, so
   * our own status writes do not trigger renders.
   */
  upsert(kind: Kind, obj: KubeObject): void {
    const map = this.#maps.get(kind)!;
    const key = objectKey(obj);
    const old = map.get(key);
    map.set(key, obj);
    if (old && modelView(kind, old) === modelView(kind, obj)) return;
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
