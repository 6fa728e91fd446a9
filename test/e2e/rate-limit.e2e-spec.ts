import { api, type ApiResponse, type TestServer } from '../support/app.js';
import { e2eFixture } from '../support/fixture.js';
import type { RedisServer } from '../support/redis-server.js';

/**
 * One budget per client IP, shared by every /api/v1 route, with X-RateLimit-* headers and
 * 429 + Retry-After beyond it. Each server below gets a small RATE_LIMIT_LIMIT; tests on the
 * proxied server each use their own X-Forwarded-For client so their budgets stay apart.
 */

const LIMIT = 5;
const TTL = 60;

type Client = ReturnType<typeof api>;

function expectTooMany(res: ApiResponse): void {
  expect({ status: res.status, body: res.body }).toEqual({ status: 429, body: { detail: 'Too Many Requests' } });
  const retryAfter = Number(res.headers.get('retry-after'));
  expect(Number.isInteger(retryAfter)).toBe(true);
  expect(retryAfter).toBeGreaterThan(0);
  expect(retryAfter).toBeLessThanOrEqual(TTL);
  expect(res.headers.get('x-request-id')).toBeTruthy();
}

function remaining(res: ApiResponse): number | null {
  const value = res.headers.get('x-ratelimit-remaining');
  return value === null ? null : Number(value);
}

let clients = 0;
/** A fresh documentation-range client address for X-Forwarded-For. */
function nextClientIp(): string {
  clients++;
  return `203.0.113.${clients}`;
}

