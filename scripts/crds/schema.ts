// Building blocks for Portico's CRD schemas. The CRDs are written as code so that a block used in two places
// (policies, references, conditions) has one definition; scripts/generate.ts prints them as YAML into crds/ and
// the chart. Every node carries a `type` because the API server requires structural schemas.

/** Schema is one OpenAPI v3 schema node as apiextensions.k8s.io/v1 accepts it. */
export type Schema = { [key: string]: unknown };

/** Rule is one x-kubernetes-validations CEL rule. */
export type Rule = { rule: string; message: string };

/** obj builds an object schema; `required` lists mandatory properties, `rules` adds CEL validations. */
export function obj(description: string, properties: Record<string, Schema>, required: string[] = [], rules: Rule[] = []): Schema {
  const s: Schema = { type: 'object', description, properties };
  if (required.length) s.required = required;
  if (rules.length) s['x-kubernetes-validations'] = rules;
  return s;
}

/** list builds an array schema bounded by maxItems (CEL cost estimation needs the bound). */
export function list(description: string, items: Schema, maxItems: number, extra: Schema = {}): Schema {
  return { type: 'array', description, items, maxItems, ...extra };
}

/** str builds a string schema. */
export function str(description: string, extra: Schema = {}): Schema {
  return { type: 'string', description, ...extra };
}

/** int builds an integer schema with bounds. */
export function int(description: string, minimum: number, maximum: number, extra: Schema = {}): Schema {
  return { type: 'integer', format: 'int32', description, minimum, maximum, ...extra };
}

/** bool builds a boolean schema. */
export function bool(description: string, extra: Schema = {}): Schema {
  return { type: 'boolean', description, ...extra };
}

/** enumOf builds a string schema limited to values. */
export function enumOf(description: string, values: string[], extra: Schema = {}): Schema {
  // maxLength bounds the API server's CEL cost estimate for rules that compare the value.
  return { type: 'string', description, enum: values, maxLength: Math.max(...values.map((v) => v.length)), ...extra };
}

/** DNS_LABEL is RFC 1123 label syntax (names of listeners and rules). */
export const DNS_LABEL = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$';
/** DNS_SUBDOMAIN is RFC 1123 subdomain syntax (names of Secrets and Ingresses). */
export const DNS_SUBDOMAIN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';
/** SERVICE_NAME is RFC 1035 label syntax, which Services require. */
export const SERVICE_NAME = '^[a-z]([-a-z0-9]*[a-z0-9])?$';
/** HOSTNAME is a DNS name with an optional single leading wildcard label, as Ingress hosts allow. */
export const HOSTNAME = '^(\\*\\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';

/** duration is an nginx time value ("500ms", "5s", "1m30s"). */
export function duration(description: string): Schema {
  return str(description, { pattern: '^([0-9]{1,6}(ms|s|m|h))+$', maxLength: 32 });
}

/** servicePort names a Service port by number or by name, exactly one, like Ingress's ServiceBackendPort. */
export const servicePort: Schema = obj(
  'Port of the Service, by number or by name (exactly one).',
  {
    number: int('Port number of the Service.', 1, 65535),
    name: str('Port name of the Service.', { maxLength: 15, pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$' }),
  },
  [],
  [{ rule: 'has(self.number) != has(self.name)', message: 'exactly one of number or name must be set' }],
);

/** serviceName is the name of a Service in the resource's own namespace. */
export const serviceName: Schema = str('Name of the Service, in the same namespace.', { maxLength: 63, pattern: SERVICE_NAME });

/** serviceRef references a Service port in the resource's own namespace. */
export function serviceRef(description: string, extra: Record<string, Schema> = {}): Schema {
  return obj(description, { name: serviceName, port: servicePort, ...extra }, ['name', 'port']);
}

/** secretRef references a kubernetes.io/tls Secret in the resource's own namespace (no cross-namespace reads). */
export const secretRef: Schema = obj(
  'A kubernetes.io/tls Secret in the same namespace.',
  { name: str('Name of the Secret.', { maxLength: 253, pattern: DNS_SUBDOMAIN }) },
  ['name'],
);

/** condition is metav1.Condition, the shape every Kubernetes status condition has. */
const condition: Schema = obj(
  'One aspect of the resource\'s state (metav1.Condition).',
  {
    type: str('Type of condition: Accepted or Programmed.', { maxLength: 316, pattern: '^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$' }),
    status: enumOf('Status of the condition.', ['True', 'False', 'Unknown']),
    observedGeneration: { type: 'integer', format: 'int64', minimum: 0, description: 'The .metadata.generation the condition was set from.' },
    lastTransitionTime: str('Last time the status changed.', { format: 'date-time', maxLength: 64 }),
    reason: str('CamelCase reason for the last transition.', { minLength: 1, maxLength: 1024, pattern: '^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$' }),
    message: str('Human-readable details.', { maxLength: 32768 }),
  },
  ['type', 'status', 'lastTransitionTime', 'reason', 'message'],
);

/** conditions is the status.conditions list, keyed by type. */
export const conditions: Schema = list('Accepted and Programmed conditions.', condition, 8, {
  'x-kubernetes-list-type': 'map',
  'x-kubernetes-list-map-keys': ['type'],
});

/** status is the status block every Portico CRD has: conditions and the generation they describe. */
const status: Schema = obj('Observed state, written by the controller.', {
  conditions,
  observedGeneration: { type: 'integer', format: 'int64', minimum: 0, description: 'The .metadata.generation last processed.' },
});

/** PrinterColumn is one additionalPrinterColumns row. */
export type PrinterColumn = { name: string; type: string; jsonPath: string; description?: string; priority?: number };

/** conditionColumn shows the status of one condition type in `kubectl get`. */
export function conditionColumn(type: string): PrinterColumn {
  return { name: type, type: 'string', jsonPath: `.status.conditions[?(@.type=="${type}")].status`, description: `Status of the ${type} condition.` };
}

/** AGE is the usual creation timestamp column. */
export const AGE: PrinterColumn = { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' };

/** CrdSpec is what differs between Portico's CRDs. */
export type CrdSpec = { kind: string; plural: string; shortNames: string[]; description: string; spec: Schema; columns: PrinterColumn[] };

/** GROUP is the API group of every Portico CRD. */
export const GROUP = 'portico.dev';
/** VERSION is the served and stored version. */
export const VERSION = 'v1alpha1';

/** crd assembles an apiextensions.k8s.io/v1 CustomResourceDefinition with the status subresource. */
export function crd(c: CrdSpec): Record<string, unknown> {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${c.plural}.${GROUP}`, labels: { 'app.kubernetes.io/part-of': 'portico' } },
    spec: {
      group: GROUP,
      names: { kind: c.kind, listKind: `${c.kind}List`, plural: c.plural, singular: c.kind.toLowerCase(), shortNames: c.shortNames, categories: ['portico'] },
      scope: 'Namespaced',
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: c.columns,
          schema: {
            openAPIV3Schema: {
              type: 'object',
              description: c.description,
              properties: {
                apiVersion: { type: 'string', description: 'APIVersion of this object.' },
                kind: { type: 'string', description: 'Kind of this object.' },
                metadata: { type: 'object' },
                spec: c.spec,
                status,
              },
              required: ['spec'],
            },
          },
        },
      ],
    },
  };
}
