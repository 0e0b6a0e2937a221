// Test support: validation of rendered manifests against Kubernetes' own schemas, in two passes:
//  - kubernetes-models (and its prometheus-operator package) check types, required fields, enums and formats
//    with validators generated from the Kubernetes OpenAPI document;
//  - those validators let unknown fields through, so a second pass walks each object with the field maps of
//    @kubernetes/client-node's generated models and reports every field Kubernetes does not know (what
//    `kubectl apply --validate=strict` rejects), such as a misspelt `readinessprobe`.
import * as k8s from '@kubernetes/client-node';
import type { K8sObject } from './helm.ts';

type Attr = { baseName: string; type: string };
type ModelClass = { getAttributeTypeMap?: () => Attr[] };
type Validating = { validate(): void };

const MODELS = k8s as unknown as Record<string, ModelClass | undefined>;

// The client's class name for apiVersion/kind: apps/v1 Deployment → V1Deployment, autoscaling/v2 … → V2….
function className(apiVersion: string, kind: string): string {
  const version = apiVersion.split('/').pop() ?? '';
  return version.charAt(0).toUpperCase() + version.slice(1) + kind;
}

function attributes(type: string): Attr[] | undefined {
  return MODELS[type]?.getAttributeTypeMap?.();
}

function unknownFields(value: unknown, type: string, path: string, out: string[]): void {
  if (value === null || value === undefined) return;
  const array = /^Array<(.+)>$/.exec(type);
  if (array) {
    if (Array.isArray(value)) value.forEach((v, i) => unknownFields(v, array[1], `${path}[${i}]`, out));
    return;
  }
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (map) {
    if (typeof value === 'object') for (const [k, v] of Object.entries(value)) unknownFields(v, map[1], `${path}.${k}`, out);
    return;
  }
  const attrs = attributes(type);
  if (!attrs || typeof value !== 'object' || Array.isArray(value)) return;
  const byName = new Map(attrs.map((a) => [a.baseName, a.type]));
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    let fieldType = byName.get(k);
    if (fieldType === undefined) {
      out.push(`${path}.${k}: unknown field in ${type}`);
      continue;
    }
    // JSONSchemaProps types items/additionalProperties as `any` (they may also be arrays or booleans).
    if (type === 'V1JSONSchemaProps' && (k === 'items' || k === 'additionalProperties') && typeof v === 'object' && !Array.isArray(v)) {
      fieldType = 'V1JSONSchemaProps';
    }
    unknownFields(v, fieldType, `${path}.${k}`, out);
  }
}

async function model(o: K8sObject): Promise<Validating> {
  const module = o.apiVersion.startsWith('monitoring.coreos.com/')
    ? `@kubernetes-models/prometheus-operator/${o.apiVersion}`
    : `kubernetes-models/${o.apiVersion}`;
  const classes = (await import(module)) as Record<string, new (data: unknown) => Validating>;
  const Model = classes[o.kind];
  if (!Model) throw new Error(`${o.apiVersion} ${o.kind}: no schema known`);
  return new Model(o);
}

/** validateManifest returns every schema violation of one rendered object (empty when it is valid). */
export async function validateManifest(o: K8sObject): Promise<string[]> {
  const where = `${o.kind}/${o.metadata?.name}`;
  const errors: string[] = [];
  try {
    (await model(o)).validate();
  } catch (e) {
    errors.push(`${where}: ${(e as Error).message}`);
  }
  const type = className(o.apiVersion, o.kind);
  if (attributes(type)) {
    const unknown: string[] = [];
    unknownFields(o, type, '', unknown);
    errors.push(...unknown.map((u) => `${where}: ${u}`));
  } else if (!o.apiVersion.startsWith('monitoring.coreos.com/')) {
    errors.push(`${where}: no field map for ${type}`);
  }
  return errors;
}
