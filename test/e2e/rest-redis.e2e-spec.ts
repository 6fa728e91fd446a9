import { api, type ApiResponse, type TestServer } from '../support/app.js';
import { e2eFixture } from '../support/fixture.js';
import type { RedisServer } from '../support/redis-server.js';

/** Several instances on one Redis behave as one server, and nothing is lost when they restart. */

const RETENTION = 20;

type Client = ReturnType<typeof api>;

function expectError(res: ApiResponse, status: number, detail: unknown = expect.any(String)): void {
  expect({ status: res.status, body: res.body }).toEqual({ status, body: { detail } });
}

describe('REST on a shared Redis', () => {
  const fixture = e2eFixture();
  let redis: RedisServer;
  let a: TestServer;
  let b: TestServer;
  let ca: Client;
  let cb: Client;

  const start = (redisUrl: string) =>
    fixture.startServer({ REDIS_URL: redisUrl, RATE_LIMIT_LIMIT: '1000000', MESSAGE_RETENTION: String(RETENTION) });

  beforeAll(async () => {
    redis = await fixture.startRedis();
    a = await start(redis.url);
    b = await start(redis.url);
    ca = api(a.baseUrl);
    cb = api(b.baseUrl);
  }, 60_000);

  async function ok(res: Promise<ApiResponse>) {
    const r = await res;
    expect(r.status).toBe(200);
    return r.body;
  }

  describe('two instances on one Redis', () => {
    it('serves rooms, users and messages created on one instance from the other', async () => {
      const room = await ok(ca.post('/rooms', { name: 'Shared' }));
      const user = await ok(cb.post('/users', { username: 'shared_user' }));
      const message = await ok(ca.post(`/rooms/${room.id}/messages`, { content: 'across', user_id: user.id }));
      expect(await ok(cb.get(`/rooms/${room.id}`))).toEqual(room);
      expect(await ok(ca.get(`/users/${user.id}`))).toEqual(user);
      expect(await ok(cb.get(`/rooms/${room.id}/messages`))).toEqual([message]);
      expect(await ok(ca.get('/rooms?limit=1000'))).toEqual(await ok(cb.get('/rooms?limit=1000')));
      expect(await ok(ca.get('/users?limit=1000'))).toEqual(await ok(cb.get('/users?limit=1000')));
    });

    it('orders messages sent through both instances in one sequence', async () => {
      const room = await ok(ca.post('/rooms', { name: 'Alternating' }));
      const user = await ok(ca.post('/users', { username: 'alternating' }));
      const sent = [];
      for (let i = 0; i < 10; i++) {
        const c = i % 2 === 0 ? ca : cb;
        sent.push(await ok(c.post(`/rooms/${room.id}/messages`, { content: `m${i}`, user_id: user.id })));
      }
      const ids = sent.map((m) => m.id);
      expect([...ids].sort()).toEqual(ids);
      expect(new Set(ids).size).toBe(10);
      expect(await ok(ca.get(`/rooms/${room.id}/messages`))).toEqual(sent);
      expect(await ok(cb.get(`/rooms/${room.id}/messages`))).toEqual(sent);
      expect(await ok(cb.get(`/rooms/${room.id}/messages?after=${ids[4]}&limit=3`))).toEqual(sent.slice(5, 8));
    });

    it('stores concurrent sends through both instances exactly once each, in one order', async () => {
      const room = await ok(ca.post('/rooms', { name: 'Concurrent' }));
      const user = await ok(ca.post('/users', { username: 'concurrent' }));
      const sent = await Promise.all(
        Array.from({ length: 16 }, (_, i) =>
          ok((i % 2 === 0 ? ca : cb).post(`/rooms/${room.id}/messages`, { content: `c${i}`, user_id: user.id })),
        ),
      );
      const page = (await ok(cb.get(`/rooms/${room.id}/messages`))) as { id: string; content: string }[];
      expect(page).toHaveLength(16);
      expect(page.map((m) => m.id)).toEqual([...sent.map((m) => m.id)].sort());
      expect(new Set(page.map((m) => m.content)).size).toBe(16);
    });

    it('answers a client_msg_id repeated through the other instance with the original message', async () => {
      const room = await ok(ca.post('/rooms', { name: 'Idempotent' }));
      const user = await ok(ca.post('/users', { username: 'idempotent' }));
      const body = { content: 'once', user_id: user.id, client_msg_id: 'retry-1' };
      const first = await ok(ca.post(`/rooms/${room.id}/messages`, body));
      const again = await ok(cb.post(`/rooms/${room.id}/messages`, body));
      expect(again).toEqual(first);
      expect(await ok(cb.get(`/rooms/${room.id}/messages`))).toEqual([first]);
    });

    it('answers 409 on one instance for a username taken on the other', async () => {
      await ok(ca.post('/users', { username: 'FirstComer' }));
      expectError(await cb.post('/users', { username: 'firstcomer' }), 409, 'Username already taken');
      expectError(await cb.post('/users', { username: 'FIRSTCOMER' }), 409, 'Username already taken');
    });

    it('lets exactly one of concurrent creates in differing case win across instances', async () => {
      for (let round = 0; round < 8; round++) {
        const name = `Racer_${round}`;
        const results = await Promise.all([
          ca.post('/users', { username: name.toLowerCase() }),
          cb.post('/users', { username: name.toUpperCase() }),
        ]);
        expect(results.map((r) => r.status).sort()).toEqual([200, 409]);
        expectError(results.find((r) => r.status === 409)!, 409, 'Username already taken');
        const all = (await ok(ca.get('/users?limit=1000'))) as { username: string }[];
        expect(all.filter((u) => u.username.toLowerCase() === name.toLowerCase())).toHaveLength(1);
      }
    });

    it(`keeps exactly the newest MESSAGE_RETENTION (${RETENTION}) messages of a room`, async () => {
      const room = await ok(ca.post('/rooms', { name: 'Retention' }));
      const user = await ok(ca.post('/users', { username: 'retention' }));
      const sent = [];
      for (let i = 0; i < RETENTION + 5; i++) {
        const c = i % 2 === 0 ? ca : cb;
        sent.push(await ok(c.post(`/rooms/${room.id}/messages`, { content: `r${i}`, user_id: user.id })));
      }
      const kept = sent.slice(5);
      expect(await ok(ca.get(`/rooms/${room.id}/messages?limit=200`))).toEqual(kept);
      expect(await ok(cb.get(`/rooms/${room.id}/messages?limit=200&before=${kept[0].id}`))).toEqual([]);
      expect(await ok(cb.get(`/rooms/${room.id}/messages?limit=3&after=${sent[2].id}`))).toEqual(kept.slice(0, 1));
    });
  });

  describe('persistence', () => {
    it('keeps rooms, users and messages when every server restarts', async () => {
      const room = await ok(ca.post('/rooms', { name: 'Durable 👋' }));
      const user = await ok(cb.post('/users', { username: 'Durable_User' }));
      const sent = [];
      for (let i = 0; i < 3; i++) {
        sent.push(await ok(ca.post(`/rooms/${room.id}/messages`, { content: `kept ${i} 😀`, user_id: user.id })));
      }
      const rooms = await ok(ca.get('/rooms?limit=1000'));
      const users = await ok(ca.get('/users?limit=1000'));

      expect(await a.stop()).toBe(0);
      expect(await b.stop()).toBe(0);
      const restarted = await start(redis.url);
      const c = api(restarted.baseUrl);

      expect(await ok(c.get('/rooms?limit=1000'))).toEqual(rooms);
      expect(await ok(c.get('/users?limit=1000'))).toEqual(users);
      expect(await ok(c.get(`/rooms/${room.id}`))).toEqual(room);
      expect(await ok(c.get(`/users/${user.id}`))).toEqual(user);
      expect(await ok(c.get(`/rooms/${room.id}/messages`))).toEqual(sent);
      expectError(await c.post('/users', { username: 'durable_user' }), 409, 'Username already taken');

      const next = await ok(c.post(`/rooms/${room.id}/messages`, { content: 'after restart', user_id: user.id }));
      expect(next.id > sent[2].id).toBe(true);
      expect(await ok(c.get(`/rooms/${room.id}/messages`))).toEqual([...sent, next]);
    });
  });
});
