import { jest } from '@jest/globals';
import perfHooks from 'node:perf_hooks';
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
  it('samples the event-loop delay every METRICS_EVENT_LOOP_RESOLUTION_MS and reports it', async () => {
    const monitor = jest.spyOn(perfHooks, 'monitorEventLoopDelay');
    try {
      const m = metrics(250);
      expect(monitor.mock.calls.map(([options]) => options)).toEqual([{ resolution: 250 }]);
      const text = parsePrometheus(await m.registry.metrics());
      expect(text.has('parley_nodejs_eventloop_lag_p99_seconds')).toBe(true);
      expect(text.has('parley_nodejs_eventloop_lag_max_seconds')).toBe(true);
    } finally {
      monitor.mockRestore();
    }
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
