import { Injectable } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { Counter, Gauge, Registry } from 'prom-client';
import type { Env } from '../config/env.schema.js';
import { ConnectionHub } from '../realtime/connection-hub.js';
import { registerProcessMetrics } from './process-metrics.js';
import { storageFailures } from '../storage/storage-errors.js';
import { type HistogramSeries, LeanHistogram } from './lean-histogram.js';

export type Transport = 'rest' | 'ws';

const TRANSPORTS: readonly Transport[] = ['rest', 'ws'];

/**
 * Prometheus metrics. Hot-path figures (frames delivered, messages stored) are plain
 * counters kept where they happen and read at scrape time, and the two latency
 * histograms are `LeanHistogram`s, so a message, a delivery or a request pays no label
 * hashing: prom-client hashes the label set on every `inc()` or `observe()`.
 */
@Injectable()
export class MetricsService {
  readonly registry = new Registry();

  /** Messages stored (not repeats), by transport; read at scrape time. */
  private readonly stored: Record<Transport, number> = { rest: 0, ws: 0 };

  private readonly httpDuration = new LeanHistogram(
    'parley_http_request_duration_seconds',
    'HTTP request latency, by method, route and status',
    [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    this.registry,
  );

  /** The latency series of each method, route and status seen, by `method route status`. */
  private readonly httpSeries = new Map<string, HistogramSeries>();

  private readonly fanOutDuration = new LeanHistogram(
    'parley_fanout_duration_seconds',
    'Time for one room event to be written to every local socket of its room',
    [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1],
    this.registry,
  );

  constructor(hub: ConnectionHub, config: ConfigService<Env, true>) {
    // Node's process metrics. The event-loop delay is sampled every METRICS_EVENT_LOOP_RESOLUTION_MS
    // (100 by default, not prom-client's 10): its timer wakes the process at that rate even when idle,
    // and at 50 a second it was ≈1.8 ms of CPU a second on an idle server and ≈2 % of the 100-room
    // fan-out's (docs/performance.md, change 18). Stalls longer than the interval are always seen.
    registerProcessMetrics(this.registry, 'parley_', config.get('METRICS_EVENT_LOOP_RESOLUTION_MS', { infer: true }));
    const httpDuration = this.httpDuration;
    // The request count is the latency histogram's count per label set: one observation
    // per request, not a second label lookup for a counter that says the same.
    new Counter({
      name: 'parley_http_requests_total',
      help: 'HTTP requests answered, by method, route and status',
      labelNames: ['method', 'route', 'status'] as const,
      registers: [this.registry],
      collect() {
        // Reset and refill in one synchronous step: scrapes at the same time must not add
        // their counts on top of each other.
        this.reset();
        for (const { labels, count } of httpDuration.counts()) this.inc(labels, count);
      },
    });
    const stored = this.stored;
    new Counter({
      name: 'parley_messages_stored_total',
      help: 'Messages stored, by the transport they were sent over',
      labelNames: ['transport'] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const transport of TRANSPORTS) this.inc({ transport }, stored[transport]);
      },
    });
    new Gauge({
      name: 'parley_ws_connections',
      help: 'Open WebSocket connections on this instance',
      registers: [this.registry],
      collect() {
        this.set(hub.connectionCount);
      },
    });
    new Gauge({
      name: 'parley_ws_rooms',
      help: 'Rooms with at least one local WebSocket subscriber on this instance',
      registers: [this.registry],
      collect() {
        this.set(hub.roomCount);
      },
    });
    let deliveredSeen = 0;
    new Counter({
      name: 'parley_messages_delivered_total',
      help: 'Frames (messages and events) written to WebSocket clients',
      registers: [this.registry],
      collect() {
        this.inc(hub.delivered - deliveredSeen);
        deliveredSeen = hub.delivered;
      },
    });
    let failuresSeen = 0;
    new Counter({
      name: 'parley_redis_errors_total',
      help: 'Redis commands that failed (connection loss, timeouts, transient replies)',
      registers: [this.registry],
      collect() {
        this.inc(storageFailures.count - failuresSeen);
        failuresSeen = storageFailures.count;
      },
    });
    const fanOut = this.fanOutDuration.series();
    hub.observeFanOut((seconds) => this.fanOutDuration.observe(fanOut, seconds));
  }

  /** One HTTP answer: its latency, which also counts it in `parley_http_requests_total`. */
  observeHttp(method: string, route: string, status: number, seconds: number): void {
    const key = `${method} ${status} ${route}`;
    let series = this.httpSeries.get(key);
    if (series === undefined) {
      series = this.httpDuration.series({ method, route, status: String(status) });
      this.httpSeries.set(key, series);
    }
    this.httpDuration.observe(series, seconds);
  }

  /** One message stored (not a repeat), sent over `transport`. */
  countStored(transport: Transport): void {
    this.stored[transport]++;
  }
}
