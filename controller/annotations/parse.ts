/**
 * Reads an Ingress's annotations through the table. Invalid values, snippets and conflicting prefixes are errors
 * that reject that Ingress only; unknown keys under our prefixes are warnings.
 */
import { SETTINGS_BY_KEY } from './settings.ts';
import { type Annotations, PREFIXES, TABLE } from './table.ts';

/** AnnotationResult is the parsed annotations, or the reasons the Ingress is rejected. */
export type AnnotationResult = { ok: true; value: Annotations; warnings: string[] } | { ok: false; errors: string[]; warnings: string[] };

const BY_KEY = new Map(TABLE.map((d) => [d.key, d]));

/** parseAnnotations validates every annotation under our prefixes, over `defaults` (from the global ConfigMap). */
export function parseAnnotations(annotations: Record<string, string> | undefined, defaults: Annotations = {}): AnnotationResult {
  const value: Record<string, unknown> = { ...defaults };
  const errors: string[] = [];
  const warnings: string[] = [];
  for (const prefix of PREFIXES) {
    for (const [full, raw] of Object.entries(annotations ?? {}).sort(([a], [b]) => (a < b ? -1 : 1))) {
      if (!full.startsWith(prefix)) continue;
      const key = full.slice(prefix.length);
      if (key.endsWith('-snippet')) {
        errors.push(`annotation ${full}: configuration snippets are not supported (they allow arbitrary configuration); use annotations or the HTTP route resource`);
        continue;
      }
      const def = BY_KEY.get(key);
      if (!def) {
        warnings.push(`annotation ${full} is not supported and was ignored`);
        continue;
      }
      try {
        value[def.field] = def.parse(String(raw).trim());
      } catch (e) {
        errors.push(`annotation ${full}: invalid value: ${(e as Error).message}`);
      }
    }
  }
  const a = value as Annotations;
  if (a.authType === 'basic' && !a.authSecret) errors.push('annotation auth-type: basic requires auth-secret');
  if (a.canaryByHeaderValue && !a.canaryByHeader) errors.push('annotation canary-by-header-value requires canary-by-header');
  return errors.length ? { ok: false, errors, warnings } : { ok: true, value: a, warnings };
}

/** GlobalSettings is the parsed ConfigMap: annotation defaults and directives for the main and http levels. */
export interface GlobalSettings {
  value: Annotations;
  directives: { context: 'main' | 'http'; name: string; args: string[] }[];
  errors: string[];
}

/** parseGlobalSettings reads the global ConfigMap: global annotation keys (no prefix) and settings.ts keys. */
export function parseGlobalSettings(data: Record<string, string> | undefined): GlobalSettings {
  const value: Record<string, unknown> = {};
  const errors: string[] = [];
  const directives: GlobalSettings['directives'] = [];
  for (const [key, raw] of Object.entries(data ?? {}).sort(([a], [b]) => (a < b ? -1 : 1))) {
    const setting = SETTINGS_BY_KEY.get(key);
    if (setting) {
      try {
        directives.push({ context: setting.context, name: setting.directive, args: setting.parse(String(raw).trim()) });
      } catch (e) {
        errors.push(`ConfigMap key ${key}: invalid value: ${(e as Error).message}`);
      }
      continue;
    }
    const def = BY_KEY.get(key);
    if (!def || !def.global) {
      errors.push(`ConfigMap key ${key} is not a supported global setting`);
      continue;
    }
    try {
      value[def.field] = def.parse(String(raw).trim());
    } catch (e) {
      errors.push(`ConfigMap key ${key}: invalid value: ${(e as Error).message}`);
    }
  }
  return { value: value as Annotations, directives, errors };
}
