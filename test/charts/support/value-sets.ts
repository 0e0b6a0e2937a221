// The value sets the chart is linted, rendered and schema-checked with: each turns on one way of running Portico.

/** VALUE_SETS maps a name to chart values (given to helm as --set-json per top-level key). */
export const VALUE_SETS: Record<string, Record<string, unknown>> = {
  defaults: {},
  daemonset: { controller: { kind: 'DaemonSet', service: { type: 'NodePort', externalTrafficPolicy: 'Local', nodePorts: { http: 30080, https: 30443 } } } },
  monitoring: {
    controller: {
      metrics: { enabled: true, port: 10255, serviceMonitor: { enabled: true, additionalLabels: { release: 'prom' } }, podMonitor: { enabled: true }, prometheusRule: { enabled: true } },
    },
    grafana: { dashboards: { enabled: true } },
  },
  autoscaling: { controller: { autoscaling: { enabled: true, minReplicas: 2, maxReplicas: 6 } } },
  scoped: { controller: { scope: { enabled: true, namespace: 'team-a' } } },
  defaultClass: { controller: { ingressClassResource: { name: 'edge', default: true, controllerValue: 'portico.dev/edge' } } },
  mail: {
    controller: {
      mailPorts: [{ name: 'smtp', port: 25 }, { name: 'imaps', port: 993, nodePort: 30993 }],
      config: { 'proxy-body-size': '8m', 'use-forwarded-headers': true, 'max-worker-connections': 16384 },
      extraArgs: { 'default-ssl-certificate': 'ingress/wildcard', 'publish-status-address': '203.0.113.10' },
      replicaCount: 3,
      maxUnavailable: 1,
    },
    crds: { enabled: false },
  },
};
