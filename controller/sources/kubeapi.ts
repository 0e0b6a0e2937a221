/**
 * Raw JSON requests to the API server with the client library's authentication (kubeconfig or in-cluster).
 * Raw on purpose: watch events arrive as plain JSON, so lists, reads and writes use the same plain shapes
 * instead of the generated classes (which turn timestamps into Dates).
 */
import { KubeConfig, RequestContext } from '@kubernetes/client-node';
import { fetch } from 'undici';

export { kindPath } from '../model/objects.ts';

/** KubeResponse is a status and the decoded JSON body. */
export interface KubeResponse {
  status: number;
  body: any;
}

/** loadKubeConfig reads --kubeconfig, or the in-cluster service account, or the default kubeconfig. */
export function loadKubeConfig(file?: string): KubeConfig {
  const kc = new KubeConfig();
  if (file) kc.loadFromFile(file);
  else if (process.env['KUBERNETES_SERVICE_HOST']) kc.loadFromCluster();
  else kc.loadFromDefault();
  return kc;
}

/** KubeApi sends authenticated JSON requests. */
export class KubeApi {
  readonly kc: KubeConfig;
  readonly userAgent: string;

  constructor(kc: KubeConfig, userAgent = 'portico-controller') {
    this.kc = kc;
    this.userAgent = userAgent;
  }

  /** request sends one request; network errors throw, HTTP errors return their status. */
  async request(method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', path: string, body?: unknown, contentType = 'application/json'): Promise<KubeResponse> {
    const cluster = this.kc.getCurrentCluster();
    if (!cluster) throw new Error('kubeconfig has no current cluster');
    const url = cluster.server + path;
    const ctx = new RequestContext(url, method as never);
    await this.kc.applySecurityAuthentication(ctx);
    const headers: Record<string, string> = { ...ctx.getHeaders(), accept: 'application/json', 'user-agent': this.userAgent };
    if (body !== undefined) headers['content-type'] = contentType;
    const res = await fetch(url, { method, headers, dispatcher: ctx.getDispatcher() as never, body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(10_000) });
    const text = await res.text();
    let json: unknown = undefined;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = { message: text };
    }
    return { status: res.status, body: json };
  }
}
