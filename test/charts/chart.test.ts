// charts/portico rendered by the real helm binary: lint, and what each value set produces.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CHART, type K8sObject, find, helm, kinds, lintChart, renderChart, renderNotes, templateError } from './support/helm.ts';
import { VALUE_SETS } from './support/value-sets.ts';

type Rule = { apiGroups: string[]; resources: string[]; verbs: string[]; resourceNames?: string[] };

function container(objs: K8sObject[], kind = 'Deployment'): Record<string, any> {
  return find(objs, kind).spec.template.spec.containers[0];
}

function args(objs: K8sObject[], kind = 'Deployment'): string[] {
  return container(objs, kind).args;
}

// Every (group, resource, verb) a set of rules grants.
function grants(rules: Rule[]): Set<string> {
  const out = new Set<string>();
  for (const r of rules) for (const g of r.apiGroups) for (const res of r.resources) for (const v of r.verbs) out.add(`${g}/${res}:${v}${r.resourceNames ? `[${r.resourceNames.join(',')}]` : ''}`);
  return out;
}

const NAMESPACED_GRANTS = [
  '/services:list', '/services:watch', '/secrets:list', '/secrets:watch', '/configmaps:list', '/configmaps:watch',
  'discovery.k8s.io/endpointslices:list', 'discovery.k8s.io/endpointslices:watch',
  'networking.k8s.io/ingresses:list', 'networking.k8s.io/ingresses:watch', 'networking.k8s.io/ingresses/status:update',
  'portico.dev/mailproxies:list', 'portico.dev/mailproxies:watch', 'portico.dev/httproutepolicies:list', 'portico.dev/httproutepolicies:watch',
  'portico.dev/mailproxies/status:update', 'portico.dev/mailproxies/status:patch',
  'portico.dev/httproutepolicies/status:update', 'portico.dev/httproutepolicies/status:patch',
  '/events:create', '/events:patch', 'events.k8s.io/events:create', 'events.k8s.io/events:patch',
];
const CLASS_GRANTS = ['networking.k8s.io/ingressclasses:get', 'networking.k8s.io/ingressclasses:list', 'networking.k8s.io/ingressclasses:watch'];

