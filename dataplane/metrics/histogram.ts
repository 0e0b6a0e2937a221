/**
 * A histogram kept as plain numbers by the one thread that owns it (no prom-client objects on hot paths), and
 * its rendering as prom-client MetricValues (cumulative `_bucket` series, `_sum`, `_count`) for the master's
 * AggregatorRegistry, which sums histograms across workers.
 */

/** MetricValue follows prom-client's JSON shape (see http/metrics/store.ts MetricObject). */
interface MetricValue {
  value: number;
  labels: Record<string, string | number>;
  metricName?: string;
}

/** TIME_BUCKETS are ingress-nginx's default time buckets (--time-buckets), in seconds. */
export const TIME_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Histogram counts observations per bucket (the last slot is +Inf), not yet cumulative. */
export class Histogram {
  readonly buckets: number[];
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(buckets: number[]) {
    this.buckets = buckets;
    this.counts = new Float64Array(buckets.length + 1);
  }

  observe(value: number): void {
    let i = 0;
    while (i < this.buckets.length && value > this.buckets[i]!) i++;
    this.counts[i]!++;
    this.sum += value;
    this.count++;
  }
}

/** histogramValues appends one label set's series of histogram `name` to `out`. */
export function histogramValues(out: MetricValue[], name: string, buckets: number[], counts: Float64Array, sum: number, count: number, labels: Record<string, string>): void {
  let acc = 0;
  buckets.forEach((le, b) => {
    acc += counts[b]!;
    out.push({ value: acc, labels: { ...labels, le }, metricName: `${name}_bucket` });
  });
  acc += counts[buckets.length]!;
  out.push({ value: acc, labels: { ...labels, le: '+Inf' }, metricName: `${name}_bucket` });
  out.push({ value: sum, labels, metricName: `${name}_sum` });
  out.push({ value: count, labels, metricName: `${name}_count` });
}
