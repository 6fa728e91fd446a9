import type { ApiResponse, TestServer } from '../support/app.js';
import { e2eFixture } from '../support/fixture.js';
import { redisCli } from '../support/redis-cluster.js';
import type { RedisServer } from '../support/redis-server.js';
import {
  chatRest,
  closeAllSockets,
  connectWs,
  expectUpgradeRefused,
  type Frame,
  keysOf,
  roomWsUrl,
  type TestSocket,
} from '../support/ws-client.js';

/**
 * SPEC §5 "Redis outage: the server stays up, answers 503 / error frames fast,
 * reconnects by itself, and loses no acknowledged message", and the hub's gap fill:
 * messages published while an instance's subscriber was away reach its sockets
 * from storage, once each and in order.
 */

const SERVER_ENV = { RATE_LIMIT_LIMIT: '100000', WS_RATE_LIMIT: '10000' };
/** SPEC §2: 503 "answered within 2 seconds, never a hang". */
const FAST_MS = 2000;
/** How long Redis stays down at least. */
const OUTAGE_MS = 4000;

// 'a Redis outage' shares the sockets of its beforeAll between its tests: the fixture closes them at the end.
const fixture = e2eFixture();
let redis: RedisServer;
let gapRedis: RedisServer;
let server: TestServer;
let gapA: TestServer;
let gapB: TestServer;

beforeAll(async () => {
  redis = await fixture.startRedis();
  gapRedis = await fixture.startRedis();
  server = await fixture.startServer({ ...SERVER_ENV, REDIS_URL: redis.url });
  gapA = await fixture.startServer({ ...SERVER_ENV, REDIS_URL: gapRedis.url });
  gapB = await fixture.startServer({ ...SERVER_ENV, REDIS_URL: gapRedis.url });
}, 90_000);

const isMessage = (f: Frame) => typeof f.id === 'string' && ['text', 'image', 'file'].includes(f.type);

/** Runs a request and resolves with its answer and how long it took. */
async function timed(request: () => Promise<ApiResponse>): Promise<{ res: ApiResponse; ms: number }> {
  const start = Date.now();
  const res = await request();
  return { res, ms: Date.now() - start };
}

async function join(target: TestServer, roomId: string, userId: string): Promise<TestSocket> {
  const socket = await connectWs(roomWsUrl(target.wsUrl, roomId, userId));
  expect((await socket.next()).type).toBe('history');
  return socket;
}