describe('helm lint', () => {
  for (const [name, values] of Object.entries(VALUE_SETS)) {
    it(`passes --strict with the ${name} values`, () => {
      const r = lintChart(values);
      assert.equal(r.status, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
    });
  }
});

describe('default values', () => {
  const objs = renderChart();

  it('render for Kubernetes 1.29 (CEL validation GA) and are refused before it', () => {
    assert.ok(renderChart({}, ['--kube-version', '1.29.0']).length > 0);
    const old = helm(['template', 'portico', CHART, '--kube-version', '1.28.9']);
    assert.notEqual(old.status, 0);
    assert.match(old.stderr, /chart requires kubeVersion: >=1\.29\.0-0 which is incompatible with Kubernetes v1\.28\.9/);
  });

  it('render a Deployment, Services, RBAC, IngressClass, settings ConfigMap and both CRDs, and nothing optional', () => {
    assert.deepEqual(kinds(objs).sort(), [
      'ClusterRole', 'ClusterRoleBinding', 'ConfigMap', 'CustomResourceDefinition', 'CustomResourceDefinition', 'Deployment',
      'IngressClass', 'Role', 'RoleBinding', 'Service', 'ServiceAccount',
    ]);
    assert.deepEqual(objs.filter((o) => o.kind === 'CustomResourceDefinition').map((o) => o.metadata.name).sort(), ['httproutepolicies.portico.dev', 'mailproxies.portico.dev']);
  });

  it('pass the controller flags of the contract', () => {
    assert.deepEqual(args(objs), [
      '--http-port=80', '--https-port=443', '--healthz-port=10254', '--ingress-class=portico', '--controller-class=portico.dev/ingress-controller',
      '--publish-service=$(POD_NAMESPACE)/portico-controller', '--election-id=portico-leader', '--configmap=$(POD_NAMESPACE)/portico-controller',
      '--worker-processes=auto',
    ]);
    const env = container(objs).env.map((e: { name: string }) => e.name);
    assert.deepEqual(env, ['POD_NAME', 'POD_NAMESPACE']);
  });

  it('run the container non-root on a read-only root filesystem with only NET_BIND_SERVICE', () => {
    const c = container(objs);
    const pod = find(objs, 'Deployment').spec.template.spec;
    assert.equal(pod.securityContext.runAsNonRoot, true);
    assert.equal(pod.securityContext.seccompProfile.type, 'RuntimeDefault');
    assert.equal(c.securityContext.runAsNonRoot, true);
    assert.ok(c.securityContext.runAsUser > 0);
    assert.equal(c.securityContext.readOnlyRootFilesystem, true);
    assert.equal(c.securityContext.allowPrivilegeEscalation, false);
    assert.deepEqual(c.securityContext.capabilities, { drop: ['ALL'], add: ['NET_BIND_SERVICE'] });
    assert.equal(c.securityContext.seccompProfile.type, 'RuntimeDefault');
    const mounts = Object.fromEntries(c.volumeMounts.map((m: { name: string; mountPath: string }) => [m.mountPath, m.name]));
    assert.deepEqual(mounts, { '/tmp': 'tmp', '/var/log/portico': 'logs' });
    for (const name of ['tmp', 'logs']) assert.deepEqual(pod.volumes.find((v: { name: string }) => v.name === name).emptyDir, {});
  });

  it('let the non-root process bind ports below 1024 through the pod\'s unprivileged-port sysctl', () => {
    const pod = find(objs, 'Deployment').spec.template.spec;
    assert.deepEqual(pod.securityContext.sysctls, [{ name: 'net.ipv4.ip_unprivileged_port_start', value: '0' }]);
    // A hostNetwork pod may not set namespaced sysctls: there the capability alone must do.
    const host = find(renderChart({ controller: { hostNetwork: true } }), 'Deployment').spec.template.spec;
    assert.equal(host.hostNetwork, true);
    assert.equal(host.dnsPolicy, 'ClusterFirstWithHostNet');
    assert.equal(host.securityContext.sysctls, undefined);
  });

  it('probe /healthz for liveness and /readyz for readiness on the healthz port', () => {
    const c = container(objs);
    assert.equal(c.livenessProbe.httpGet.path, '/healthz');
    assert.equal(c.readinessProbe.httpGet.path, '/readyz');
    assert.equal(c.livenessProbe.httpGet.port, 'healthz');
    assert.deepEqual(c.ports.map((p: { name: string; containerPort: number }) => `${p.name}:${p.containerPort}`), ['http:80', 'https:443', 'healthz:10254']);
  });

  it('grant read access, status updates, events and one named Lease, and nothing else', () => {
    const cluster = grants(find(objs, 'ClusterRole').rules);
    assert.deepEqual([...cluster].sort(), [...CLASS_GRANTS, ...NAMESPACED_GRANTS].sort());
    const role = find(objs, 'Role');
    assert.equal(role.metadata.namespace, 'ingress');
    assert.deepEqual([...grants(role.rules)].sort(), [
      '/configmaps:get', '/configmaps:list', '/configmaps:watch', '/events:create', '/events:patch', '/services:get[portico-controller]',
      'coordination.k8s.io/leases:create', 'coordination.k8s.io/leases:get[portico-leader]', 'coordination.k8s.io/leases:update[portico-leader]',
      'events.k8s.io/events:create', 'events.k8s.io/events:patch',
    ]);
    for (const o of objs.filter((x) => x.kind === 'ClusterRole' || x.kind === 'Role')) {
      for (const r of o.rules as Rule[]) for (const f of [...r.apiGroups, ...r.resources, ...r.verbs]) assert.notEqual(f, '*', `${o.kind} grants a wildcard`);
    }
    const binding = find(objs, 'ClusterRoleBinding');
    assert.deepEqual(binding.subjects, [{ kind: 'ServiceAccount', name: 'portico', namespace: 'ingress' }]);
    assert.equal(find(objs, 'Deployment').spec.template.spec.serviceAccountName, 'portico');
  });

  it('expose http and https through a LoadBalancer Service that selects the controller pods', () => {
    const svc = find(objs, 'Service', 'portico-controller');
    assert.equal(svc.spec.type, 'LoadBalancer');
    assert.deepEqual(svc.spec.ports.map((p: { name: string; port: number; targetPort: string }) => `${p.name}:${p.port}->${p.targetPort}`), ['http:80->http', 'https:443->https']);
    assert.deepEqual(svc.spec.selector, find(objs, 'Deployment').spec.selector.matchLabels);
  });

  it('create an IngressClass that is not the default', () => {
    const ic = find(objs, 'IngressClass');
    assert.equal(ic.metadata.name, 'portico');
    assert.equal(ic.spec.controller, 'portico.dev/ingress-controller');
    assert.equal(ic.metadata.annotations, undefined);
  });

  it('keep the CRDs on uninstall', () => {
    for (const crd of objs.filter((o) => o.kind === 'CustomResourceDefinition')) {
      assert.equal((crd.metadata.annotations as Record<string, string>)['helm.sh/resource-policy'], 'keep');
    }
  });
});

describe('DaemonSet values', () => {
  const objs = renderChart(VALUE_SETS.daemonset);

  it('render a DaemonSet, no Deployment, and no PodDisruptionBudget', () => {
    assert.deepEqual(kinds(objs).filter((k) => ['Deployment', 'DaemonSet', 'PodDisruptionBudget'].includes(k)), ['DaemonSet']);
    assert.equal(find(objs, 'DaemonSet').spec.replicas, undefined);
    assert.equal(args(objs, 'DaemonSet')[0], '--http-port=80');
  });

  it('set a NodePort Service with the Local traffic policy and fixed node ports', () => {
    const svc = find(objs, 'Service');
    assert.equal(svc.spec.type, 'NodePort');
    assert.equal(svc.spec.externalTrafficPolicy, 'Local');
    assert.deepEqual(svc.spec.ports.map((p: { nodePort: number }) => p.nodePort), [30080, 30443]);
  });

  it('refuse autoscaling, which a DaemonSet cannot do, with a clear message', () => {
    const err = templateError({ controller: { kind: 'DaemonSet', autoscaling: { enabled: true } } });
    assert.match(err, /controller\.autoscaling\.enabled needs controller\.kind Deployment/);
  });
});

describe('metrics, ServiceMonitor, PodMonitor, PrometheusRule and dashboard values', () => {
  const objs = renderChart(VALUE_SETS.monitoring);

  it('add --metrics-port, a metrics container port and a metrics Service on it', () => {
    assert.ok(args(objs).includes('--metrics-port=10255'));
    assert.ok(container(objs).ports.some((p: { name: string; containerPort: number }) => p.name === 'metrics' && p.containerPort === 10255));
    const svc = find(objs, 'Service', 'portico-controller-metrics');
    assert.deepEqual(svc.spec.ports, [{ name: 'metrics', port: 10254, targetPort: 10255, protocol: 'TCP' }]);
  });

  it('make the ServiceMonitor scrape the metrics port of the metrics Service', () => {
    const sm = find(objs, 'ServiceMonitor');
    assert.equal(sm.metadata.labels?.release, 'prom');
    assert.deepEqual(sm.spec.endpoints.map((e: { port: string; path: string }) => `${e.port}${e.path}`), ['metrics/metrics']);
    const svc = find(objs, 'Service', 'portico-controller-metrics');
    for (const [k, v] of Object.entries(sm.spec.selector.matchLabels)) assert.equal(svc.metadata.labels?.[k], v);
  });

  it('make the PodMonitor scrape the named metrics container port', () => {
    assert.equal(find(objs, 'PodMonitor').spec.podMetricsEndpoints[0].port, 'metrics');
  });

  it('alert on failed config applies, the 5xx ratio and certificate expiry with ingress-nginx metric names', () => {
    const rules = find(objs, 'PrometheusRule').spec.groups[0].rules as Array<{ alert: string; expr: string }>;
    const byName = Object.fromEntries(rules.map((r) => [r.alert, r.expr]));
    assert.deepEqual(Object.keys(byName), ['PorticoConfigReloadFailed', 'PorticoHighErrorRatio', 'PorticoCertificateExpiresSoon']);
    assert.match(byName.PorticoConfigReloadFailed, /nginx_ingress_controller_config_last_reload_successful\{controller_namespace="ingress",controller_class="portico.dev\/ingress-controller"\}/);
    assert.match(byName.PorticoHighErrorRatio, /nginx_ingress_controller_requests\{[^}]*status=~"5\.\."\}\[5m\]/);
    assert.match(byName.PorticoHighErrorRatio, /> 0\.05\s*$/);
    assert.match(byName.PorticoCertificateExpiresSoon, /nginx_ingress_controller_ssl_expire_time_seconds\{[^}]*\}\) - time\(\)\) < 1209600$/);
  });

  it('ship the dashboard in a ConfigMap labelled for the Grafana sidecar', () => {
    const cm = find(objs, 'ConfigMap', 'portico-dashboard');
    assert.equal(cm.metadata.labels?.grafana_dashboard, '1');
    assert.equal(JSON.parse(cm.data['portico.json']).uid, 'portico-overview');
  });

  it('reuse the healthz port when metrics share it, without a duplicate container port', () => {
    const shared = renderChart({ controller: { metrics: { enabled: true, podMonitor: { enabled: true } } } });
    assert.deepEqual(container(shared).ports.map((p: { name: string }) => p.name), ['http', 'https', 'healthz']);
    assert.equal(find(shared, 'Service', 'portico-controller-metrics').spec.ports[0].targetPort, 10254);
    assert.equal(find(shared, 'PodMonitor').spec.podMetricsEndpoints[0].port, 'healthz');
  });
});

