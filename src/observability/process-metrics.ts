import { type IntervalHistogram, monitorEventLoopDelay } from 'node:perf_hooks';
import { collectDefaultMetrics, Gauge, Registry } from 'prom-client';

/** prom-client's event-loop metric names, without the prefix: replaced by `registerEventLoopDelay`. */
const LAG_PREFIX = 'nodejs_eventloop_lag';

/**
 * The figures of the delay histogram, under prom-client's names. Each is the delay beyond the
 * sampling interval: Node's histogram records the whole time between two samples, so an idle
 * loop sampled every 100 ms reads 0.100 s (prom-client passes those figures on as they are).
 * The spread (stddev) does not move with that offset.
 */
const FIGURES: [suffix: string, help: string, read: (h: IntervalHistogram) => number, offset: boolean][] = [
  ['min', 'The minimum recorded event loop delay.', (h) => h.min, true],
  ['max', 'The maximum recorded event loop delay.', (h) => h.max, true],
  ['mean', 'The mean of the recorded event loop delays.', (h) => h.mean, true],
  ['stddev', 'The standard deviation of the recorded event loop delays.', (h) => h.stddev, false],
  ['p50', 'The 50th percentile of the recorded event loop delays.', (h) => h.percentile(50), true],
  ['p90', 'The 90th percentile of the recorded event loop delays.', (h) => h.percentile(90), true],
  ['p99', 'The 99th percentile of the recorded event loop delays.', (h) => h.percentile(99), true],
];

/**
 * prom-client's default process metrics, with the event-loop figures sampled every
 * `resolutionMs` and reported as the delay beyond that interval (see FIGURES), under
 * the same names. prom-client cannot leave its own event-loop collector out: the
 * defaults are collected into a registry of their own with a sampling interval that
 * never comes round, and all but the event-loop figures are moved into `registry`.
 */
export function registerProcessMetrics(registry: Registry, prefix: string, resolutionMs: number): void {
  const defaults = new Registry();
  collectDefaultMetrics({ register: defaults, prefix, eventLoopMonitoringPrecision: Number.MAX_SAFE_INTEGER });
  for (const { name } of defaults.getMetricsAsArray()) {
    const metric = defaults.getSingleMetric(name);
    if (metric && !name.startsWith(prefix + LAG_PREFIX)) registry.registerMetric(metric);
  }
  registerEventLoopDelay(registry, prefix, resolutionMs);
}

function registerEventLoopDelay(registry: Registry, prefix: string, resolutionMs: number): void {
  const histogram = monitorEventLoopDelay({ resolution: resolutionMs });
  histogram.enable();
  const intervalNs = resolutionMs * 1e6;
  const figures: { gauge: Gauge; read: (h: IntervalHistogram) => number; offset: boolean }[] = [];
  // Registered first: a scrape collects it before the figures it sets are read.
  new Gauge({
    name: `${prefix}${LAG_PREFIX}_seconds`,
    help: 'Lag of event loop in seconds.',
    registers: [registry],
    collect() {
      for (const { gauge, read, offset } of figures) {
        // No sample since the last scrape (scrapes closer together than the interval): no delay seen.
        const ns = histogram.count === 0 ? 0 : read(histogram);
        gauge.set((offset ? Math.max(0, ns - intervalNs) : ns) / 1e9);
      }
      histogram.reset();
      // How long a callback queued now waits for its turn.
      const start = process.hrtime.bigint();
      return new Promise<void>((resolve) =>
        setImmediate(() => {
          this.set(Number(process.hrtime.bigint() - start) / 1e9);
          resolve();
        }),
      );
    },
  });
  for (const [suffix, help, read, offset] of FIGURES) {
    figures.push({ gauge: new Gauge({ name: `${prefix}${LAG_PREFIX}_${suffix}_seconds`, help, registers: [registry] }), read, offset });
  }
}