describe('a Redis outage', () => {
  const rest = () => chatRest(server.baseUrl);
  let room: { id: string };
  let user: { id: string };
  let survivor: TestSocket;
  /** Every message acknowledged before the outage (a 200, or a broadcast of a socket send). */
  const acknowledged: Frame[] = [];
  const refusedContents: string[] = [];
  let killedAt = 0;
  const refusedRoomName = `refused room ${process.pid}`;
  const refusedUsername = `refused_${process.pid}_${Date.now().toString(36)}`.slice(0, 32);

  beforeAll(async () => {
    room = await rest().room('Outage');
    user = await rest().user('o');
    survivor = await join(server, room.id, user.id);
    for (let i = 0; i < 3; i++) acknowledged.push(await rest().post(room.id, { content: `rest before ${i}`, user_id: user.id }));
    await survivor.send({ type: 'text', content: 'socket before' });
    for (const m of acknowledged) expect(await survivor.nextOfType('text')).toEqual(m);
    acknowledged.push(await survivor.waitFor((f) => f.content === 'socket before'));
    // The last acknowledgement comes just before Redis dies: it must survive the SIGKILL.
    const last = await rest().post(room.id, { content: 'rest just before', user_id: user.id });
    acknowledged.push(last);
    expect(await survivor.nextOfType('text')).toEqual(last);
    await redis.kill();
    killedAt = Date.now();
  }, 30_000);

  describe('while Redis is down', () => {
    it('answers REST writes with 503 {"detail"} within 2 seconds', async () => {
      const client = rest().client;
      const writes: [string, () => Promise<ApiResponse>][] = [
        ['POST /rooms', () => client.post('/rooms', { name: refusedRoomName })],
        ['POST /users', () => client.post('/users', { username: refusedUsername })],
        ['POST /messages', () => {
          refusedContents.push('rest during outage');
          return client.post(`/rooms/${room.id}/messages`, { content: 'rest during outage', user_id: user.id });
        }],
      ];
      for (const [what, write] of writes) {
        const { res, ms } = await timed(write);
        expect({ what, status: res.status }).toEqual({ what, status: 503 });
        expect(keysOf(res.body as object)).toEqual(['detail']);
        expect(typeof res.body.detail).toBe('string');
        expect(res.body.detail.length).toBeGreaterThan(0);
        expect(ms).toBeLessThan(FAST_MS);
      }
    });

    it('answers GET /health/ready with 503 and GET /health with 200', async () => {
      const ready = await timed(() => fetch(`${server.baseUrl}/health/ready`).then(toResponse));
      expect(ready.res.status).toBe(503);
      expect(keysOf(ready.res.body as object)).toEqual(['detail']);
      expect(ready.ms).toBeLessThan(FAST_MS);
      const live = await fetch(`${server.baseUrl}/health`);
      expect(live.status).toBe(200);
      expect(await live.json()).toEqual({ status: 'ok' });
    });

    it('answers a socket send with an error frame and keeps the socket open', async () => {
      const start = Date.now();
      refusedContents.push('socket during outage');
      await survivor.send({ type: 'text', content: 'socket during outage' });
      const frame = await survivor.next(FAST_MS);
      expect(Date.now() - start).toBeLessThan(FAST_MS);
      expect(keysOf(frame)).toEqual(['detail', 'type']);
      expect(frame.type).toBe('error');
      expect(typeof frame.detail).toBe('string');
      expect(frame.detail.length).toBeGreaterThan(0);
      await survivor.expectNoFrame(300);
      expect(survivor.isOpen).toBe(true);
    });

    it('refuses a new socket fast: 503 at the upgrade, as docs/websocket-protocol.md documents', async () => {
      const start = Date.now();
      const refused = await expectUpgradeRefused(roomWsUrl(server.wsUrl, room.id, user.id));
      expect(Date.now() - start).toBeLessThan(FAST_MS);
      expect(refused.status).toBe(503);
      expect(refused.json).toEqual({ detail: expect.any(String) });
    });
  });

  describe('after Redis is back', () => {
    let readyAfterMs = 0;

    beforeAll(async () => {
      // A few seconds down, so that the clients' reconnect backoff has grown.
      await new Promise((r) => setTimeout(r, Math.max(0, OUTAGE_MS - (Date.now() - killedAt))));
      await redis.restart();
      const start = Date.now();
      while (Date.now() - start < 20_000) {
        const res = await fetch(`${server.baseUrl}/health/ready`);
        if (res.status === 200) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      readyAfterMs = Date.now() - start;
    }, 30_000);

    it('is ready again within 10 seconds, without a restart of the server', async () => {
      expect(readyAfterMs).toBeLessThan(10_000);
      const res = await fetch(`${server.baseUrl}/health/ready`);
      expect(res.status).toBe(200);
    });

    it('keeps every message acknowledged before the outage and stores none of those it refused', async () => {
      const stored = await rest().messages(room.id);
      expect(stored).toEqual(acknowledged);
      for (const content of refusedContents) expect(stored.some((m) => m.content === content)).toBe(false);
      expect(refusedContents).toHaveLength(2);
      const rooms = (await rest().client.get('/rooms?limit=1000')).body as Frame[];
      expect(rooms.some((r) => r.name === refusedRoomName)).toBe(false);
      const users = (await rest().client.get('/users?limit=1000')).body as Frame[];
      expect(users.some((u) => u.username === refusedUsername)).toBe(false);
    });

    it('serves REST writes and socket sends again, and the socket that stayed open receives them', async () => {
      const r = await rest().client.post('/rooms', { name: 'After outage' });
      expect(r.status).toBe(200);
      const u = await rest().client.post('/users', { username: refusedUsername });
      expect(u.status).toBe(200);

      const viaRest = await rest().post(room.id, { content: 'rest after', user_id: user.id });
      expect(await survivor.nextOfType('text', 5000)).toEqual(viaRest);
      await survivor.send({ type: 'text', content: 'socket after' });
      const viaSocket = await survivor.nextOfType('text', 5000);
      expect(viaSocket).toMatchObject({ content: 'socket after', user_id: user.id });
      expect(survivor.isOpen).toBe(true);

      const fresh = await connectWs(roomWsUrl(server.wsUrl, room.id, (await rest().user('f')).id));
      expect(await fresh.next()).toEqual({ type: 'history', messages: [...acknowledged, viaRest, viaSocket] });
      expect(await rest().messages(room.id)).toEqual([...acknowledged, viaRest, viaSocket]);
    });
  });
});

async function toResponse(res: Response): Promise<ApiResponse> {
  const text = await res.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = text;
  }
  return { status: res.status, body, text, headers: res.headers };
}