describe('autoscaling values', () => {
  const objs = renderChart(VALUE_SETS.autoscaling);

  it('render an HPA on the Deployment and leave replicas to it', () => {
    const hpa = find(objs, 'HorizontalPodAutoscaler');
    assert.deepEqual(hpa.spec.scaleTargetRef, { apiVersion: 'apps/v1', kind: 'Deployment', name: 'portico-controller' });
    assert.equal(hpa.spec.minReplicas, 2);
    assert.equal(hpa.spec.maxReplicas, 6);
    assert.deepEqual(hpa.spec.metrics.map((m: { resource: { name: string; target: { averageUtilization: number } } }) => `${m.resource.name}:${m.resource.target.averageUtilization}`), ['cpu:50', 'memory:50']);
    assert.equal(find(objs, 'Deployment').spec.replicas, undefined);
  });

  it('protect the replicas with a PodDisruptionBudget', () => {
    const pdb = find(objs, 'PodDisruptionBudget');
    assert.equal(pdb.spec.minAvailable, 1);
    assert.deepEqual(pdb.spec.selector.matchLabels, find(objs, 'Deployment').spec.selector.matchLabels);
  });

  it('reject minReplicas above maxReplicas', () => {
    assert.match(templateError({ controller: { autoscaling: { enabled: true, minReplicas: 5, maxReplicas: 2 } } }), /minReplicas \(5\) must not exceed maxReplicas \(2\)/);
  });
});

