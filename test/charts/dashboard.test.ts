// The Grafana dashboard and the chart's alerts query only metrics that docs/metrics.md defines, with queries
// that fit each metric's type; the dashboard is a well-formed Grafana model.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { CHART, ROOT, find, renderChart } from './support/helm.ts';

type Panel = { id: number; type: string; title: string; datasource?: { uid: string }; gridPos: { x: number; y: number; w: number; h: number }; targets?: Array<{ expr: string; refId: string }> };

// The metric tables of docs/metrics.md: | `name` | type … |
function documentedMetrics(): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of readFileSync(join(ROOT, 'docs/metrics.md'), 'utf8').matchAll(/^\| `([a-z_:][a-z0-9_:]*)` \| (counter|gauge|histogram)\b/gm)) out.set(m[1], m[2]);
  return out;
}

const METRIC = /\b((?:nginx_ingress_controller|portico|process|nodejs)_[a-z0-9_]+)\b/g;

// Every metric an expression uses, resolved to its family ("…_bucket" → the histogram), with how it is used.
function uses(expr: string, documented: Map<string, string>): Array<{ name: string; family: string | undefined; type: string | undefined; suffix: string }> {
  return [...expr.matchAll(METRIC)].map((m) => {
    const name = m[1];
    const hist = /^(.*)_(bucket|sum|count)$/.exec(name);
    if (hist && documented.get(hist[1]) === 'histogram') return { name, family: hist[1], type: 'histogram', suffix: hist[2] };
    return { name, family: documented.has(name) ? name : undefined, type: documented.get(name), suffix: '' };
  });
}

function checkExpr(expr: string, where: string, documented: Map<string, string>): string[] {
  const problems: string[] = [];
  const depth = { '(': 0, '{': 0, '[': 0 } as Record<string, number>;
  const close: Record<string, string> = { ')': '(', '}': '{', ']': '[' };
  for (const ch of expr.replace(/"[^"]*"/g, '""')) {
    if (ch in depth) depth[ch]++;
    else if (ch in close && --depth[close[ch]] < 0) problems.push(`${where}: unbalanced ${ch}`);
  }
  for (const [open, n] of Object.entries(depth)) if (n > 0) problems.push(`${where}: unclosed ${open}`);
  for (const u of uses(expr, documented)) {
    if (!u.family) {
      problems.push(`${where}: ${u.name} is not in docs/metrics.md`);
      continue;
    }
    if (u.type === 'histogram' && u.suffix === '') problems.push(`${where}: histogram ${u.name} used without _bucket/_sum/_count`);
    if (u.type === 'counter' && !new RegExp(`(rate|increase)\\(${u.name}\\b`).test(expr)) problems.push(`${where}: counter ${u.name} used without rate() or increase()`);
    if (u.type === 'gauge' && new RegExp(`(rate|increase)\\(${u.name}\\b`).test(expr)) problems.push(`${where}: gauge ${u.name} used with rate()`);
    if (u.suffix === 'bucket' && !expr.includes('histogram_quantile(')) problems.push(`${where}: ${u.name} outside histogram_quantile`);
  }
  return problems;
}

const dashboard = JSON.parse(readFileSync(join(CHART, 'dashboards/portico.json'), 'utf8'));
const panels = dashboard.panels as Panel[];
const documented = documentedMetrics();

describe('metrics contract (docs/metrics.md)', () => {
  it('lists the ingress-nginx families the alerts and dashboards of ingress-nginx users rely on', () => {
    for (const name of [
      'nginx_ingress_controller_requests', 'nginx_ingress_controller_request_duration_seconds', 'nginx_ingress_controller_response_duration_seconds',
      'nginx_ingress_controller_config_last_reload_successful', 'nginx_ingress_controller_ssl_expire_time_seconds', 'nginx_ingress_controller_nginx_process_connections',
    ]) assert.ok(documented.has(name), name);
    assert.ok(documented.size >= 35, `${documented.size} metrics documented`);
  });
});

describe('Grafana dashboard', () => {
  it('queries only documented metrics, each in a way that fits its type', () => {
    const problems = panels.flatMap((p) => (p.targets ?? []).flatMap((t) => checkExpr(t.expr, `${p.title}/${t.refId}`, documented)));
    assert.deepEqual(problems, []);
  });

  it('covers requests, success rate, latency percentiles, reloads, certificates, upstreams, informers and mail', () => {
    const exprs = panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr)).join('\n');
    for (const needle of [
      'rate(nginx_ingress_controller_requests{', 'status!~"5.."', 'histogram_quantile(0.99, sum by (le) (rate(nginx_ingress_controller_request_duration_seconds_bucket{',
      'nginx_ingress_controller_config_last_reload_successful{', 'nginx_ingress_controller_ssl_expire_time_seconds{', 'portico_upstream_peer_up{', 'portico_mail_sessions_total{',
      'sum by (kind, type) (rate(portico_informer_events_total{', 'increase(portico_informer_relists_total{',
    ]) assert.ok(exprs.includes(needle), needle);
  });

  it('has unique panel ids, one data source variable, and panels that fit the 24-column grid without overlap', () => {
    const ids = panels.map((p) => p.id);
    assert.equal(new Set(ids).size, ids.length);
    const cells = new Set<string>();
    for (const p of panels) {
      const g = p.gridPos;
      assert.ok(g.x >= 0 && g.w > 0 && g.x + g.w <= 24, `${p.title} fits the grid`);
      if (p.type !== 'row') assert.equal(p.datasource?.uid, '${datasource}', `${p.title} uses the data source variable`);
      for (let x = g.x; x < g.x + g.w; x++) for (let y = g.y; y < g.y + g.h; y++) {
        assert.ok(!cells.has(`${x},${y}`), `${p.title} overlaps another panel at ${x},${y}`);
        cells.add(`${x},${y}`);
      }
    }
  });

  it('defines every variable its queries use', () => {
    const defined = new Set((dashboard.templating.list as Array<{ name: string }>).map((v) => v.name));
    const used = new Set(panels.flatMap((p) => (p.targets ?? []).flatMap((t) => [...t.expr.matchAll(/\$([a-z_]+)/g)].map((m) => m[1]))));
    for (const v of used) if (!v.startsWith('_')) assert.ok(defined.has(v), `$${v} is defined`);
  });

  it('flags an undocumented metric and a counter without rate (the checker can fail)', () => {
    assert.deepEqual(checkExpr('sum(portico_made_up_total)', 'x', documented), ['x: portico_made_up_total is not in docs/metrics.md']);
    assert.deepEqual(checkExpr('sum(nginx_ingress_controller_requests)', 'x', documented), ['x: counter nginx_ingress_controller_requests used without rate() or increase()']);
    assert.deepEqual(checkExpr('sum(rate(x[5m])', 'x', documented), ['x: unclosed (']);
  });
});

describe('PrometheusRule alerts', () => {
  it('query only documented metrics, each in a way that fits its type', () => {
    const rule = find(renderChart({ controller: { metrics: { enabled: true, prometheusRule: { enabled: true } } } }), 'PrometheusRule');
    const rules = rule.spec.groups[0].rules as Array<{ alert: string; expr: string }>;
    assert.equal(rules.length, 3);
    assert.deepEqual(rules.flatMap((r) => checkExpr(r.expr, r.alert, documented)), []);
  });
});
