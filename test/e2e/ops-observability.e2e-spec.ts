import { api, startServer, type TestServer } from '../support/app.js';
import { e2eFixture } from '../support/fixture.js';
import { parsePrometheus } from '../support/prometheus.js';
import { chatRest, connectWs, roomWsUrl } from '../support/ws-client.js';

async function scrape(server: TestServer): Promise<Map<string, number>> {
  const res = await fetch(`${server.baseUrl}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
  return parsePrometheus(await res.text());
}

const value = (m: Map<string, number>, key: string) => m.get(key) ?? 0;

describe('GET /metrics', () => {
  // Its afterAll also closes the sockets the first test leaves open.
  const fixture = e2eFixture();
  let server: TestServer;

  beforeAll(async () => {
    server = await fixture.startServer({ RATE_LIMIT_LIMIT: '10' });
  });

  it('moves the request, message, connection and delivery figures exactly with the traffic', async () => {
    const rest = chatRest(server.baseUrl);
    const room = await rest.room();
    const [a, b] = [await rest.user('ma'), await rest.user('mb')];
    const before = await scrape(server);

    const first = await connectWs(roomWsUrl(server.wsUrl, room.id, a.id));
    await first.nextOfType('history');
    const second = await connectWs(roomWsUrl(server.wsUrl, room.id, b.id));
    await second.nextOfType('history');
    await first.nextOfType('system'); // b joined
    for (let i = 0; i < 3; i++) await rest.post(room.id, { content: `rest ${i}`, user_id: a.id });
    for (let i = 0; i < 2; i++) {
      first.send({ type: 'text', content: `ws ${i}` });
      await first.waitFor((f) => f.content === `ws ${i}`);
      await second.waitFor((f) => f.content === `ws ${i}`);
    }
    const after = await scrape(server);

    const posted = 'parley_http_requests_total{method="POST",route="/api/v1/rooms/:room_id/messages",status="200"}';
    expect(value(after, posted) - value(before, posted)).toBe(3);
    const rest200 = 'parley_messages_stored_total{transport="rest"}';
    const ws200 = 'parley_messages_stored_total{transport="ws"}';
    expect(value(after, rest200) - value(before, rest200)).toBe(3);
    expect(value(after, ws200) - value(before, ws200)).toBe(2);
    expect(value(after, 'parley_ws_connections')).toBe(2);
    expect(value(after, 'parley_ws_rooms')).toBe(1);
    // 2 history frames + b's join to a + 5 messages to both sockets.
    expect(value(after, 'parley_messages_delivered_total') - value(before, 'parley_messages_delivered_total')).toBe(13);
    const fanOuts = value(after, 'parley_fanout_duration_seconds_count');
    expect(fanOuts - value(before, 'parley_fanout_duration_seconds_count')).toBeGreaterThanOrEqual(5);
    const latency = 'parley_http_request_duration_seconds_count{method="POST",route="/api/v1/rooms/:room_id/messages",status="200"}';
    expect(value(after, latency) - value(before, latency)).toBe(3);
    expect(after.has('parley_redis_errors_total')).toBe(true);
  });

  it('counts every request once in parley_http_requests_total, the same as the latency count per label set', async () => {
    await api(server.baseUrl).get('/rooms/unknown-room');
    await api(server.baseUrl).post('/rooms', { name: 'counted' });
    const m = await scrape(server);
    const counted = [...m].filter(([k]) => k.startsWith('parley_http_requests_total{'));
    const latency = [...m].filter(([k]) => k.startsWith('parley_http_request_duration_seconds_count{'));
    expect(counted.length).toBeGreaterThanOrEqual(3);
    expect(counted.map(([k, v]) => [k.slice(k.indexOf('{')), v])).toEqual(
      latency.map(([k, v]) => [k.slice(k.indexOf('{')), v]),
    );
    expect(value(m, 'parley_http_requests_total{method="GET",route="/api/v1/rooms/:room_id",status="404"}')).toBe(1);
    // A second scrape counts the first one's own request, and nothing twice.
    const again = await scrape(server);
    expect(value(again, 'parley_http_requests_total{method="GET",route="/metrics",status="200"}')).toBe(
      value(m, 'parley_http_requests_total{method="GET",route="/metrics",status="200"}') + 1,
    );
    expect(value(again, 'parley_http_requests_total{method="POST",route="/api/v1/rooms",status="200"}')).toBe(
      value(m, 'parley_http_requests_total{method="POST",route="/api/v1/rooms",status="200"}'),
    );
  });

  it('labels unknown routes by template, not by raw URL', async () => {
    await api(server.baseUrl).get('/no/such/route/abc123');
    const m = await scrape(server);
    expect([...m.keys()].some((k) => k.includes('abc123'))).toBe(false);
    expect(value(m, 'parley_http_requests_total{method="GET",route="unmatched",status="404"}')).toBeGreaterThanOrEqual(1);
  });

  it('is not rate limited, and neither are the health checks', async () => {
    for (let i = 0; i < 12; i++) {
      expect((await fetch(`${server.baseUrl}/metrics`)).status).toBe(200);
      expect((await fetch(`${server.baseUrl}/health`)).status).toBe(200);
      expect((await fetch(`${server.baseUrl}/health/ready`)).status).toBe(200);
    }
  });
});

describe('structured logs', () => {
  it('writes JSON lines with the request id and never the message content', async () => {
    const server = await startServer({ LOG_LEVEL: 'info' });
    try {
      const rest = chatRest(server.baseUrl);
      const room = await rest.room();
      const user = await rest.user('log');
      const res = await api(server.baseUrl).post(
        `/rooms/${room.id}/messages`,
        { content: 'SECRET-CONTENT-42', user_id: user.id },
        { 'x-request-id': 'req-observe-1' },
      );
      expect(res.status).toBe(200);
      expect(res.headers.get('x-request-id')).toBe('req-observe-1');
      await new Promise((r) => setTimeout(r, 200));
      const lines = server.output().split('\n').filter((l) => l.startsWith('{'));
      const parsed = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
      const line = parsed.find((l) => l.reqId === 'req-observe-1');
      expect(line).toMatchObject({ method: 'POST', route: '/api/v1/rooms/:room_id/messages', status: 200 });
      expect(server.output()).not.toContain('SECRET-CONTENT-42');
      // The start-up line names the store, the port and the instance.
      expect(parsed.some((l) => typeof l.msg === 'string' && /store memory/.test(l.msg) && /instance /.test(l.msg))).toBe(true);
    } finally {
      await server.stop();
    }
  });
});
