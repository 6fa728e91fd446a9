import { api, startServer, type TestServer } from '../support/app.js';
import { type RedisServer, startRedis } from '../support/redis-server.js';

describe('smoke', () => {
  let redis: RedisServer;
  let t: TestServer;

  beforeAll(async () => {
    redis = await startRedis();
    t = await startServer({ REDIS_URL: redis.url });
  });

  afterAll(async () => {
    await t?.stop();
    await redis?.stop();
  });

  it('creates a room on Redis and reads it back', async () => {
    const client = api(t.baseUrl);
    const created = await client.post('/rooms', { name: ' General ' });
    expect(created.status).toBe(200);
    expect(created.body.name).toBe('General');
    const got = await client.get(`/rooms/${created.body.id}`);
    expect(got.status).toBe(200);
    expect(got.body).toEqual(created.body);
  });
});
