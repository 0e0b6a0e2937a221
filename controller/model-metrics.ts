/**
 * Metrics derived from the decided model after each render, with ingress-nginx's names: the expiry and identity
 * of every served certificate, Ingresses whose backend is missing (orphans), and build information.
 */
import { X509Certificate } from 'node:crypto';
import client from 'prom-client';
import { NAME, VERSION } from '../dataplane/core/version.ts';
import type { Model } from './model/types.ts';

/** ModelMetrics holds the gauges a render resets and refills. */
export class ModelMetrics {
  readonly sslExpire: client.Gauge;
  readonly sslInfo: client.Gauge;
  readonly orphans: client.Gauge;

  constructor(registry: client.Registry) {
    this.sslExpire = new client.Gauge({ name: 'nginx_ingress_controller_ssl_expire_time_seconds', help: 'Number of seconds since 1970 to the SSL Certificate expire', labelNames: ['namespace', 'host', 'secret_name'], registers: [registry] });
    this.sslInfo = new client.Gauge({
      name: 'nginx_ingress_controller_ssl_certificate_info',
      help: 'Hold all labels associated to a certificate',
      labelNames: ['namespace', 'host', 'secret_name', 'identifier', 'issuer_common_name', 'issuer_organization', 'serial_number', 'public_key_algorithm'],
      registers: [registry],
    });
    this.orphans = new client.Gauge({ name: 'nginx_ingress_controller_orphan_ingress', help: 'Gauge reporting status of ingress orphanity, 1 indicates orphaned ingress', labelNames: ['namespace', 'ingress', 'type'], registers: [registry] });
    new client.Gauge({ name: 'nginx_ingress_controller_build_info', help: 'A metric with a constant \'1\' labeled with information about the build', labelNames: ['release', 'build', 'repository'], registers: [registry] }).set({ release: VERSION, build: NAME, repository: 'portico' }, 1);
  }

  /** update refills the gauges from a rendered model (an Ingress removed from the model disappears). */
  update(model: Model): void {
    this.sslExpire.reset();
    this.sslInfo.reset();
    for (const s of model.servers) {
      const c = s.certificate;
      if (!c) continue;
      const [namespace, secret] = c.id.includes('/') ? (c.id.split('/', 2) as [string, string]) : ['', c.id];
      let x: X509Certificate;
      try {
        x = new X509Certificate(c.cert);
      } catch {
        continue;
      }
      this.sslExpire.set({ namespace, host: s.host, secret_name: secret }, Math.floor(Date.parse(x.validTo) / 1000));
      this.sslInfo.set(
        {
          namespace,
          host: s.host,
          secret_name: secret,
          identifier: `${x.serialNumber}-${x.issuer}`.slice(0, 200),
          issuer_common_name: field(x.issuer, 'CN'),
          issuer_organization: field(x.issuer, 'O'),
          serial_number: x.serialNumber,
          public_key_algorithm: x.publicKey.asymmetricKeyType ?? '',
        },
        1,
      );
    }
    this.orphans.reset();
    for (const s of model.servers) {
      for (const l of s.locations) {
        const b = l.backend;
        if (b.upstream !== null) continue;
        const type = /no ready endpoints/.test(b.reason) ? 'no-endpoint' : 'no-service';
        this.orphans.set({ namespace: l.ingress.namespace ?? '', ingress: l.ingress.name, type }, 1);
      }
    }
  }
}

/** field reads one attribute (CN, O) from an X.509 distinguished name as Node prints it. */
function field(dn: string, key: string): string {
  for (const line of dn.split('\n')) if (line.startsWith(`${key}=`)) return line.slice(key.length + 1);
  return '';
}
