import type { ApiResponse, TestServer } from '../support/app.js';
import { e2eFixture } from '../support/fixture.js';
import type { RedisServer } from '../support/redis-server.js';
import {
  chatRest,
  closeAllSockets,
  connectWs,
  expectUpgradeRefused,
  type Frame,
  roomWsUrl,
  type TestSocket,
} from '../support/ws-client.js';

/**
 * SPEC §5: three server processes sharing one Redis behave as one server. Messages
 * sent through any instance reach every subscriber on every instance exactly once
 * and in one order; presence, username uniqueness and the per-IP rate limit are
 * global; a client recovers with `?since=` on another instance than it left.
 */

const SERVER_ENV = { RATE_LIMIT_LIMIT: '100000', WS_RATE_LIMIT: '10000' };
const RATE_LIMIT = 6;

const fixture = e2eFixture();
let redis: RedisServer;
let limitedRedis: RedisServer;
const trio: TestServer[] = [];
const limited: TestServer[] = [];

beforeAll(async () => {
  redis = await fixture.startRedis();
  limitedRedis = await fixture.startRedis();
  for (let i = 0; i < 3; i++) trio.push(await fixture.startServer({ ...SERVER_ENV, REDIS_URL: redis.url }));
  // A separate Redis for the small budget, so the other tests' traffic does not spend it.
  const limitedEnv = { REDIS_URL: limitedRedis.url, RATE_LIMIT_LIMIT: String(RATE_LIMIT), RATE_LIMIT_TTL: '60' };
  for (let i = 0; i < 3; i++) limited.push(await fixture.startServer(limitedEnv));
}, 90_000);

afterEach(async () => {
  await closeAllSockets();
});

const isMessage = (f: Frame) => typeof f.id === 'string' && ['text', 'image', 'file'].includes(f.type);
const isSystem = (event: string, userId: string) => (f: Frame) =>
  f.type === 'system' && f.event === event && f.user_id === userId;

/** Opens a socket and reads its history frame. */
async function join(server: TestServer, roomId: string, userId: string, since?: string): Promise<TestSocket> {
  const socket = await connectWs(roomWsUrl(server.wsUrl, roomId, userId, since));
  expect((await socket.next()).type).toBe('history');
  return socket;
}

