import { api, runServerExpectingExit, startServer } from '../support/app.js';
import { RawConnection } from '../support/raw-http.js';

/** Configuration is validated at start: a bad value stops the process, naming the variable. */

describe('configuration at start-up', () => {
  it.each([
    ['PORT=abc', { PORT: 'abc' }, 'PORT'],
    ['MESSAGE_MAX_LENGTH=0', { MESSAGE_MAX_LENGTH: '0' }, 'MESSAGE_MAX_LENGTH'],
    ['TRUST_PROXY=*', { TRUST_PROXY: '*' }, 'TRUST_PROXY'],
    ['STORE=redis without a Redis address', { STORE: 'redis' }, 'STORE'],
  ])('refuses to start with %s, naming the variable', async (_what, vars, name) => {
    const { code, output } = await runServerExpectingExit(vars, 25_000);
    expect(code).not.toBe(0);
    expect(code).not.toBeNull();
    expect(output).toContain(name);
    expect(output).not.toMatch(/Listening on/);
  });

  it('refuses to start with NODE_ENV=production without Redis and without STORE=memory, naming the way out', async () => {
    const { code, output } = await runServerExpectingExit({ NODE_ENV: 'production' }, 25_000);
    expect(code).not.toBe(0);
    expect(code).not.toBeNull();
    expect(output).toContain('NODE_ENV');
    expect(output).toContain('REDIS_URL');
    expect(output).toContain('STORE=memory');
  });

  it('starts with NODE_ENV=production STORE=memory and warns that nothing survives a restart', async () => {
    const server = await startServer({ NODE_ENV: 'production', STORE: 'memory' });
    try {
      const client = api(server.baseUrl);
      const created = await client.post('/rooms', { name: 'Production memory' });
      expect(created.status).toBe(200);
      expect((await client.get(`/rooms/${created.body.id}`)).body).toEqual(created.body);
      expect(server.output()).toMatch(/in-memory store/i);
      expect(server.output()).toMatch(/restart/i);
    } finally {
      expect(await server.stop()).toBe(0);
    }
  });

  it('applies MESSAGE_MAX_LENGTH and BODY_LIMIT from the environment', async () => {
    const server = await startServer({ MESSAGE_MAX_LENGTH: '5', BODY_LIMIT: '2048' });
    try {
      const client = api(server.baseUrl);
      const roomId = (await client.post('/rooms', { name: 'Limits' })).body.id;
      const userId = (await client.post('/users', { username: 'limits' })).body.id;
      const path = `/rooms/${roomId}/messages`;
      expect((await client.post(path, { content: '👋'.repeat(5), user_id: userId })).status).toBe(200);
      const tooLong = await client.post(path, { content: '👋'.repeat(6), user_id: userId });
      expect({ status: tooLong.status, body: tooLong.body }).toEqual({
        status: 400,
        body: { detail: expect.stringContaining('content') },
      });
      const big = await client.post('/rooms', { name: 'x', pad: 'p'.repeat(2048) });
      expect({ status: big.status, body: big.body }).toEqual({ status: 413, body: { detail: expect.any(String) } });
    } finally {
      await server.stop();
    }
  });

  it('applies REQUEST_TIMEOUT: a request still arriving after it answers 408 and is closed; idle connections stay', async () => {
    const server = await startServer({ REQUEST_TIMEOUT: '1' });
    const trickling = await RawConnection.open(server.port);
    const idle = await RawConnection.open(server.port);
    try {
      // An idle keep-alive connection is not a request in progress: it outlives the timeout.
      await idle.send('GET', '/health');
      expect((await idle.response()).status).toBe(200);

      trickling.write(
        'POST /api/v1/rooms HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n' +
          'Content-Length: 100\r\n\r\n{"name": ',
      );
      // A byte now and then keeps the socket busy but never completes the body.
      const trickle = setInterval(() => trickling.write(' '), 200);
      let res;
      try {
        res = await trickling.response();
      } finally {
        clearInterval(trickle);
      }
      expect({ status: res.status, body: JSON.parse(res.body) }).toEqual({
        status: 408,
        body: { detail: expect.stringContaining('REQUEST_TIMEOUT') },
      });
      expect(res.headers['x-request-id']).toBeTruthy();
      await trickling.closed;

      await idle.send('GET', '/health');
      expect((await idle.response()).status).toBe(200);
    } finally {
      trickling.destroy();
      idle.destroy();
      await server.stop();
    }
  }, 30_000);
});
