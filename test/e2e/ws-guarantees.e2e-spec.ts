import type { TestServer } from '../support/app.js';
import { e2eFixture } from '../support/fixture.js';
import {
  chatRest,
  closeAllSockets,
  connectWs,
  type Frame,
  roomWsUrl,
  type TestSocket,
} from '../support/ws-client.js';

/**
 * The delivery guarantees of SPEC §3: one order for every connection, equal to
 * GET /messages; nothing lost or duplicated between the history frame and the live
 * stream while others send during the connect; broadcast only after storing. On the
 * memory store, on Redis, and on two server processes sharing one Redis.
 */

const HISTORY_LIMIT = 50;
const SOCKET_SENDERS = 4;
const REST_SENDERS = 2;
const PER_SENDER = 30;
const TOTAL = (SOCKET_SENDERS + REST_SENDERS) * PER_SENDER; // 180: one GET page holds them all
const SERVER_ENV = {
  HISTORY_LIMIT: String(HISTORY_LIMIT),
  RATE_LIMIT_LIMIT: '100000',
  WS_RATE_LIMIT: '10000',
};

const fixture = e2eFixture();
const servers: Record<'memory' | 'redis' | 'pair', TestServer[]> = { memory: [], redis: [], pair: [] };

beforeAll(async () => {
  const redis = await fixture.startRedis();
  const redisEnv = { ...SERVER_ENV, REDIS_URL: redis.url };
  servers.memory = [await fixture.startServer(SERVER_ENV)];
  servers.redis = [await fixture.startServer(redisEnv)];
  servers.pair = [await fixture.startServer(redisEnv), await fixture.startServer(redisEnv)];
}, 90_000);

afterEach(async () => {
  await closeAllSockets();
});

const isMessage = (f: Frame) => typeof f.id === 'string' && ['text', 'image', 'file'].includes(f.type);

/** Everything a subscriber was shown as messages: its history frame, then the live messages. */
function shown(socket: TestSocket): Frame[] {
  return socket.frames.flatMap((f) => (f.type === 'history' ? (f.messages as Frame[]) : isMessage(f) ? [f] : []));
}

/**
 * Waits until the subscriber has been shown the message with this id, in its history
 * or live. The history frame itself may still be on its way (a socket resolves on open).
 */
async function awaitShown(socket: TestSocket, id: string): Promise<void> {
  const has = (f: Frame) => f.id === id || (f.type === 'history' && (f.messages as Frame[]).some((m) => m.id === id));
  await socket.received(has, 5000, `message ${id}`);
}

/** Counts sends as they complete, so that subscribers can connect at chosen points of the run. */
class Progress {
  private count = 0;
  private waiters: { at: number; resolve: () => void }[] = [];

  tick(): void {
    this.count++;
    this.waiters = this.waiters.filter((w) => (w.at <= this.count ? (w.resolve(), false) : true));
  }

  reached(at: number): Promise<void> {
    if (at <= this.count) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ at, resolve }));
  }
}