describe('rate limiting', () => {
  const fixture = e2eFixture();
  let redis: RedisServer;
  let plain: TestServer;
  let proxied: TestServer;
  let shared1: TestServer;
  let shared2: TestServer;
  let short: TestServer;

  beforeAll(async () => {
    redis = await fixture.startRedis();
    const limits = { RATE_LIMIT_LIMIT: String(LIMIT), RATE_LIMIT_TTL: String(TTL) };
    plain = await fixture.startServer(limits);
    proxied = await fixture.startServer({ ...limits, TRUST_PROXY: '127.0.0.1' });
    shared1 = await fixture.startServer({ ...limits, REDIS_URL: redis.url });
    shared2 = await fixture.startServer({ ...limits, REDIS_URL: redis.url });
    short = await fixture.startServer({ RATE_LIMIT_LIMIT: '2', RATE_LIMIT_TTL: '1' });
  }, 90_000);

  describe('per client IP behind a trusted proxy (TRUST_PROXY=127.0.0.1)', () => {
    let client: Client;
    let roomId: string;
    let userId: string;

    beforeAll(async () => {
      client = api(proxied.baseUrl);
      const setup = { 'x-forwarded-for': '192.0.2.200' };
      roomId = (await client.post('/rooms', { name: 'Throttled' }, setup)).body.id;
      userId = (await client.post('/users', { username: 'throttled' }, setup)).body.id;
    });

    it('sets X-RateLimit-Limit, -Remaining and -Reset on every answer', async () => {
      const xff = { 'x-forwarded-for': nextClientIp() };
      for (let i = 1; i <= LIMIT; i++) {
        const res = await client.get('/rooms', xff);
        expect(res.status).toBe(200);
        expect(res.headers.get('x-ratelimit-limit')).toBe(String(LIMIT));
        expect(remaining(res)).toBe(LIMIT - i);
        const reset = Number(res.headers.get('x-ratelimit-reset'));
        expect(Number.isInteger(reset)).toBe(true);
        expect(reset).toBeGreaterThan(0);
        expect(reset).toBeLessThanOrEqual(TTL);
      }
    });

    it('shares one budget across every /api/v1 route', async () => {
      const xff = { 'x-forwarded-for': nextClientIp() };
      const answers = [
        await client.get('/rooms', xff),
        await client.post('/rooms', { name: 'Budget' }, xff),
        await client.get('/users', xff),
        await client.get(`/rooms/${roomId}/messages`, xff),
        await client.get('/users/no-such-user', xff),
      ];
      expect(answers.map((r) => r.status)).toEqual([200, 200, 200, 200, 404]);
      expect(answers.map(remaining)).toEqual([4, 3, 2, 1, 0]);
      expectTooMany(await client.post(`/rooms/${roomId}/messages`, { content: 'x', user_id: userId }, xff));
      expectTooMany(await client.get(`/rooms/${roomId}`, xff));
      expectTooMany(await client.get('/users', xff));
    });

    it('answers 429 {"detail":"Too Many Requests"} with Retry-After beyond the limit', async () => {
      const xff = { 'x-forwarded-for': nextClientIp() };
      for (let i = 0; i < LIMIT; i++) expect((await client.get('/rooms', xff)).status).toBe(200);
      const refused = await client.get('/rooms', xff);
      expectTooMany(refused);
      expect(Object.keys(refused.body)).toEqual(['detail']);
    });

    it('stores nothing for a refused request', async () => {
      const xff = { 'x-forwarded-for': nextClientIp() };
      for (let i = 0; i < LIMIT; i++) await client.get('/users', xff);
      const name = `refused-${Date.now()}`;
      expectTooMany(await client.post('/rooms', { name }, xff));
      expectTooMany(await client.post(`/rooms/${roomId}/messages`, { content: name, user_id: userId }, xff));
      const observer = { 'x-forwarded-for': nextClientIp() };
      const rooms = (await client.get('/rooms?limit=1000', observer)).body as { name: string }[];
      expect(rooms.some((r) => r.name === name)).toBe(false);
      const messages = (await client.get(`/rooms/${roomId}/messages`, observer)).body as { content: string }[];
      expect(messages.some((m) => m.content === name)).toBe(false);
    });

    it('gives distinct X-Forwarded-For clients separate budgets', async () => {
      const first = { 'x-forwarded-for': nextClientIp() };
      const second = { 'x-forwarded-for': nextClientIp() };
      for (let i = 0; i < LIMIT; i++) await client.get('/rooms', first);
      expectTooMany(await client.get('/rooms', first));
      const other = await client.get('/rooms', second);
      expect(other.status).toBe(200);
      expect(remaining(other)).toBe(LIMIT - 1);
    });

    it('takes the nearest untrusted address of the X-Forwarded-For chain as the client', async () => {
      const victim = nextClientIp();
      const bystander = nextClientIp();
      for (let i = 0; i < LIMIT; i++) await client.get('/rooms', { 'x-forwarded-for': victim });
      // A trusted hop after the client does not change who the client is.
      expectTooMany(await client.get('/rooms', { 'x-forwarded-for': `${victim}, 127.0.0.1` }));
      // Addresses the client prepends itself do not either.
      expectTooMany(await client.get('/rooms', { 'x-forwarded-for': `198.18.0.1, ${victim}` }));
      // The nearest untrusted address is another client here.
      const res = await client.get('/rooms', { 'x-forwarded-for': `${victim}, ${bystander}` });
      expect(res.status).toBe(200);
      expect(remaining(res)).toBe(LIMIT - 1);
    });

    it('does not count /health against the budget', async () => {
      const xff = { 'x-forwarded-for': nextClientIp() };
      for (let i = 0; i < LIMIT; i++) await client.get('/rooms', xff);
      const health = await fetch(`${proxied.baseUrl}/health`, { headers: xff });
      expect(health.status).toBe(200);
    });
  });

  describe('without TRUST_PROXY', () => {
    it('ignores a forged X-Forwarded-For: every request counts against the real address', async () => {
      const client = api(plain.baseUrl);
      for (let i = 1; i <= LIMIT; i++) {
        const res = await client.get('/rooms', { 'x-forwarded-for': nextClientIp() });
        expect(res.status).toBe(200);
        expect(remaining(res)).toBe(LIMIT - i);
      }
      expectTooMany(await client.get('/rooms', { 'x-forwarded-for': nextClientIp() }));
      expectTooMany(await client.get('/rooms', { 'x-forwarded-for': '127.0.0.2', 'x-real-ip': '127.0.0.3' }));
      expectTooMany(await client.get('/rooms'));
    });
  });

  describe('with Redis', () => {
    it('shares one budget between two instances on one Redis', async () => {
      const one = api(shared1.baseUrl);
      const two = api(shared2.baseUrl);
      const seen = [];
      for (let i = 0; i < LIMIT; i++) {
        const res = await (i % 2 === 0 ? one : two).get('/rooms');
        expect(res.status).toBe(200);
        seen.push(remaining(res));
      }
      expect(seen).toEqual([4, 3, 2, 1, 0]);
      expectTooMany(await one.get('/rooms'));
      expectTooMany(await two.get('/users'));
    });
  });

  describe('the window', () => {
    it('refills the budget after RATE_LIMIT_TTL seconds', async () => {
      const client = api(short.baseUrl);
      expect((await client.get('/rooms')).status).toBe(200);
      expect((await client.get('/rooms')).status).toBe(200);
      const refused = await client.get('/rooms');
      expect(refused.status).toBe(429);
      expect(Number(refused.headers.get('retry-after'))).toBe(1);
      await new Promise((r) => setTimeout(r, 1500));
      const again = await client.get('/rooms');
      expect(again.status).toBe(200);
      expect(remaining(again)).toBe(1);
    });
  });
});
