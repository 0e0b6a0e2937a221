/**
 * Which Ingresses are ours: the Ingress v1 class rules plus ingress-nginx's legacy annotation and flags.
 */
import type { Store } from '../store.ts';
import type { Ingress } from './objects.ts';

/** ClassOptions are the flags that decide class membership. */
export interface ClassOptions {
  /** ingressClass is the IngressClass name we serve (--ingress-class, default "portico"). */
  ingressClass: string;
  /** controllerClass is our spec.controller value (--controller-class, default "portico.dev/ingress-controller"). */
  controllerClass: string;
  /** watchWithoutClass serves Ingresses that name no class at all (--watch-ingress-without-class). */
  watchWithoutClass: boolean;
}

/** LEGACY_CLASS_ANNOTATION is the pre-v1 way of naming a class. */
export const LEGACY_CLASS_ANNOTATION = 'kubernetes.io/ingress.class';
/** DEFAULT_CLASS_ANNOTATION marks an IngressClass as the cluster default. */
export const DEFAULT_CLASS_ANNOTATION = 'ingressclass.kubernetes.io/is-default-class';

/** isOurs tells whether this controller serves the Ingress. */
export function isOurs(ing: Ingress, store: Store, opts: ClassOptions): boolean {
  const className = ing.spec?.ingressClassName;
  if (className) {
    const cls = store.get('IngressClass', undefined, className);
    if (cls) return cls.spec?.controller === opts.controllerClass;
    // Without an IngressClass object (folder mode, or not created yet) the name alone decides.
    return className === opts.ingressClass;
  }
  const legacy = ing.metadata.annotations?.[LEGACY_CLASS_ANNOTATION];
  if (legacy !== undefined) return legacy === opts.ingressClass;
  if (opts.watchWithoutClass) return true;
  return store
    .list('IngressClass')
    .some((c) => c.metadata.annotations?.[DEFAULT_CLASS_ANNOTATION] === 'true' && c.spec?.controller === opts.controllerClass);
}