describe('WebSocket /api/v1/ws/{room_id}/{user_id}', () => {
  describe.each([
    ['one server on the memory store', () => servers.memory],
    ['one server on Redis', () => servers.redis],
    ['two servers sharing one Redis', () => servers.pair],
  ])('delivery guarantees with %s', (_name, pick) => {
    /** Senders over sockets and REST, spread over the servers; resolves with every sent content. */
    async function sendFromEveryone(
      roomId: string,
      progress: Progress,
    ): Promise<{ contents: string[]; senders: TestSocket[] }> {
      const list = pick();
      const rest = chatRest(list[0].baseUrl);
      const contents: string[] = [];
      const socketSenders = await Promise.all(
        Array.from({ length: SOCKET_SENDERS }, async (_, i) => {
          const user = await rest.user(`ws${i}`);
          const socket = await connectWs(roomWsUrl(list[i % list.length].wsUrl, roomId, user.id));
          expect((await socket.next()).type).toBe('history');
          return { socket, user };
        }),
      );
      const restSenders = await Promise.all(
        Array.from({ length: REST_SENDERS }, async (_, i) => ({
          rest: chatRest(list[(i + 1) % list.length].baseUrl),
          user: await rest.user(`rest${i}`),
        })),
      );
      const runs = [
        ...socketSenders.map(async ({ socket, user }, s) => {
          for (let i = 0; i < PER_SENDER; i++) {
            const content = `ws${s}-${i}`;
            contents.push(content);
            await socket.send({ type: i % 7 === 3 ? 'image' : 'text', content, user_id: user.id });
            progress.tick();
            // Every few frames, wait for the echo, so that sends are spread over the run.
            if (i % 5 === 4) await socket.waitFor((f) => f.content === content, 5000, `the echo of ${content}`);
          }
        }),
        ...restSenders.map(async ({ rest: r, user }, s) => {
          for (let i = 0; i < PER_SENDER; i++) {
            const content = `rest${s}-${i}`;
            contents.push(content);
            await r.post(roomId, { content, user_id: user.id, type: i % 9 === 4 ? 'file' : 'text' });
            progress.tick();
          }
        }),
      ];
      await Promise.all(runs);
      return { contents, senders: socketSenders.map((s) => s.socket) };
    }

    it('shows every connection the same order, the order GET /messages returns', async () => {
      const list = pick();
      const rest = chatRest(list[0].baseUrl);
      const room = await rest.room('Order');
      const watchers: TestSocket[] = [];
      for (let i = 0; i < 4; i++) {
        const user = await rest.user(`w${i}`);
        const socket = await connectWs(roomWsUrl(list[i % list.length].wsUrl, room.id, user.id));
        expect(await socket.next()).toEqual({ type: 'history', messages: [] });
        watchers.push(socket);
      }

      const { contents, senders } = await sendFromEveryone(room.id, new Progress());

      const stored = await rest.messages(room.id);
      expect(stored).toHaveLength(TOTAL);
      expect(stored.map((m) => m.content).sort()).toEqual([...contents].sort());
      for (const other of list.slice(1)) expect(await chatRest(other.baseUrl).messages(room.id)).toEqual(stored);
      const lastId = stored[stored.length - 1].id;
      for (const socket of [...watchers, ...senders]) {
        await awaitShown(socket, lastId);
        const live = socket.frames.filter(isMessage);
        expect(live).toEqual(stored);
      }
    });

    it('loses and duplicates nothing between the history frame and the live stream while others send', async () => {
      const list = pick();
      const rest = chatRest(list[0].baseUrl);
      const room = await rest.room('Connect race');
      const users = await Promise.all(Array.from({ length: 16 }, (_, i) => rest.user(`s${i}`)));
      const progress = new Progress();
      // Two subscribers join at each of these points of the run (on different servers where there are two).
      const stages = [1, 10, 25, 45, 60, 80, 100, 120, 140, 160, 175, TOTAL - 1];
      const subscribers: Promise<TestSocket>[] = [];
      const joining = stages.map(async (at, stage) => {
        await progress.reached(at);
        for (let k = 0; k < 2; k++) {
          const user = users[(stage * 2 + k) % users.length];
          subscribers.push(connectWs(roomWsUrl(list[(stage + k) % list.length].wsUrl, room.id, user.id)));
        }
      });

      await sendFromEveryone(room.id, progress);
      await Promise.all(joining);
      const sockets = await Promise.all(subscribers);

      const stored = await rest.messages(room.id);
      expect(stored).toHaveLength(TOTAL);
      const lastId = stored[stored.length - 1].id;
      for (const socket of sockets) {
        await awaitShown(socket, lastId);
        expect(socket.frames[0].type).toBe('history');
        expect(socket.frames[0].messages.length).toBeLessThanOrEqual(HISTORY_LIMIT);
        expect(socket.frames.slice(1).filter((f) => f.type === 'history')).toEqual([]);
        const seen = shown(socket);
        const ids = seen.map((m) => m.id);
        expect(new Set(ids).size).toBe(ids.length);
        // A contiguous suffix of the stored order, ending at the last message.
        expect(seen).toEqual(stored.slice(stored.length - seen.length));
      }
      // Once everything is stored, a newcomer's history is the last HISTORY_LIMIT, and nothing follows.
      for (const server of list) {
        const late = await connectWs(roomWsUrl(server.wsUrl, room.id, users[0].id));
        expect(await late.next()).toEqual({ type: 'history', messages: stored.slice(-HISTORY_LIMIT) });
        await late.expectNoFrame(100);
      }
    });

    it('broadcasts a message only once it can be read back with GET /messages', async () => {
      const list = pick();
      const room = await chatRest(list[0].baseUrl).room('Stored first');
      const reader = chatRest(list[list.length - 1].baseUrl);
      const user = await reader.user('r');
      const socket = await connectWs(roomWsUrl(list[list.length - 1].wsUrl, room.id, user.id));
      await socket.next();
      const checks: Promise<boolean>[] = [];
      socket.ws.on('message', (data) => {
        const frame = JSON.parse(data.toString()) as Frame;
        if (isMessage(frame)) {
          checks.push(reader.messages(room.id).then((page) => page.some((m) => m.id === frame.id)));
        }
      });
      const poster = chatRest(list[0].baseUrl);
      const author = await poster.user('p');
      const sent = await Promise.all(
        Array.from({ length: 20 }, (_, i) => poster.post(room.id, { content: `m${i}`, user_id: author.id })),
      );
      await socket.waitFor((f) => f.id === sent.map((m) => m.id).sort().at(-1), 5000);
      await socket.expectNoFrame(100);
      expect(checks).toHaveLength(20);
      expect(await Promise.all(checks)).toEqual(Array(20).fill(true));
    });
  });

  describe('across two servers sharing one Redis', () => {
    it('announces a user once however many instances their tabs are on, and the leave only after the last tab anywhere', async () => {
      const [a, b] = servers.pair;
      const rest = chatRest(a.baseUrl);
      const room = await rest.room('Presence');
      const [watcherA, watcherB, roamer] = [await rest.user('wa'), await rest.user('wb'), await rest.user('ro')];
      const onA = await connectWs(roomWsUrl(a.wsUrl, room.id, watcherA.id));
      await onA.next();
      const onB = await connectWs(roomWsUrl(b.wsUrl, room.id, watcherB.id));
      await onB.next();
      // watcherB's own join reaches onA; onB may also hear onA's (tolerated, it is not about roamer).
      expect(await onA.nextOfType('system')).toMatchObject({ event: 'join', user_id: watcherB.id });
      onB.ignore((f) => f.type === 'system' && f.event === 'join' && f.user_id === watcherA.id);

      const tabA = await connectWs(roomWsUrl(a.wsUrl, room.id, roamer.id));
      await tabA.next();
      for (const w of [onA, onB]) expect(await w.next()).toMatchObject({ type: 'system', event: 'join', user_id: roamer.id });
      const tabB = await connectWs(roomWsUrl(b.wsUrl, room.id, roamer.id));
      await tabB.next();
      await onA.expectNoFrame(300);
      await onB.expectNoFrame(0);

      await tabA.close();
      await onA.expectNoFrame(300);
      await onB.expectNoFrame(0);

      await tabB.close();
      for (const w of [onA, onB]) {
        expect(await w.next()).toEqual({
          type: 'system',
          event: 'leave',
          user_id: roamer.id,
          content: `User ${roamer.id} left the chat`,
          timestamp: expect.any(String),
        });
      }
      await onA.expectNoFrame(200);
      await onB.expectNoFrame(0);
    });

    it('broadcasts a message sent over REST to one server to the sockets on the other', async () => {
      const [a, b] = servers.pair;
      const room = await chatRest(a.baseUrl).room('Cross');
      const user = await chatRest(b.baseUrl).user('x');
      const socket = await connectWs(roomWsUrl(b.wsUrl, room.id, user.id));
      await socket.next();
      const sent = await chatRest(a.baseUrl).post(room.id, { content: 'hello from A', user_id: user.id });
      expect(await socket.next()).toEqual(sent);
    });
  });
});
