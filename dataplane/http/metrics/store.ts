/**
 * Request metrics kept by one worker, in ingress-nginx's families, label sets and default buckets, so that
 * dashboards and alerts built for ingress-nginx keep working. The master merges every worker's snapshot
 * (prom-client's MetricObject JSON) at scrape time.
 */

import { histogramValues, TIME_BUCKETS } from '../../metrics/histogram.ts';

/** Buckets as ingress-nginx's defaults: --time-buckets, --length-buckets, --size-buckets. */
export { TIME_BUCKETS };
export const LENGTH_BUCKETS = [10, 20, 30, 40, 50, 60, 70, 80, 90, 100];
export const SIZE_BUCKETS = [10, 100, 1000, 10000, 100000, 1000000, 10000000];

/** The request label names, in ingress-nginx's order (host only with per-host metrics). */
export const REQUEST_LABELS = ['status', 'method', 'path', 'namespace', 'ingress', 'service', 'canary'] as const;

const PREFIX = 'nginx_ingress_controller_';

interface HistogramDef {
  name: string;
  help: string;
  buckets: number[];
}

/** HISTOGRAMS lists the histogram families, indexed as Series.hist. */
export const HISTOGRAMS: HistogramDef[] = [
  { name: 'request_duration_seconds', help: 'The request processing time in milliseconds', buckets: TIME_BUCKETS },
  { name: 'response_duration_seconds', help: 'The time spent on receiving the response from the upstream server', buckets: TIME_BUCKETS },
  { name: 'header_duration_seconds', help: 'The time spent on receiving first header from the upstream server', buckets: TIME_BUCKETS },
  { name: 'connect_duration_seconds', help: 'The time spent on establishing a connection with the upstream server', buckets: TIME_BUCKETS },
  { name: 'request_size', help: 'The request length (including request line, header, and request body)', buckets: LENGTH_BUCKETS },
  { name: 'response_size', help: 'The response length (including request line, header, and request body)', buckets: LENGTH_BUCKETS },
  { name: 'bytes_sent', help: 'DEPRECATED The number of bytes sent to a client', buckets: SIZE_BUCKETS },
];

export const H_REQUEST_TIME = 0;
export const H_RESPONSE_TIME = 1;
export const H_HEADER_TIME = 2;
export const H_CONNECT_TIME = 3;
export const H_REQUEST_SIZE = 4;
export const H_RESPONSE_SIZE = 5;
export const H_BYTES_SENT = 6;

/** Series is one label set's counters: cumulative-free bucket counts (made cumulative at snapshot). */
export class Series {
  readonly labels: Record<string, string>;
  requests = 0;
  readonly counts: Float64Array[];
  readonly sums: Float64Array;
  readonly totals: Float64Array;

  constructor(labels: Record<string, string>) {
    this.labels = labels;
    this.counts = HISTOGRAMS.map((h) => new Float64Array(h.buckets.length + 1));
    this.sums = new Float64Array(HISTOGRAMS.length);
    this.totals = new Float64Array(HISTOGRAMS.length);
  }

  observe(h: number, value: number): void {
    const buckets = HISTOGRAMS[h]!.buckets;
    let i = 0;
    while (i < buckets.length && value > buckets[i]!) i++;
    this.counts[h]![i]!++;
    this.sums[h]! += value;
    this.totals[h]!++;
  }
}

/** MetricValue / MetricObject follow prom-client's JSON shape so AggregatorRegistry can merge them. */
export interface MetricValue {
  value: number;
  labels: Record<string, string | number>;
  metricName?: string;
}
export interface MetricObject {
  name: string;
  help: string;
  type: 'counter' | 'gauge' | 'histogram';
  values: MetricValue[];
  aggregator: 'sum' | 'max' | 'first' | 'omit' | 'average' | 'min';
}

/** HttpMetricsStore holds one worker's series by label key, plus process-level request/connection counters. */
export class HttpMetricsStore {
  readonly series = new Map<string, Series>();
  requestsTotal = 0;

  get(key: string, labels: () => Record<string, string>): Series {
    let s = this.series.get(key);
    if (!s) {
      s = new Series(labels());
      this.series.set(key, s);
    }
    return s;
  }

  /** forget drops series whose ingress is no longer served (bounded cardinality across reloads). */
  forget(keep: (labels: Record<string, string>) => boolean): void {
    for (const [k, s] of this.series) if (!keep(s.labels)) this.series.delete(k);
  }

  /** snapshot renders the store as prom-client MetricObjects. */
  snapshot(): MetricObject[] {
    const requests: MetricObject = {
      name: `${PREFIX}requests`,
      help: 'The total number of client requests',
      type: 'counter',
      values: [],
      aggregator: 'sum',
    };
    const hists: MetricObject[] = HISTOGRAMS.map((h) => ({ name: PREFIX + h.name, help: h.help, type: 'histogram', values: [], aggregator: 'sum' }));
    for (const s of this.series.values()) {
      requests.values.push({ value: s.requests, labels: s.labels });
      HISTOGRAMS.forEach((h, i) => {
        if (s.totals[i] === 0) return;
        histogramValues(hists[i]!.values, PREFIX + h.name, h.buckets, s.counts[i]!, s.sums[i]!, s.totals[i]!, s.labels);
      });
    }
    return [requests, ...hists];
  }
}