describe('a Redis that hangs instead of refusing connections (SIGSTOP)', () => {
  let stopped = false;
  const resume = () => {
    if (stopped) process.kill(redis.pid, 'SIGCONT');
    stopped = false;
  };

  afterEach(async () => {
    resume();
    await closeAllSockets();
  });

  it('still answers 503 and error frames within 2 seconds, and serves again once Redis resumes', async () => {
    const rest = chatRest(server.baseUrl);
    const room = await rest.room('Hang');
    const user = await rest.user('hang');
    const socket = await join(server, room.id, user.id);
    // The echo proves the connect finished (presence counted): what fails below is the send.
    await socket.send({ type: 'text', content: 'before the hang' });
    await socket.nextOfType('text');

    process.kill(redis.pid, 'SIGSTOP');
    stopped = true;
    const start = Date.now();
    const [write, ready, frame] = await Promise.all([
      rest.client.post(`/rooms/${room.id}/messages`, { content: 'while hung', user_id: user.id }),
      fetch(`${server.baseUrl}/health/ready`).then(toResponse),
      socket.send({ type: 'text', content: 'while hung' }).then(() => socket.next(FAST_MS + 1000)),
    ]);
    const took = Date.now() - start;
    resume();

    expect(write.status).toBe(503);
    expect(keysOf(write.body as object)).toEqual(['detail']);
    expect(ready.status).toBe(503);
    expect(frame).toEqual({ type: 'error', detail: expect.any(String) });
    expect(took).toBeLessThan(FAST_MS);
    await new Promise((r) => setTimeout(r, 300));
    expect(socket.isOpen).toBe(true);

    // Back: a new message goes through and reaches the socket that stayed open.
    const deadline = Date.now() + 10_000;
    while ((await fetch(`${server.baseUrl}/health/ready`)).status !== 200 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
    }
    const after = await rest.post(room.id, { content: 'after the hang', user_id: user.id });
    expect(await socket.waitFor((f) => f.id === after.id, 5000)).toEqual(after);
  });
});

describe('messages published while an instance\'s subscriber was disconnected', () => {
  /** Drops every pub/sub connection on the gap Redis (both instances' subscribers); resolves with how many. */
  const killSubscribers = () => Number(redisCli(gapRedis.port, 'CLIENT', 'KILL', 'TYPE', 'pubsub'));

  afterEach(async () => {
    await closeAllSockets();
  });

  /**
   * Sends `n` messages through instance B right away: the first few at once (so some surely
   * land while the subscriber is away), the rest one after the other. Resolves with the
   * room's messages from the first of them on, in stored order.
   */
  async function burstThroughB(roomId: string, userId: string, n: number): Promise<Frame[]> {
    const viaB = chatRest(gapB.baseUrl);
    const sent = await Promise.all(
      Array.from({ length: 5 }, (_, i) => viaB.post(roomId, { content: `burst ${i}`, user_id: userId })),
    );
    for (let i = 5; i < n; i++) sent.push(await viaB.post(roomId, { content: `burst ${i}`, user_id: userId }));
    const stored = await viaB.messages(roomId);
    const firstId = sent.map((m) => m.id as string).sort()[0];
    const fromFirst = stored.filter((m) => m.id >= firstId);
    expect(fromFirst.map((m) => m.id).sort()).toEqual(sent.map((m) => m.id).sort());
    return fromFirst;
  }

  async function expectShownOnceInOrder(socket: TestSocket, expected: Frame[]): Promise<void> {
    const lastId = expected[expected.length - 1].id;
    const seen = socket.frames.filter(isMessage);
    if (!seen.some((m) => m.id === lastId)) {
      await socket.received((f) => f.id === lastId, 5000, `the last message ${lastId}`).catch(() => undefined);
    }
    // Late duplicates would come after the last one: give them a moment.
    await new Promise((r) => setTimeout(r, 300));
    expect(socket.frames.filter(isMessage).map((m) => m.content)).toEqual(expected.map((m) => m.content));
    expect(socket.frames.filter(isMessage)).toEqual(expected);
    expect(socket.isOpen).toBe(true);
  }

  it('are filled from storage into a room that had live messages before: every one once, in order', async () => {
    const rest = chatRest(gapA.baseUrl);
    const room = await rest.room('Gap');
    const user = await rest.user('g');
    const socket = await join(gapA, room.id, user.id);
    const first = await chatRest(gapB.baseUrl).post(room.id, { content: 'before the drop', user_id: user.id });
    expect(await socket.nextOfType('text')).toEqual(first);

    const logged = gapA.output().length;
    expect(killSubscribers()).toBeGreaterThanOrEqual(1);
    const burst = await burstThroughB(room.id, user.id, 30);

    await expectShownOnceInOrder(socket, [first, ...burst]);
    // The drop did lose notices (so this exercised the fill, not a lucky fast reconnect).
    expect(gapA.output().slice(logged)).toMatch(/recovered [1-9]\d* message\(s\) missed by pub\/sub/);
    expect(await rest.messages(room.id)).toEqual([first, ...burst]);
  });

  it('are filled from storage into a room that had no live message since its history frame', async () => {
    const rest = chatRest(gapA.baseUrl);
    const room = await rest.room('Gap after history');
    const user = await rest.user('h');
    const earlier = [
      await rest.post(room.id, { content: 'old 1', user_id: user.id }),
      await rest.post(room.id, { content: 'old 2', user_id: user.id }),
    ];
    const socket = await connectWs(roomWsUrl(gapA.wsUrl, room.id, user.id));
    expect(await socket.next()).toEqual({ type: 'history', messages: earlier });

    expect(killSubscribers()).toBeGreaterThanOrEqual(1);
    const burst = await burstThroughB(room.id, user.id, 30);

    await expectShownOnceInOrder(socket, burst);
    expect(await rest.messages(room.id)).toEqual([...earlier, ...burst]);
  });
});
