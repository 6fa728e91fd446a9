import { ConfigService } from '@nestjs/config';
import type { Env } from '../../src/config/env.schema.js';
import { MetricsService } from '../../src/observability/metrics.service.js';
import { ConnectionHub } from '../../src/realtime/connection-hub.js';
import { MemoryRoomBroker } from '../../src/realtime/room-broker.js';
import { parsePrometheus } from '../support/prometheus.js';

/** Only the samples of one metric, keyed by their label set. */
function series(m: Map<string, number>, name: string): Record<string, number> {
  return Object.fromEntries([...m].filter(([k]) => k.startsWith(`${name}{`)).map(([k, v]) => [k.slice(name.length), v]));
}

function metrics(resolutionMs = 100): MetricsService {
  const config = new ConfigService({ WS_MAX_BUFFERED: 1 << 20, METRICS_EVENT_LOOP_RESOLUTION_MS: resolutionMs }) as ConfigService<
    Env,
    true
  >;
  return new MetricsService(new ConnectionHub(new MemoryRoomBroker(), config), config);
}

const POSTED = '{method="POST",route="/api/v1/rooms",status="200"}';
const MISSING = '{method="GET",route="/api/v1/rooms/:room_id",status="404"}';

describe('MetricsService', () => {
  describe('event-loop delay (sampled every METRICS_EVENT_LOOP_RESOLUTION_MS)', () => {
    const LAG = ['min', 'max', 'mean', 'stddev', 'p50', 'p90', 'p99'].map((f) => `parley_nodejs_eventloop_lag_${f}_seconds`);
    const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

    it("reports each of prom-client's event-loop figures once, beside its other process metrics", async () => {
      const text = await metrics(50).registry.metrics();
      for (const name of [...LAG, 'parley_nodejs_eventloop_lag_seconds']) {
        expect(text.split('\n').filter((line) => line.startsWith(`${name} `))).toHaveLength(1);
      }
      const samples = parsePrometheus(text);
      for (const name of ['parley_process_cpu_user_seconds_total', 'parley_nodejs_heap_size_total_bytes', 'parley_nodejs_version_info']) {
        expect([...samples.keys()].some((k) => k.startsWith(name))).toBe(true);
      }
    });

    it('reports the delay beyond the sampling interval, not the interval itself', async () => {
      const m = metrics(50);
      await m.registry.metrics(); // starts a fresh window
      await sleep(400);
      const idle = parsePrometheus(await m.registry.metrics());
      // Node's histogram records the whole time between samples (≈0.050 s here when idle; a sample
      // may also come a little early, so the delay beyond the interval is 0 or a little more).
      const mean = idle.get('parley_nodejs_eventloop_lag_mean_seconds')!;
      expect(mean).toBeGreaterThanOrEqual(0);
      expect(mean).toBeLessThan(0.01);
      expect(idle.get('parley_nodejs_eventloop_lag_p50_seconds')!).toBeLessThan(0.025);
    });

    it('reports a stall of the loop', async () => {
      const m = metrics(20);
      await m.registry.metrics();
      await sleep(60);
      const until = performance.now() + 150;
      while (performance.now() < until) {
        // the loop is blocked
      }
      await sleep(60);
      const max = parsePrometheus(await m.registry.metrics()).get('parley_nodejs_eventloop_lag_max_seconds')!;
      expect(max).toBeGreaterThanOrEqual(0.1);
      expect(max).toBeLessThan(1);
    });
  });

  it('counts HTTP requests as the latency histogram counts them, per label set', async () => {
    const m = metrics();
    for (let i = 0; i < 3; i++) m.observeHttp('POST', '/api/v1/rooms', 200, 0.002);
    m.observeHttp('GET', '/api/v1/rooms/:room_id', 404, 0.0005);
    const text = parsePrometheus(await m.registry.metrics());
    expect(series(text, 'parley_http_requests_total')).toEqual({ [POSTED]: 3, [MISSING]: 1 });
    expect(series(text, 'parley_http_request_duration_seconds_count')).toEqual({ [POSTED]: 3, [MISSING]: 1 });
  });

  it('answers scrapes started together with the same counts, none added twice', async () => {
    const m = metrics();
    m.observeHttp('POST', '/api/v1/rooms', 200, 0.002);
    await m.registry.metrics();
    m.observeHttp('POST', '/api/v1/rooms', 200, 0.002);
    const answers = await Promise.all(Array.from({ length: 4 }, () => m.registry.metrics()));
    for (const text of answers) expect(series(parsePrometheus(text), 'parley_http_requests_total')).toEqual({ [POSTED]: 2 });
  });

  it('counts stored messages by transport, both series from the first scrape on', async () => {
    const m = metrics();
    expect(series(parsePrometheus(await m.registry.metrics()), 'parley_messages_stored_total')).toEqual({
      '{transport="rest"}': 0,
      '{transport="ws"}': 0,
    });
    m.countStored('rest');
    m.countStored('ws');
    m.countStored('ws');
    expect(series(parsePrometheus(await m.registry.metrics()), 'parley_messages_stored_total')).toEqual({
      '{transport="rest"}': 1,
      '{transport="ws"}': 2,
    });
    expect(series(parsePrometheus(await m.registry.metrics()), 'parley_messages_stored_total')).toEqual({
      '{transport="rest"}': 1,
      '{transport="ws"}': 2,
    });
  });
});