describe('three instances sharing one Redis', () => {
  describe('message fan-out', () => {
    it('delivers every message, sent over REST or a socket through any instance, to every subscriber on every instance once, in the GET order', async () => {
      const rest = chatRest(trio[0].baseUrl);
      const room = await rest.room('Fan-out');
      const watchers: TestSocket[] = [];
      for (let i = 0; i < 6; i++) {
        const user = await rest.user(`w${i}`);
        watchers.push(await join(trio[i % 3], room.id, user.id));
      }
      const senders = await Promise.all(
        trio.map(async (server, i) => {
          const user = await rest.user(`s${i}`);
          return { user, socket: await join(server, room.id, user.id), rest: chatRest(server.baseUrl) };
        }),
      );
      const PER_SENDER = 12;

      await Promise.all(
        senders.flatMap(({ user, socket, rest: viaRest }, s) => [
          (async () => {
            for (let i = 0; i < PER_SENDER; i++) {
              await socket.send({ type: 'text', content: `ws${s}-${i}`, user_id: user.id });
            }
          })(),
          (async () => {
            for (let i = 0; i < PER_SENDER; i++) await viaRest.post(room.id, { content: `rest${s}-${i}`, user_id: user.id });
          })(),
        ]),
      );

      const total = senders.length * PER_SENDER * 2;
      const stored = await rest.messages(room.id);
      expect(stored).toHaveLength(total);
      for (const server of trio.slice(1)) expect(await chatRest(server.baseUrl).messages(room.id)).toEqual(stored);
      const lastId = stored[stored.length - 1].id;
      const everyone = [...watchers, ...senders.map((s) => s.socket)];
      for (const socket of everyone) await socket.received((f) => f.id === lastId, 5000, `the last message ${lastId}`);
      // Late duplicates would arrive after the last message: give them a moment.
      await new Promise((r) => setTimeout(r, 300));
      for (const socket of everyone) expect(socket.frames.filter(isMessage)).toEqual(stored);
    });

    it('broadcasts a REST message sent through one instance to sockets on the two others', async () => {
      const [a, b, c] = trio;
      const room = await chatRest(a.baseUrl).room('Cross');
      const user = await chatRest(b.baseUrl).user('x');
      const onB = await join(b, room.id, user.id);
      const onC = await join(c, room.id, user.id);

      const sent = await chatRest(a.baseUrl).post(room.id, { content: 'from A', user_id: user.id, type: 'image' });

      expect(await onB.nextOfType('image')).toEqual(sent);
      expect(await onC.nextOfType('image')).toEqual(sent);
      await onB.expectNoFrame(200);
      await onC.expectNoFrame(0);
    });
  });

  describe('presence', () => {
    it('announces a user once however many instances their tabs are on, and the leave when the last tab anywhere closes', async () => {
      const rest = chatRest(trio[0].baseUrl);
      const room = await rest.room('Presence');
      const watcherUsers = [await rest.user('wa'), await rest.user('wb'), await rest.user('wc')];
      const roamer = await rest.user('ro');
      const watchers: TestSocket[] = [];
      for (let i = 0; i < 3; i++) {
        const socket = await join(trio[i], room.id, watcherUsers[i].id);
        // The watchers' own joins are not what this test is about.
        socket.ignore((f) => f.type === 'system' && f.event === 'join' && watcherUsers.some((u) => u.id === f.user_id));
        watchers.push(socket);
      }
      // Let the watchers' joins settle before the roamer arrives.
      await watchers[0].received(isSystem('join', watcherUsers[2].id));
      await watchers[1].received(isSystem('join', watcherUsers[2].id));

      const tabs = [await join(trio[0], room.id, roamer.id)];
      for (const w of watchers) {
        expect(await w.next()).toEqual({
          type: 'system',
          event: 'join',
          user_id: roamer.id,
          content: `User ${roamer.id} joined the chat`,
          timestamp: expect.any(String),
        });
      }
      tabs.push(await join(trio[1], room.id, roamer.id));
      tabs.push(await join(trio[2], room.id, roamer.id));
      await watchers[0].expectNoFrame(400);
      for (const w of watchers.slice(1)) await w.expectNoFrame(0);

      await tabs[0].close();
      await tabs[1].close();
      await watchers[0].expectNoFrame(400);
      for (const w of watchers.slice(1)) await w.expectNoFrame(0);

      await tabs[2].close();
      for (const w of watchers) {
        expect(await w.next()).toEqual({
          type: 'system',
          event: 'leave',
          user_id: roamer.id,
          content: `User ${roamer.id} left the chat`,
          timestamp: expect.any(String),
        });
      }
      await watchers[0].expectNoFrame(300);
      for (const w of watchers.slice(1)) await w.expectNoFrame(0);
    });
  });

  describe('POST /api/v1/users', () => {
    it('answers 200 to exactly one of concurrent creates of one username (any case) on different instances, 409 to the rest', async () => {
      const clients = trio.map((s) => chatRest(s.baseUrl).client);
      for (let round = 0; round < 5; round++) {
        const base = `Dup${round}_${process.pid}_${Date.now().toString(36)}`.slice(0, 28);
        const variants = [base, base.toLowerCase(), base.toUpperCase()];
        const answers = await Promise.all(
          Array.from({ length: 9 }, (_, i) => clients[i % 3].post('/users', { username: variants[Math.floor(i / 3)] })),
        );

        const ok = answers.filter((r) => r.status === 200);
        expect(ok).toHaveLength(1);
        const refused = answers.filter((r) => r.status !== 200);
        expect(refused.map((r) => ({ status: r.status, body: r.body }))).toEqual(
          Array(8).fill({ status: 409, body: { detail: 'Username already taken' } }),
        );
        const listed = (await clients[round % 3].get('/users?limit=1000')).body as Frame[];
        expect(listed.filter((u) => String(u.username).toLowerCase() === base.toLowerCase())).toEqual([ok[0].body]);
      }
    });
  });

  describe('rate limiting', () => {
    it('spends one per-IP budget across instances: requests spread over three get 429 once the total passes the limit', async () => {
      const clients = limited.map((s) => chatRest(s.baseUrl).client);
      const answers: ApiResponse[] = [];
      for (let i = 0; i < RATE_LIMIT + 3; i++) answers.push(await clients[i % 3].get('/rooms'));

      expect(answers.map((r) => r.status)).toEqual([...Array(RATE_LIMIT).fill(200), 429, 429, 429]);
      expect(answers.slice(0, RATE_LIMIT).map((r) => Number(r.headers.get('x-ratelimit-remaining')))).toEqual(
        Array.from({ length: RATE_LIMIT }, (_, i) => RATE_LIMIT - 1 - i),
      );
      for (const r of answers.slice(RATE_LIMIT)) {
        expect(r.body).toEqual({ detail: 'Too Many Requests' });
        expect(Number(r.headers.get('retry-after'))).toBeGreaterThan(0);
      }
      // The WebSocket upgrade counts against the same budget, on whichever instance.
      const refused = await expectUpgradeRefused(roomWsUrl(limited[2].wsUrl, 'any-room', 'any-user'));
      expect(refused.status).toBe(429);
      expect(refused.json).toEqual({ detail: 'Too Many Requests' });
    });
  });

  describe('recovery with ?since=', () => {
    it('gives a client that left instance A exactly the messages sent meanwhile through B when it comes back on C, recovered', async () => {
      const [a, b, c] = trio;
      const rest = chatRest(b.baseUrl);
      const room = await rest.room('Recovery');
      const reader = await rest.user('reader');
      const author = await rest.user('author');
      const onA = await join(a, room.id, reader.id);
      const seen = [];
      for (let i = 0; i < 3; i++) seen.push(await rest.post(room.id, { content: `before ${i}`, user_id: author.id }));
      for (const m of seen) expect(await onA.nextOfType('text')).toEqual(m);
      const lastSeen = seen[seen.length - 1].id as string;
      await onA.close();

      const authorOnB = await join(b, room.id, author.id);
      const missed = [];
      for (let i = 0; i < 5; i++) {
        if (i % 2 === 0) {
          missed.push(await rest.post(room.id, { content: `while away ${i}`, user_id: author.id }));
        } else {
          await authorOnB.send({ type: 'text', content: `while away ${i}` });
          missed.push(await authorOnB.waitFor((f) => f.content === `while away ${i}`));
        }
      }

      const socket = await connectWs(roomWsUrl(c.wsUrl, room.id, reader.id, lastSeen));
      expect(await socket.next()).toEqual({ type: 'history', messages: missed, recovered: true });
      const after = await chatRest(a.baseUrl).post(room.id, { content: 'after', user_id: author.id });
      expect(await socket.nextOfType('text')).toEqual(after);
      await socket.expectNoFrame(200);
      expect(await rest.messages(room.id)).toEqual([...seen, ...missed, after]);
    });

    it('answers a client that missed nothing with an empty recovered history on another instance', async () => {
      const [a, , c] = trio;
      const rest = chatRest(a.baseUrl);
      const room = await rest.room('Nothing missed');
      const user = await rest.user('n');
      const last = await rest.post(room.id, { content: 'only', user_id: user.id });

      const socket = await connectWs(roomWsUrl(c.wsUrl, room.id, user.id, last.id as string));

      expect(await socket.next()).toEqual({ type: 'history', messages: [], recovered: true });
    });
  });
});
