import { Histogram, Registry } from 'prom-client';
import { LeanHistogram } from '../../src/observability/lean-histogram.js';

const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];
/** Below, on and between the bounds, above the highest, and zero. */
const VALUES = [0, 0.0004, 0.001, 0.0011, 0.0025, 0.007, 0.05, 0.3, 1, 2.5, 2.6, 40];

function pair(labelNames: string[]) {
  const promRegistry = new Registry();
  const leanRegistry = new Registry();
  const prom = new Histogram({ name: 'x_seconds', help: 'Some latency', labelNames, buckets: BUCKETS, registers: [promRegistry] });
  const lean = new LeanHistogram('x_seconds', 'Some latency', BUCKETS, leanRegistry);
  return { prom, lean, promRegistry, leanRegistry };
}

describe('LeanHistogram', () => {
  it('is exported exactly as prom-client exports its own histogram for the same observations (no labels)', async () => {
    const { prom, lean, promRegistry, leanRegistry } = pair([]);
    const series = lean.series();
    expect(await leanRegistry.metrics()).toBe(await promRegistry.metrics());
    for (const v of VALUES) {
      prom.observe(v);
      lean.observe(series, v);
    }
    const text = await leanRegistry.metrics();
    expect(text).toBe(await promRegistry.metrics());
    expect(text).toContain('x_seconds_bucket{le="0.001"} 3\n');
    expect(text).toContain('x_seconds_bucket{le="2.5"} 10\n');
    expect(text).toContain('x_seconds_bucket{le="+Inf"} 12\n');
    expect(text).toContain('x_seconds_count 12\n');
  });

  it('is exported exactly as prom-client exports it with labels, series in the order first seen', async () => {
    const { prom, lean, promRegistry, leanRegistry } = pair(['method', 'route', 'status']);
    const labelSets = [
      { method: 'POST', route: '/api/v1/rooms/:room_id/messages', status: '200' },
      { method: 'GET', route: 'unmatched', status: '404' },
      { method: 'GET', route: '/a "quoted"\\route', status: '200' },
    ];
    const series = labelSets.map((labels) => lean.series(labels));
    VALUES.forEach((v, i) => {
      prom.observe(labelSets[i % 3], v);
      lean.observe(series[i % 3], v);
    });
    expect(await leanRegistry.metrics()).toBe(await promRegistry.metrics());
    expect(lean.counts()).toEqual(labelSets.map((labels) => ({ labels, count: 4 })));
    const json = (await leanRegistry.getMetricsAsJSON())[0].values;
    expect(json[0]).toEqual({ labels: { le: 0.001, ...labelSets[0] }, value: 1, metricName: 'x_seconds_bucket' });
    expect(json.at(-1)).toEqual({ labels: labelSets[2], value: 4, metricName: 'x_seconds_count' });
  });

  it('starts again from zero after a reset', async () => {
    const { lean, leanRegistry } = pair([]);
    const series = lean.series();
    lean.observe(series, 0.2);
    leanRegistry.resetMetrics();
    const text = await leanRegistry.metrics();
    expect(text).toContain('x_seconds_bucket{le="+Inf"} 0\n');
    expect(text).toContain('x_seconds_sum 0\n');
  });
});
