/**
 * MailProxy (portico.dev/v1alpha1) → mail servers: one nginx mail `server {}` per listener. Pure, like the
 * Ingress model: invalid MailProxies are not accepted (their status says why) and never break the others.
 */
import type { Store } from '../store.ts';
import { slicesOf, upstreamName } from './backends.ts';
import { certificateFromSecret } from './certificates.ts';
import { type KubeObject, byAge } from './objects.ts';
import type { Certificate, ModelEvent, ObjectRef, ResourceCondition } from './types.ts';

/** MailServerModel is one listener of a MailProxy. */
export interface MailServerModel {
  proxy: ObjectRef;
  listener: string;
  port: number;
  protocol: 'smtp' | 'imap' | 'pop3';
  tlsMode?: 'implicit' | 'starttls' | 'starttls-only';
  certificate?: Certificate;
  tlsProtocols?: string[];
  authMethods?: string[];
  serverName?: string;
  authUrl: string;
  authTimeout?: string;
  authHeaders: [string, string][];
  passClientCert?: boolean;
  proxy_: { passErrorMessage?: boolean; proxyProtocol?: boolean; smtpAuth?: boolean; xclient?: boolean; timeout?: string; bufferSize?: string };
  clientTimeout?: string;
  maxErrors?: number;
}

/** buildMail turns MailProxies into mail servers, conditions and events. */
export function buildMail(store: Store, reservedPorts: number[]): { servers: MailServerModel[]; conditions: ResourceCondition[]; events: ModelEvent[] } {
  const servers: MailServerModel[] = [];
  const conditions: ResourceCondition[] = [];
  const events: ModelEvent[] = [];
  const taken = new Map<number, string>(reservedPorts.map((p) => [p, 'the HTTP listeners']));
  for (const mp of [...store.list('MailProxy')].sort(byAge)) {
    const ns = mp.metadata.namespace ?? 'default';
    const ref: ObjectRef = { kind: 'MailProxy', namespace: ns, name: mp.metadata.name, uid: mp.metadata.uid };
    const reject = (reason: string, message: string) => {
      conditions.push({ object: ref, generation: (mp.metadata as { generation?: number }).generation, accepted: false, reason, message });
      events.push({ object: ref, type: 'Warning', reason, message: `MailProxy ${ns}/${mp.metadata.name} not accepted: ${message}` });
    };
    const spec = mp.spec ?? {};
    const authUrl = resolveAuth(store, ns, spec.auth);
    if (typeof authUrl === 'object') {
      reject('InvalidAuth', authUrl.error);
      continue;
    }
    const mine: MailServerModel[] = [];
    let problem: [string, string] | undefined;
    for (const l of (spec.listeners ?? []) as Record<string, any>[]) {
      const owner = taken.get(l['port']);
      if (owner) {
        problem = ['PortConflict', `listener ${l['name']}: port ${l['port']} is already used by ${owner}`];
        break;
      }
      let certificate: Certificate | undefined;
      if (l['tls']) {
        const secretName = l['tls'].secretRef?.name;
        const c = certificateFromSecret(store.get('Secret', ns, secretName), `${ns}/${secretName}`, spec.serverName ?? '');
        if (typeof c === 'string') {
          problem = ['InvalidCertificate', `listener ${l['name']}: ${c}`];
          break;
        }
        certificate = c;
      }
      mine.push({
        proxy: ref,
        listener: l['name'],
        port: l['port'],
        protocol: l['protocol'],
        tlsMode: l['tls']?.mode,
        certificate,
        tlsProtocols: l['tls']?.protocols,
        authMethods: l['authMethods'],
        serverName: spec.serverName,
        authUrl,
        authTimeout: spec.auth?.timeout,
        authHeaders: ((spec.auth?.headers ?? []) as { name: string; value: string }[]).map((h) => [h.name, h.value]),
        passClientCert: spec.auth?.passClientCertificate,
        proxy_: spec.proxy ?? {},
        clientTimeout: spec.timeouts?.client,
        maxErrors: spec.maxErrors,
      });
    }
    if (!problem && mine.length === 0) problem = ['NoListeners', 'spec.listeners is empty'];
    if (problem) {
      reject(problem[0], problem[1]);
      continue;
    }
    for (const s of mine) taken.set(s.port, `MailProxy ${ns}/${mp.metadata.name}`);
    servers.push(...mine);
    conditions.push({ object: ref, generation: (mp.metadata as { generation?: number }).generation, accepted: true, reason: 'Accepted', message: `${mine.length} listener(s)` });
  }
  servers.sort((a, b) => a.port - b.port);
  return { servers, conditions, events };
}

function resolveAuth(store: Store, ns: string, auth: KubeObject['spec']): string | { error: string } {
  if (!auth) return { error: 'spec.auth is required' };
  if (auth.url) return String(auth.url);
  const ref = auth.service;
  if (!ref?.name) return { error: 'spec.auth needs service or url' };
  const svc = store.get('Service', ns, ref.name);
  if (!svc) return { error: `auth service ${ns}/${ref.name} not found` };
  const ports = (svc.spec?.ports ?? []) as { name?: string; port: number; targetPort?: number | string }[];
  const sp = ref.port?.name !== undefined ? ports.find((p) => p.name === ref.port.name) : ports.find((p) => p.port === ref.port?.number);
  if (!sp) return { error: `auth service ${ns}/${ref.name} has no port ${ref.port?.name ?? ref.port?.number}` };
  const path = ref.path ?? '/';
  // auth_http takes one address: the ClusterIP when there is one (stable across endpoint churn), else the first
  // ready endpoint (folder mode, headless Services).
  if (svc.spec?.clusterIP && svc.spec.clusterIP !== 'None') return `http://${svc.spec.clusterIP}:${sp.port}${path}`;
  const slices = slicesOf(store, svc);
  for (const s of slices) {
    const port = ((s['ports'] ?? []) as { name?: string; port?: number }[]).find((p) => (p.name ?? '') === (sp.name ?? ''))?.port;
    const ep = ((s['endpoints'] ?? []) as { addresses?: string[]; conditions?: { ready?: boolean } }[]).find((e) => e.conditions?.ready !== false && e.addresses?.length);
    if (port && ep) return `http://${ep.addresses![0]!.includes(':') ? `[${ep.addresses![0]}]` : ep.addresses![0]}:${port}${path}`;
  }
  return { error: `auth service ${ns}/${ref.name} has no ready endpoints (${upstreamName(ns, ref.name, sp.port)})` };
}
