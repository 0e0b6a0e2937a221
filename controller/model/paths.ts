/**
 * Ingress v1 path semantics mapped onto nginx locations, and the spec checks that reject an Ingress.
 *
 * - Exact `/foo`            → `location = /foo`
 * - Prefix `/foo` or `/foo/` → `location = /foo` and `location /foo/` (element-wise: not `/foobar`); `/` → `location /`
 * - ImplementationSpecific  → `location /foo` (nginx's own string prefix, as ingress-nginx does)
 * - use-regex / rewrite-target: Prefix and ImplementationSpecific become `location ~* ^path`.
 * nginx then gives exactly the spec's precedence: exact matches first, then the longest prefix.
 */
import type { Annotations } from '../annotations/table.ts';
import { hostname } from '../annotations/parsers.ts';
import type { Ingress, IngressBackend, IngressPath } from './objects.ts';
import type { LocationMatch } from './types.ts';

/** LocationKey is the nginx location a path produces, with its priority in conflicts (lower wins). */
export interface LocationKey {
  match: LocationMatch;
  path: string;
  priority: number;
}

/** locationsFor returns the nginx locations for one Ingress path. */
export function locationsFor(p: IngressPath, ann: Annotations): LocationKey[] {
  const path = p.path || '/';
  if (p.pathType === 'Exact') return [{ match: '=', path, priority: 0 }];
  if (ann.useRegex || ann.rewriteTarget) return [{ match: '~*', path: path.startsWith('^') ? path : `^${path}`, priority: 0 }];
  if (p.pathType === 'ImplementationSpecific') return [{ match: '', path, priority: 0 }];
  const trimmed = path.replace(/\/+$/, '');
  if (trimmed === '') return [{ match: '', path: '/', priority: 0 }];
  return [
    { match: '=', path: trimmed, priority: 1 },
    { match: '', path: `${trimmed}/`, priority: 0 },
  ];
}

const BAD_PATH = /[\s;{}"'\\\u0000-\u001f\u007f]/;

function checkBackend(b: IngressBackend | undefined, where: string, errors: string[]): void {
  if (!b) return errors.push(`${where}: backend is required`) as unknown as void;
  if (b.service) {
    if (!b.service.name) errors.push(`${where}: service.name is required`);
    const port = b.service.port;
    if (!port || (port.number === undefined && !port.name)) errors.push(`${where}: service.port.number or service.port.name is required`);
    else if (port.number !== undefined && !(Number.isInteger(port.number) && port.number > 0 && port.number < 65536)) errors.push(`${where}: service.port.number ${port.number} is not a port`);
  } else if (!b.resource) errors.push(`${where}: backend needs service or resource`);
}

/** checkIngress validates an Ingress spec as the API server would, plus the regexes of use-regex paths. */
export function checkIngress(ing: Ingress, ann: Annotations): string[] {
  const errors: string[] = [];
  const spec = ing.spec ?? {};
  if (!spec.rules?.length && !spec.defaultBackend) errors.push('spec.rules or spec.defaultBackend is required');
  if (spec.defaultBackend) checkBackend(spec.defaultBackend, 'spec.defaultBackend', errors);
  (spec.rules ?? []).forEach((rule, i) => {
    if (rule.host !== undefined && rule.host !== '') {
      try {
        hostname(rule.host);
      } catch (e) {
        errors.push(`spec.rules[${i}].host: ${(e as Error).message}`);
      }
    }
    (rule.http?.paths ?? []).forEach((p, j) => {
      const where = `spec.rules[${i}].http.paths[${j}]`;
      if (!['Exact', 'Prefix', 'ImplementationSpecific'].includes(p.pathType ?? '')) errors.push(`${where}.pathType: must be Exact, Prefix or ImplementationSpecific`);
      const path = p.path ?? '/';
      if (BAD_PATH.test(path)) errors.push(`${where}.path: "${path}" contains whitespace, quotes, braces or ";"`);
      else if (p.pathType !== 'ImplementationSpecific' && !ann.useRegex && !path.startsWith('/')) errors.push(`${where}.path: "${path}" must start with /`);
      else if ((ann.useRegex || ann.rewriteTarget) && p.pathType !== 'Exact') {
        try {
          new RegExp(path);
        } catch {
          errors.push(`${where}.path: "${path}" is not a valid regular expression`);
        }
      }
      checkBackend(p.backend, `${where}.backend`, errors);
    });
  });
  return errors;
}
