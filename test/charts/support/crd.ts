// Test support: what the API server checks about a CRD and about objects of its kind, without an API server.
//  - structuralErrors: the structural-schema rules apiextensions.k8s.io/v1 enforces when a CRD is created;
//  - validateCustom: an object against the CRD's openAPIV3Schema (ajv, with unknown fields rejected as
//    `kubectl apply`'s strict field validation does) and its x-kubernetes-validations CEL rules (@bufbuild/cel,
//    with integers bound as CEL ints and objects as maps, as the API server binds them).
import { run } from '@bufbuild/cel';
import { Ajv } from 'ajv';
import addFormatsModule from 'ajv-formats';
import type { Schema } from '../../../scripts/crds/schema.ts';

type Node = Schema & {
  type?: string;
  properties?: Record<string, Node>;
  items?: Node;
  additionalProperties?: Node | boolean;
  required?: string[];
  'x-kubernetes-validations'?: Array<{ rule: string; message: string }>;
};

const VALUE_VALIDATIONS = ['allOf', 'anyOf', 'oneOf', 'not'];
// Inside value validations the API server forbids anything that would change the structure or defaults.
const NOT_IN_VALUE_VALIDATIONS = ['type', 'default', 'description', 'nullable', 'additionalProperties', 'x-kubernetes-preserve-unknown-fields'];

/** openAPIV3Schema returns the schema of the CRD's first (only) version. */
export function openAPIV3Schema(crd: Record<string, any>): Node {
  return crd.spec.versions[0].schema.openAPIV3Schema as Node;
}

/** structuralErrors lists the ways the CRD schema breaks the API server's structural-schema rules. */
export function structuralErrors(root: Node): string[] {
  const errors: string[] = [];
  const visit = (n: Node, path: string): void => {
    const free = n['x-kubernetes-int-or-string'] === true || n['x-kubernetes-preserve-unknown-fields'] === true;
    if (!n.type && !free) errors.push(`${path}: type must be specified`);
    if (n.properties && n.additionalProperties !== undefined) errors.push(`${path}: properties and additionalProperties are mutually exclusive`);
    if ((n.properties || n.additionalProperties) && n.type !== 'object') errors.push(`${path}: properties need type object`);
    if (n.items && n.type !== 'array') errors.push(`${path}: items needs type array`);
    if (n.type === 'array' && !n.items) errors.push(`${path}: arrays need items`);
    for (const k of VALUE_VALIDATIONS) {
      const subs = ([] as Node[]).concat((n[k] as Node | Node[] | undefined) ?? []);
      for (const s of subs) for (const bad of NOT_IN_VALUE_VALIDATIONS) if (bad in s) errors.push(`${path}.${k}: ${bad} is not allowed in value validations`);
    }
    const listType = n['x-kubernetes-list-type'];
    if (listType === 'map') {
      const keys = (n['x-kubernetes-list-map-keys'] as string[] | undefined) ?? [];
      if (!keys.length) errors.push(`${path}: list-type map needs list-map-keys`);
      for (const key of keys) if (!n.items?.required?.includes(key)) errors.push(`${path}: map key ${key} must be required`);
    }
    if (listType === 'set' && n.items?.type === 'object') errors.push(`${path}: list-type set needs scalar items`);
    if (n.type === 'array' && n['x-kubernetes-validations'] && n.maxItems === undefined) errors.push(`${path}: CEL rules on a list need maxItems for cost estimation`);
    for (const [k, p] of Object.entries(n.properties ?? {})) visit(p, `${path}.${k}`);
    if (n.items) visit(n.items, `${path}[]`);
    if (typeof n.additionalProperties === 'object') visit(n.additionalProperties, `${path}{}`);
  };
  visit(root, '');
  const meta = root.properties?.metadata;
  if (meta && Object.keys(meta).some((k) => k !== 'type')) errors.push('.metadata: only type may be given at the root');
  return errors;
}

// Strict field validation: an object with declared properties accepts no others.
function strict(n: Node): Node {
  const out: Node = { ...n };
  if (n.properties) {
    out.properties = Object.fromEntries(Object.entries(n.properties).map(([k, p]) => [k, strict(p)]));
    if (n.additionalProperties === undefined && !n['x-kubernetes-preserve-unknown-fields']) out.additionalProperties = false;
  }
  if (n.items) out.items = strict(n.items);
  if (typeof n.additionalProperties === 'object') out.additionalProperties = strict(n.additionalProperties);
  return out;
}

const ajv = new Ajv({ strict: false, allErrors: true });
(addFormatsModule as unknown as (a: Ajv) => void)(ajv);
ajv.addFormat('int32', { type: 'number', validate: (n: number) => Number.isInteger(n) && n >= -(2 ** 31) && n < 2 ** 31 });
ajv.addFormat('int64', { type: 'number', validate: (n: number) => Number.isSafeInteger(n) });

const compiled = new WeakMap<Node, ReturnType<Ajv['compile']>>();

// The API server binds integers as CEL int, other numbers as double, objects as maps.
function toCel(v: unknown, n: Node | undefined): unknown {
  if (v === null || v === undefined) return v;
  if (Array.isArray(v)) return v.map((x) => toCel(x, n?.items));
  if (typeof v === 'object') {
    const child = (k: string): Node | undefined => n?.properties?.[k] ?? (typeof n?.additionalProperties === 'object' ? n.additionalProperties : undefined);
    return new Map(Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, toCel(x, child(k))]));
  }
  if (typeof v === 'number' && n?.type === 'integer') return BigInt(v);
  return v;
}

function celErrors(n: Node, v: unknown, path: string, out: string[]): void {
  if (v === null || v === undefined) return;
  for (const { rule, message } of n['x-kubernetes-validations'] ?? []) {
    const result = run(rule, { self: toCel(v, n) } as never);
    if (result !== true) out.push(`${path || '<root>'}: ${result === false ? message : `rule ${rule} failed to evaluate: ${String(result)}`}`);
  }
  if (Array.isArray(v)) v.forEach((x, i) => n.items && celErrors(n.items, x, `${path}[${i}]`, out));
  else if (typeof v === 'object') {
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
      const child = n.properties?.[k] ?? (typeof n.additionalProperties === 'object' ? n.additionalProperties : undefined);
      if (child) celErrors(child, x, `${path}.${k}`, out);
    }
  }
}

/** validateCustom returns the errors the API server would report for obj against the CRD (empty when valid). */
export function validateCustom(crd: Record<string, any>, obj: Record<string, unknown>): string[] {
  const schema = openAPIV3Schema(crd);
  let validate = compiled.get(schema);
  if (!validate) compiled.set(schema, (validate = ajv.compile(strict(schema))));
  if (!validate(obj)) return (validate.errors ?? []).map((e) => `${e.instancePath || '<root>'}: ${e.message}${e.params && 'additionalProperty' in e.params ? ` (${String(e.params.additionalProperty)})` : ''}`);
  const out: string[] = [];
  celErrors(schema, obj, '', out);
  return out;
}
