import type { Metric, Registry } from 'prom-client';

/** One label set's observations: a count per bucket (not cumulative), their sum and number. */
export class HistogramSeries {
  /** `counts[i]`: observations in (bounds[i-1], bounds[i]]; the last slot: above the highest bound. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(
    readonly labels: Readonly<Record<string, string>>,
    buckets: number,
  ) {
    this.counts = new Float64Array(buckets + 1);
  }
}

/** One exported sample, in the shape prom-client's registry formats. */
interface Sample {
  labels: Record<string, string | number>;
  sharedLabels?: Readonly<Record<string, string>>;
  value: number;
  metricName: string;
}

interface MetricData {
  name: string;
  help: string;
  type: string;
  aggregator: string;
  values: Sample[];
}

/**
 * A Prometheus histogram for hot paths, exported by a prom-client `Registry` exactly as
 * prom-client's own `Histogram` is (same samples, labels and order).
 *
 * prom-client's `observe()` builds a closure and a label object, validates and hashes the
 * label set, and counts the value under a bucket key that is a number turned into a
 * string, on every call; sampled in the 100-room bench that was ≈2 % of the server's
 * CPU, once per room event. Here the caller keeps the series of a label set (or looks it
 * up by a key of its own), and an observation is a scan of the bounds and three additions.
 */
export class LeanHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly bounds: Float64Array;
  private readonly all: HistogramSeries[] = [];

  constructor(
    readonly name: string,
    readonly help: string,
    buckets: readonly number[],
    registry: Registry,
  ) {
    this.bounds = Float64Array.from([...buckets].sort((a, b) => a - b));
    registry.registerMetric(this as unknown as Metric);
  }

  /** A new series for `labels`, exported from the next scrape on (created once per label set by the caller). */
  series(labels: Readonly<Record<string, string>> = {}): HistogramSeries {
    const series = new HistogramSeries(labels, this.bounds.length);
    this.all.push(series);
    return series;
  }

  observe(series: HistogramSeries, value: number): void {
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && value > bounds[i]) i++;
    series.counts[i]++;
    series.sum += value;
    series.count++;
  }

  /** Zeroes every series (prom-client's `Registry.resetMetrics()`). */
  reset(): void {
    for (const series of this.all) {
      series.counts.fill(0);
      series.sum = 0;
      series.count = 0;
    }
  }

  /** The label sets observed so far, with their counts. */
  counts(): { labels: Readonly<Record<string, string>>; count: number }[] {
    return this.all.map((s) => ({ labels: s.labels, count: s.count }));
  }

  /** What prom-client's registry formats at scrape time: the series' labels as shared labels. */
  getForPromString(): Promise<MetricData> {
    const bucket = `${this.name}_bucket`;
    const values: Sample[] = [];
    for (const series of this.all) {
      const shared = series.labels;
      let cumulative = 0;
      this.bounds.forEach((le, i) => {
        cumulative += series.counts[i];
        values.push({ labels: { le }, sharedLabels: shared, value: cumulative, metricName: bucket });
      });
      values.push(
        { labels: { le: '+Inf' }, sharedLabels: shared, value: series.count, metricName: bucket },
        { labels: {}, sharedLabels: shared, value: series.sum, metricName: `${this.name}_sum` },
        { labels: {}, sharedLabels: shared, value: series.count, metricName: `${this.name}_count` },
      );
    }
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values });
  }

  /** The same with every sample's labels in one object (prom-client's `getMetricsAsJSON()`). */
  async get(): Promise<MetricData> {
    const data = await this.getForPromString();
    data.values = data.values.map(({ labels, sharedLabels, value, metricName }) => ({
      labels: { ...labels, ...sharedLabels },
      value,
      metricName,
    }));
    return data;
  }
}
