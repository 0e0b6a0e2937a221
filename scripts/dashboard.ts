// The Grafana dashboard for Portico, written as code: each panel is one line naming its queries, so the
// dashboard reads like the list of questions it answers. Metric names are the contract in docs/metrics.md.

type Target = { expr: string; legendFormat: string };
type Panel = Record<string, unknown>;

const DS = { type: 'prometheus', uid: '${datasource}' };
// Every request query is filtered by the dashboard variables; $__rate_interval follows the scrape interval.
const SEL = 'controller_namespace=~"$namespace",controller_class=~"$controller_class",ingress=~"$ingress"';
const CSEL = 'controller_namespace=~"$namespace",controller_class=~"$controller_class"';
const R = '$__rate_interval';

const WIDTH = 24;

/** Layout places panels left to right in rows of 24 grid units, which is how Grafana positions them. */
class Layout {
  #x = 0;
  #y = 0;
  #rowHeight = 0;
  #id = 1;
  readonly panels: Panel[] = [];

  row(title: string): void {
    this.#newLine();
    this.panels.push({ type: 'row', title, id: this.#id++, collapsed: false, gridPos: { h: 1, w: WIDTH, x: 0, y: this.#y }, panels: [] });
    this.#y += 1;
  }

  add(panel: Panel, w: number, h: number): void {
    if (this.#x + w > WIDTH) this.#newLine();
    this.panels.push({ ...panel, id: this.#id++, datasource: DS, gridPos: { h, w, x: this.#x, y: this.#y } });
    this.#x += w;
    this.#rowHeight = Math.max(this.#rowHeight, h);
  }

  #newLine(): void {
    this.#y += this.#rowHeight;
    this.#x = 0;
    this.#rowHeight = 0;
  }
}

function targets(list: Target[]): Panel[] {
  return list.map((t, i) => ({ datasource: DS, expr: t.expr, legendFormat: t.legendFormat, refId: String.fromCharCode(65 + i) }));
}

function stat(title: string, expr: string, unit: string, description: string, thresholds?: Array<{ color: string; value: number | null }>): Panel {
  return {
    type: 'stat',
    title,
    description,
    targets: targets([{ expr, legendFormat: title }]),
    fieldConfig: { defaults: { unit, thresholds: { mode: 'absolute', steps: thresholds ?? [{ color: 'green', value: null }] } }, overrides: [] },
    options: { reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false }, colorMode: 'value', graphMode: 'area' },
  };
}

function series(title: string, list: Target[], unit: string, description: string): Panel {
  return {
    type: 'timeseries',
    title,
    description,
    targets: targets(list),
    fieldConfig: { defaults: { unit, custom: { lineWidth: 1, fillOpacity: 10 } }, overrides: [] },
    options: { legend: { displayMode: 'table', placement: 'bottom', calcs: ['mean', 'max', 'lastNotNull'] }, tooltip: { mode: 'multi', sort: 'desc' } },
  };
}

function quantiles(metric: string, by: string, sel: string): Target[] {
  return [0.5, 0.9, 0.99].map((q) => ({
    expr: `histogram_quantile(${q}, sum by (le${by ? `, ${by}` : ''}) (rate(${metric}_bucket{${sel}}[${R}])))`,
    legendFormat: by ? `p${q * 100} {{${by}}}` : `p${q * 100}`,
  }));
}

function variable(name: string, label: string, query: string): Panel {
  return {
    name, label, type: 'query', datasource: DS, query: { query, refId: name }, definition: query,
    includeAll: true, multi: true, allValue: '.*', current: { text: 'All', value: '$__all' }, refresh: 2, sort: 1,
  };
}

/** dashboard returns the Grafana dashboard model (schemaVersion 39, Grafana 10+). */
export function dashboard(): Record<string, unknown> {
  const l = new Layout();
  const requests = `nginx_ingress_controller_requests{${SEL}}`;

  l.row('Overview');
  l.add(stat('Request rate', `sum(rate(${requests}[${R}]))`, 'reqps', 'Requests per second through the dataplane.'), 4, 4);
  l.add(stat('Success rate', `sum(rate(nginx_ingress_controller_requests{${SEL},status!~"5.."}[${R}])) / sum(rate(${requests}[${R}]))`, 'percentunit',
    'Share of responses that are not 5xx.', [{ color: 'red', value: null }, { color: 'orange', value: 0.95 }, { color: 'green', value: 0.99 }]), 4, 4);
  l.add(stat('Config reload', `min(nginx_ingress_controller_config_last_reload_successful{${CSEL}})`, 'bool_yes_no',
    'Whether the last configuration applied by every controller pod succeeded.', [{ color: 'red', value: null }, { color: 'green', value: 1 }]), 4, 4);
  l.add(stat('Since last good config', `time() - max(nginx_ingress_controller_config_last_reload_successful_timestamp_seconds{${CSEL}})`, 's',
    'Time since the last successful configuration apply.'), 4, 4);
  l.add(stat('Active connections', `sum(nginx_ingress_controller_nginx_process_connections{${CSEL},state="active"})`, 'short', 'Open client connections.'), 4, 4);
  l.add(stat('Soonest certificate expiry', `min(nginx_ingress_controller_ssl_expire_time_seconds{${CSEL}}) - time()`, 's',
    'Time until the first served certificate expires.', [{ color: 'red', value: null }, { color: 'orange', value: 604800 }, { color: 'green', value: 1814400 }]), 4, 4);

  l.row('Requests');
  l.add(series('Requests by ingress', [{ expr: `sum by (namespace, ingress) (rate(${requests}[${R}]))`, legendFormat: '{{namespace}}/{{ingress}}' }], 'reqps',
    'Request rate per Ingress.'), 12, 8);
  l.add(series('Responses by status class', [{ expr: `sum by (status_class) (label_replace(rate(${requests}[${R}]), "status_class", "\${1}xx", "status", "(.).."))`, legendFormat: '{{status_class}}' }],
    'reqps', 'Response rate per status class.'), 12, 8);
  l.add(series('Success rate by ingress', [{
    expr: `sum by (namespace, ingress) (rate(nginx_ingress_controller_requests{${SEL},status!~"5.."}[${R}])) / sum by (namespace, ingress) (rate(${requests}[${R}]))`,
    legendFormat: '{{namespace}}/{{ingress}}',
  }], 'percentunit', 'Share of non-5xx responses per Ingress.'), 12, 8);
  l.add(series('Request latency', quantiles('nginx_ingress_controller_request_duration_seconds', '', SEL), 's',
    'Time from the first byte read from the client to the last byte sent, as percentiles.'), 12, 8);
  l.add(series('Upstream response time p99 by service', quantiles('nginx_ingress_controller_response_duration_seconds', 'service', SEL).slice(2), 's',
    'Time the upstream took to answer, per Service.'), 12, 8);
  l.add(series('Upstream connect and header time p99', [
    ...quantiles('nginx_ingress_controller_connect_duration_seconds', '', SEL).slice(2).map((t) => ({ ...t, legendFormat: 'connect p99' })),
    ...quantiles('nginx_ingress_controller_header_duration_seconds', '', SEL).slice(2).map((t) => ({ ...t, legendFormat: 'header p99' })),
  ], 's', 'Time to connect to the upstream and to receive its response header.'), 12, 8);
  l.add(series('Request and response size p90', [
    ...quantiles('nginx_ingress_controller_request_size', '', SEL).slice(1, 2).map((t) => ({ ...t, legendFormat: 'request p90' })),
    ...quantiles('nginx_ingress_controller_response_size', '', SEL).slice(1, 2).map((t) => ({ ...t, legendFormat: 'response p90' })),
  ], 'bytes', 'Sizes of requests and responses.'), 12, 8);
  l.add(series('Connections', [
    { expr: `sum by (state) (nginx_ingress_controller_nginx_process_connections{${CSEL}})`, legendFormat: '{{state}}' },
    { expr: `sum(rate(nginx_ingress_controller_nginx_process_connections_total{${CSEL},state="accepted"}[${R}]))`, legendFormat: 'accepted/s' },
  ], 'short', 'Client connections by state, and the accept rate.'), 12, 8);

  l.row('Configuration and certificates');
  l.add(series('Config applies', [
    { expr: `sum(increase(nginx_ingress_controller_success{${CSEL}}[${R}]))`, legendFormat: 'succeeded' },
    { expr: `sum(increase(nginx_ingress_controller_errors{${CSEL}}[${R}]))`, legendFormat: 'failed' },
  ], 'short', 'Configuration trees applied to the dataplane, and those it rejected.'), 8, 8);
  l.add(series('Config render and apply time p99', [
    ...quantiles('portico_config_render_duration_seconds', '', CSEL).slice(2).map((t) => ({ ...t, legendFormat: 'render p99' })),
    ...quantiles('portico_config_apply_duration_seconds', '', CSEL).slice(2).map((t) => ({ ...t, legendFormat: 'apply p99' })),
  ], 's', 'Time to render Kubernetes objects into a config tree, and to swap it into every worker.'), 8, 8);
  l.add(series('Informer events and queue depth', [
    { expr: `sum by (kind, type) (rate(portico_informer_events_total{${CSEL}}[${R}]))`, legendFormat: '{{kind}} {{type}}' },
    { expr: `sum by (kind) (increase(portico_informer_relists_total{${CSEL}}[${R}]))`, legendFormat: '{{kind}} relists' },
    { expr: `max(portico_workqueue_depth{${CSEL}})`, legendFormat: 'queue depth' },
  ], 'short', 'Kubernetes watch events per kind and type, relists after 410 Gone, and store changes waiting for the next render.'), 8, 8);
  l.add({
    type: 'table',
    title: 'Certificate expiry',
    description: 'Served certificates by time left; from nginx_ingress_controller_ssl_expire_time_seconds.',
    targets: [{ datasource: DS, expr: `min by (namespace, secret_name, host) (nginx_ingress_controller_ssl_expire_time_seconds{${CSEL}}) - time()`, format: 'table', instant: true, refId: 'A' }],
    fieldConfig: { defaults: { unit: 's' }, overrides: [] },
    options: { sortBy: [{ displayName: 'Value', desc: false }] },
    transformations: [{ id: 'organize', options: { excludeByName: { Time: true } } }],
  }, 24, 8);

  l.row('Upstreams');
  l.add(series('Peers up', [{ expr: `sum by (upstream) (portico_upstream_peer_up{${CSEL}})`, legendFormat: '{{upstream}}' }], 'short',
    'Healthy peers per upstream.'), 8, 8);
  l.add(series('Active upstream connections', [{ expr: `sum by (upstream) (portico_upstream_peer_active_connections{${CSEL}})`, legendFormat: '{{upstream}}' }], 'short',
    'Connections open to peers, per upstream.'), 8, 8);
  l.add(series('Peer EWMA latency', [{ expr: `max by (upstream, peer) (portico_upstream_peer_ewma_seconds{${CSEL}})`, legendFormat: '{{upstream}} {{peer}}' }], 's',
    'Exponentially weighted response time per peer (used by the ewma balancer).'), 8, 8);
  l.add(series('Peer failures', [{ expr: `sum by (upstream, peer, reason) (rate(portico_upstream_peer_failures_total{${CSEL}}[${R}]))`, legendFormat: '{{upstream}} {{peer}} {{reason}}' }], 'short',
    'Failed tries per peer and reason (error, timeout, invalid_header, http_5xx, http_429).'), 24, 8);

  l.row('Mail');
  l.add(series('Mail sessions by protocol and auth result', [{
    expr: `sum by (protocol, auth_result) (rate(portico_mail_sessions_total{${CSEL}}[${R}]))`, legendFormat: '{{protocol}} {{auth_result}}',
  }], 'short', 'Mail sessions ended, per protocol and authentication result.'), 8, 8);
  l.add(series('Active mail sessions', [{ expr: `sum by (protocol) (portico_mail_active_sessions{${CSEL}})`, legendFormat: '{{protocol}}' }], 'short',
    'Mail sessions open now.'), 8, 8);
  l.add(series('Mail auth time', quantiles('portico_mail_auth_duration_seconds', 'protocol', CSEL), 's', 'auth_http round trip: request sent to the auth service until its answer, error or timeout.'), 8, 8);

  l.row('Workers');
  l.add(series('Event loop lag p99', [{ expr: `max by (controller_pod, worker) (portico_worker_eventloop_lag_p99_seconds{${CSEL}})`, legendFormat: '{{controller_pod}} {{worker}}' }], 's',
    'Event loop delay per dataplane worker thread and the controller thread.'), 8, 8);
  l.add(series('CPU per worker', [{ expr: `sum by (controller_pod, worker) (rate(portico_worker_cpu_seconds_total{${CSEL}}[${R}]))`, legendFormat: '{{controller_pod}} {{worker}}' }], 'percentunit',
    'CPU time per thread.'), 8, 8);
  l.add(series('Memory', [
    { expr: `sum by (controller_pod) (process_resident_memory_bytes{${CSEL}})`, legendFormat: '{{controller_pod}} rss' },
    { expr: `sum by (controller_pod, worker) (portico_worker_heap_used_bytes{${CSEL}})`, legendFormat: '{{controller_pod}} {{worker}} heap' },
  ], 'bytes', 'Resident memory per pod and JavaScript heap per thread.'), 8, 8);

  return {
    title: 'Portico',
    uid: 'portico-overview',
    description: 'Portico ingress controller: traffic, latency, configuration, certificates, upstreams, mail, workers.',
    tags: ['portico', 'ingress'],
    schemaVersion: 39,
    version: 1,
    editable: true,
    graphTooltip: 1,
    time: { from: 'now-1h', to: 'now' },
    refresh: '30s',
    timezone: 'browser',
    annotations: { list: [] },
    templating: {
      list: [
        { name: 'datasource', label: 'Data source', type: 'datasource', query: 'prometheus', current: {}, hide: 0 },
        variable('namespace', 'Controller namespace', 'label_values(nginx_ingress_controller_config_hash, controller_namespace)'),
        variable('controller_class', 'Controller class', 'label_values(nginx_ingress_controller_config_hash{controller_namespace=~"$namespace"}, controller_class)'),
        variable('ingress', 'Ingress', 'label_values(nginx_ingress_controller_requests{controller_namespace=~"$namespace"}, ingress)'),
      ],
    },
    panels: l.panels,
  };
}
