import { api, type TestServer } from '../support/app.js';
import { e2eFixture } from '../support/fixture.js';

describe('smoke', () => {
  const fixture = e2eFixture();
  let t: TestServer;

  beforeAll(async () => {
    const redis = await fixture.startRedis();
    t = await fixture.startServer({ REDIS_URL: redis.url });
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