describe('scoped values', () => {
  const objs = renderChart(VALUE_SETS.scoped);

  it('pass --watch-namespace', () => {
    assert.ok(args(objs).includes('--watch-namespace=team-a'));
  });

  it('keep only IngressClass reads cluster-wide and grant the rest in the watched namespace', () => {
    assert.deepEqual([...grants(find(objs, 'ClusterRole').rules)].sort(), [...CLASS_GRANTS].sort());
    const watch = find(objs, 'Role', 'portico-watch');
    assert.equal(watch.metadata.namespace, 'team-a');
    assert.deepEqual([...grants(watch.rules)].sort(), [...NAMESPACED_GRANTS].sort());
    const binding = find(objs, 'RoleBinding', 'portico-watch');
    assert.equal(binding.metadata.namespace, 'team-a');
    assert.deepEqual(binding.roleRef, { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'portico-watch' });
    assert.deepEqual(binding.subjects, [{ kind: 'ServiceAccount', name: 'portico', namespace: 'ingress' }]);
  });

  it('default the watched namespace to the release namespace', () => {
    const own = renderChart({ controller: { scope: { enabled: true } } });
    assert.ok(args(own).includes('--watch-namespace=ingress'));
  });
});

describe('default IngressClass values', () => {
  const objs = renderChart(VALUE_SETS.defaultClass);

  it('annotate the IngressClass as the default and pass its name and controller', () => {
    const ic = find(objs, 'IngressClass');
    assert.equal(ic.metadata.name, 'edge');
    assert.deepEqual(ic.metadata.annotations, { 'ingressclass.kubernetes.io/is-default-class': 'true' });
    assert.equal(ic.spec.controller, 'portico.dev/edge');
    assert.ok(args(objs).includes('--ingress-class=edge'));
    assert.ok(args(objs).includes('--controller-class=portico.dev/edge'));
  });
});

