/**
 * Controller metrics (prom-client), with ingress-nginx's names where the meaning matches so dashboards carry over.
 * One registry per controller instance (tests run several in one process).
 */
import client from 'prom-client';

/** ControllerMetrics holds the controller's gauges and counters. */
export class ControllerMetrics {
  readonly registry = new client.Registry();
  readonly configHash = new client.Gauge({ name: 'nginx_ingress_controller_config_hash', help: 'Running configuration hash actually set', registers: [this.registry] });
  readonly lastReloadOk = new client.Gauge({ name: 'nginx_ingress_controller_config_last_reload_successful', help: 'Whether the last configuration apply attempt was successful', registers: [this.registry] });
  readonly lastReloadOkTime = new client.Gauge({ name: 'nginx_ingress_controller_config_last_reload_successful_timestamp_seconds', help: 'Timestamp of the last successful configuration apply', registers: [this.registry] });
  readonly success = new client.Counter({ name: 'nginx_ingress_controller_success', help: 'Cumulative number of successful configuration applies', registers: [this.registry] });
  readonly errors = new client.Counter({ name: 'nginx_ingress_controller_errors', help: 'Cumulative number of configuration applies that failed', registers: [this.registry] });
  readonly leader = new client.Gauge({ name: 'nginx_ingress_controller_leader_election_status', help: 'Whether this instance is the leader (1) or not (0)', labelNames: ['name'], registers: [this.registry] });
  readonly renderSeconds = new client.Histogram({ name: 'portico_config_render_duration_seconds', help: 'Time to build the model and render the configuration tree', buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5], registers: [this.registry] });
  readonly applySeconds = new client.Histogram({ name: 'portico_config_apply_duration_seconds', help: 'Time for the dataplane to apply a configuration tree', labelNames: ['kind'], buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5], registers: [this.registry] });
  readonly workqueueDepth = new client.Gauge({ name: 'portico_workqueue_depth', help: 'Store changes waiting for the next render (a render takes them all)', registers: [this.registry] });
  readonly informerEvents = new client.Counter({ name: 'portico_informer_events_total', help: 'Watch events received, by kind and type (ADDED, MODIFIED, DELETED)', labelNames: ['kind', 'type'], registers: [this.registry] });
  readonly informerRelists = new client.Counter({ name: 'portico_informer_relists_total', help: 'Relists after a lost watch or 410 Gone, by kind', labelNames: ['kind'], registers: [this.registry] });
}