describe('mail ports, settings and extra flags', () => {
  const objs = renderChart(VALUE_SETS.mail);

  it('open the mail ports on the container and the Service', () => {
    const ports = container(objs).ports.map((p: { name: string; containerPort: number }) => `${p.name}:${p.containerPort}`);
    assert.deepEqual(ports.slice(3), ['smtp:25', 'imaps:993']);
    const svc = find(objs, 'Service');
    assert.deepEqual(svc.spec.ports.slice(2), [
      { name: 'smtp', port: 25, targetPort: 'smtp', protocol: 'TCP' },
      { name: 'imaps', port: 993, targetPort: 'imaps', protocol: 'TCP', nodePort: 30993 },
    ]);
  });

  it('render the global settings as strings in the ConfigMap passed with --configmap', () => {
    const cm = find(objs, 'ConfigMap', 'portico-controller');
    assert.deepEqual(cm.data, { 'proxy-body-size': '8m', 'use-forwarded-headers': 'true', 'max-worker-connections': '16384' });
    assert.ok(args(objs).includes('--configmap=$(POD_NAMESPACE)/portico-controller'));
  });

  it('append extraArgs as --key=value', () => {
    assert.deepEqual(args(objs).slice(-2), ['--default-ssl-certificate=ingress/wildcard', '--publish-status-address=203.0.113.10']);
    assert.deepEqual(args(renderChart({ controller: { extraArgs: { 'watch-ingress-without-class': '' } } })).slice(-1), ['--watch-ingress-without-class']);
  });

  it('use maxUnavailable for the PodDisruptionBudget when it is set', () => {
    const pdb = find(objs, 'PodDisruptionBudget');
    assert.equal(pdb.spec.maxUnavailable, 1);
    assert.equal(pdb.spec.minAvailable, undefined);
  });

  it('leave the CRDs out when crds.enabled is false', () => {
    assert.ok(!kinds(objs).includes('CustomResourceDefinition'));
  });

  it('roll the pods when the settings change', () => {
    const before = find(objs, 'Deployment').spec.template.metadata.annotations['checksum/config'];
    const after = find(renderChart({ controller: { ...(VALUE_SETS.mail.controller as object), config: { 'proxy-body-size': '9m' } } }), 'Deployment');
    assert.notEqual(after.spec.template.metadata.annotations['checksum/config'], before);
  });
});

describe('NOTES.txt', () => {
  it('tells how to wait for readiness, find the address, write an Ingress of our class, and that metrics are off', () => {
    const notes = renderNotes();
    assert.match(notes, /kubectl -n ingress rollout status deployment\/portico-controller/);
    assert.match(notes, /get service portico-controller -o jsonpath='\{\.status\.loadBalancer\.ingress\[0\]\}'/);
    assert.match(notes, /ingressClassName: portico\n/);
    assert.match(notes, /Metrics are off/);
  });

  it('follows the values: DaemonSet, NodePort, default class, scope and metrics', () => {
    const notes = renderNotes({
      controller: {
        kind: 'DaemonSet', service: { type: 'NodePort' }, ingressClassResource: { name: 'edge', default: true },
        scope: { enabled: true }, metrics: { enabled: true, serviceMonitor: { enabled: true } },
      },
    });
    assert.match(notes, /rollout status daemonset\/portico-controller/);
    assert.match(notes, /It watches only namespace ingress\./);
    assert.match(notes, /nodePort/);
    assert.match(notes, /the cluster's default class/);
    assert.match(notes, /Metrics are served at :10254\/metrics \(Service portico-controller-metrics\)\. A ServiceMonitor/);
  });
});
