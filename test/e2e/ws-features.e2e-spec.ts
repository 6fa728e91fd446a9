import type { TestServer } from '../support/app.js';
import { e2eFixture } from '../support/fixture.js';
import type { RedisServer } from '../support/redis-server.js';
import {
  chatRest,
  closeAllSockets,
  connectWs,
  type Frame,
  keysOf,
  RFC3339_MS,
  roomWsUrl,
  type TestSocket,
} from '../support/ws-client.js';

/**
 * The additive socket features of SPEC §3: typing, recovery with `?since=`,
 * heartbeat, slow consumers and graceful shutdown.
 */

const HISTORY_LIMIT = 3;
const RETENTION = 5;

const fixture = e2eFixture();
let redis: RedisServer;

beforeAll(async () => {
  redis = await fixture.startRedis();
});

afterEach(async () => {
  await closeAllSockets();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('WebSocket /api/v1/ws/{room_id}/{user_id}', () => {
  describe.each([
    ['memory', () => ({})],
    ['redis', () => ({ REDIS_URL: redis.url })],
  ])('typing and recovery on the %s store', (_store, storeEnv) => {
    let server: TestServer;
    let rest: ReturnType<typeof chatRest>;

    beforeAll(async () => {
      server = await fixture.startServer({
        ...storeEnv(),
        HISTORY_LIMIT: String(HISTORY_LIMIT),
        MESSAGE_RETENTION: String(RETENTION),
        RATE_LIMIT_LIMIT: '100000',
      });
      rest = chatRest(server.baseUrl);
    }, 60_000);

    /** Connects and returns the socket with its history frame. */
    async function open(roomId: string, userId: string, since?: string): Promise<{ socket: TestSocket; history: Frame }> {
      const socket = await connectWs(roomWsUrl(server.wsUrl, roomId, userId, since));
      const history = await socket.next();
      return { socket, history };
    }

    /** A room with `n` messages (contents m1..mn) and a user. */
    async function roomWith(n: number): Promise<{ roomId: string; userId: string; sent: Frame[] }> {
      const room = await rest.room();
      const user = await rest.user();
      const sent: Frame[] = [];
      for (let i = 1; i <= n; i++) sent.push(await rest.post(room.id, { content: `m${i}`, user_id: user.id }));
      return { roomId: room.id, userId: user.id, sent };
    }

    describe('typing', () => {
      async function pair(): Promise<{ roomId: string; typist: TestSocket; typistId: string; other: TestSocket }> {
        const room = await rest.room();
        const [a, b] = [await rest.user('t'), await rest.user('o')];
        const { socket: other } = await open(room.id, b.id);
        const { socket: typist } = await open(room.id, a.id);
        typist.ignore((f) => f.type === 'system' && f.user_id === b.id);
        expect(await other.next()).toMatchObject({ type: 'system', event: 'join', user_id: a.id });
        return { roomId: room.id, typist, typistId: a.id, other };
      }

      it('relays a typing frame to the others, not to the sender, and stores nothing', async () => {
        const { roomId, typist, typistId, other } = await pair();
        await typist.send({ type: 'typing' });
        const typing = await other.next();
        expect(keysOf(typing)).toEqual(['room_id', 'timestamp', 'type', 'user_id']);
        expect(typing).toEqual({
          type: 'typing',
          user_id: typistId,
          room_id: roomId,
          timestamp: expect.stringMatching(RFC3339_MS),
        });
        await typist.expectNoFrame(300);
        expect(await rest.messages(roomId)).toEqual([]);
      });

      it('relays at most one typing frame per second per connection', async () => {
        const { typist, typistId, other } = await pair();
        for (let i = 0; i < 5; i++) await typist.send({ type: 'typing' });
        expect(await other.next()).toMatchObject({ type: 'typing', user_id: typistId });
        await other.expectNoFrame(500);
        await typist.expectNoFrame(0);
        // A second later the next one is relayed again.
        await sleep(600);
        await typist.send({ type: 'typing' });
        expect(await other.next()).toMatchObject({ type: 'typing', user_id: typistId });
        await other.expectNoFrame(200);
      });
    });

    describe('recovery with ?since=', () => {
      it('replays exactly the messages after `since`, oldest first, with recovered true, then goes live', async () => {
        const { roomId, userId, sent } = await roomWith(RETENTION);
        const { socket, history } = await open(roomId, userId, sent[0].id);
        expect(keysOf(history)).toEqual(['messages', 'recovered', 'type']);
        // More than HISTORY_LIMIT: recovery is not cut to the usual history.
        expect(history).toEqual({ type: 'history', messages: sent.slice(1), recovered: true });

        const live = await rest.post(roomId, { content: 'live', user_id: userId });
        expect(await socket.next()).toEqual(live);
      });

      it('replays nothing, with recovered true, when `since` is the last message', async () => {
        const { roomId, userId, sent } = await roomWith(2);
        const { history } = await open(roomId, userId, sent[1].id);
        expect(history).toEqual({ type: 'history', messages: [], recovered: true });
      });

      it('sends the usual history without "recovered" when no since is given', async () => {
        const { roomId, userId, sent } = await roomWith(4);
        const { history } = await open(roomId, userId);
        expect(history).toEqual({ type: 'history', messages: sent.slice(-HISTORY_LIMIT) });
      });

      it.each<[string, (roomId: string, foreignId: string) => string]>([
        ['a well-formed id past the last message', (roomId) => `${roomId}.9999999999`],
        ['a message id of another room', (_roomId, foreignId) => foreignId],
        ['a malformed id', () => 'not-a-message-id'],
        ['an empty id', () => ''],
      ])('falls back to the last HISTORY_LIMIT messages with recovered false for %s', async (_what, since) => {
        const other = await roomWith(1);
        const { roomId, userId, sent } = await roomWith(4);
        const { history } = await open(roomId, userId, since(roomId, other.sent[0].id));
        expect(history).toEqual({ type: 'history', messages: sent.slice(-HISTORY_LIMIT), recovered: false });
      });

      it(`falls back with recovered false when messages after \`since\` were trimmed (MESSAGE_RETENTION=${RETENTION})`, async () => {
        const { roomId, userId, sent } = await roomWith(8);
        expect(await rest.messages(roomId)).toEqual(sent.slice(-RETENTION));
        // Retained: m4..m8. After m2 comes m3, which is gone: no exact replay is possible.
        const { history: lost } = await open(roomId, userId, sent[1].id);
        expect(lost).toEqual({ type: 'history', messages: sent.slice(-HISTORY_LIMIT), recovered: false });
        const { history: oldest } = await open(roomId, userId, sent[0].id);
        expect(oldest).toEqual({ type: 'history', messages: sent.slice(-HISTORY_LIMIT), recovered: false });
      });

      it('recovers from a trimmed message when every message after it is still retained', async () => {
        const { roomId, userId, sent } = await roomWith(8);
        // Retained: m4..m8. Everything after m3 is there, so nothing is missing.
        const { history } = await open(roomId, userId, sent[2].id);
        expect(history).toEqual({ type: 'history', messages: sent.slice(3), recovered: true });
      });
    });
  });

  describe('heartbeat (WS_PING_INTERVAL=1)', () => {
    let server: TestServer;

    beforeAll(async () => {
      server = await fixture.startServer({ WS_PING_INTERVAL: '1' });
    }, 60_000);

    it('keeps a client that answers pings and drops one that does not within about 3 s', async () => {
      const rest = chatRest(server.baseUrl);
      const room = await rest.room();
      const [alive, silent] = [await rest.user('a'), await rest.user('s')];
      const good = await connectWs(roomWsUrl(server.wsUrl, room.id, alive.id));
      await good.next();
      let pings = 0;
      good.ws.on('ping', () => pings++);
      const t0 = Date.now();
      const mute = await connectWs(roomWsUrl(server.wsUrl, room.id, silent.id), { autoPong: false });
      await mute.next();
      expect(await good.next()).toMatchObject({ type: 'system', event: 'join', user_id: silent.id });

      const close = await mute.closedWithin(4000);
      expect(Date.now() - t0).toBeLessThan(3500);
      expect(close.code).not.toBe(1000);
      // Dropping it announced the leave.
      expect(await good.next()).toMatchObject({ type: 'system', event: 'leave', user_id: silent.id });

      await sleep(Math.max(0, 3000 - (Date.now() - t0)));
      expect(good.isOpen).toBe(true);
      expect(pings).toBeGreaterThanOrEqual(2);
      await good.send({ type: 'text', content: 'still here' });
      expect(await good.next()).toMatchObject({ type: 'text', content: 'still here' });
    });
  });

  describe('slow consumers (WS_MAX_BUFFERED=16384)', () => {
    let server: TestServer;
    const SIZE = 8000; // one frame stays well under WS_MAX_BUFFERED
    const COUNT = 1000; // 8 MB: more than the kernel buffers of a paused loopback socket hold (about 4 MB)
    const tag = (i: number) => `${String(i).padStart(5, '0')}:`;

    beforeAll(async () => {
      server = await fixture.startServer({
        WS_MAX_BUFFERED: '16384',
        MESSAGE_MAX_LENGTH: String(SIZE),
        WS_RATE_LIMIT: '100000',
        RATE_LIMIT_LIMIT: '100000',
      });
    }, 60_000);

    it('closes a connection that stops reading with 1013 Slow consumer, and the room keeps receiving everything', async () => {
      const rest = chatRest(server.baseUrl);
      const room = await rest.room();
      const [slowUser, readerUser, senderUser] = [await rest.user('sl'), await rest.user('rd'), await rest.user('se')];
      const slow = await connectWs(roomWsUrl(server.wsUrl, room.id, slowUser.id));
      await slow.next();
      const reader = await connectWs(roomWsUrl(server.wsUrl, room.id, readerUser.id));
      await reader.next();
      const sender = await connectWs(roomWsUrl(server.wsUrl, room.id, senderUser.id));
      await sender.next();
      await slow.waitFor((f) => f.user_id === senderUser.id);

      slow.ws.pause();
      const body = 'x'.repeat(SIZE - 6);
      for (let i = 0; i < COUNT; i++) {
        await sender.send({ type: 'text', content: `${tag(i)}${body}` });
        // Like a real client, wait for an echo now and then: this process must keep reading too.
        if (i % 20 === 19) await sender.waitFor((f) => f.type === 'text' && f.content.startsWith(tag(i)), 5000);
      }
      const last = (f: Frame) => f.type === 'text' && f.content.startsWith(tag(COUNT - 1));
      await sender.received(last, 5000, 'the last message');
      await reader.received(last, 5000, 'the last message');

      const stored = [...(await rest.messages(room.id, 200))];
      expect(stored).toHaveLength(200);
      const seenByReader = reader.frames.filter((f) => f.type === 'text');
      expect(seenByReader).toHaveLength(COUNT);
      expect(seenByReader.map((f) => f.content.slice(0, 6))).toEqual(Array.from({ length: COUNT }, (_, i) => tag(i)));
      expect(seenByReader.slice(-200)).toEqual(stored);
      expect(sender.frames.filter((f) => f.type === 'text')).toEqual(seenByReader);

      slow.ws.resume();
      expect(await slow.closedWithin(4000)).toEqual({ code: 1013, reason: 'Slow consumer' });
      // What it got before the cut is a prefix of the room's order, without gaps.
      const got = slow.frames.filter((f) => f.type === 'text');
      expect(got.length).toBeLessThan(COUNT);
      expect(got).toEqual(seenByReader.slice(0, got.length));
      const leave = await reader.waitFor((f) => f.type === 'system' && f.event === 'leave', 3000, 'a leave frame');
      expect(leave.user_id).toBe(slowUser.id);
    });

    it('lets a client that missed more than WS_MAX_BUFFERED bytes of messages come back with ?since=', async () => {
      const rest = chatRest(server.baseUrl);
      const room = await rest.room();
      const user = await rest.user('back');
      const before = await rest.post(room.id, { content: 'seen', user_id: user.id });
      // Missed while away: 40 messages of 8000 characters, about 320 KB.
      const body = 'y'.repeat(SIZE - 6);
      const missed: Frame[] = [];
      for (let i = 0; i < 40; i++) missed.push(await rest.post(room.id, { content: `${tag(i)}${body}`, user_id: user.id }));

      const socket = await connectWs(roomWsUrl(server.wsUrl, room.id, user.id, before.id));
      const history = await socket.next();
      expect(history).toEqual({ type: 'history', messages: missed, recovered: true });
      expect(socket.isOpen).toBe(true);
    });
  });

  describe.each([
    ['memory', () => ({})],
    ['redis', () => ({ REDIS_URL: redis.url })],
  ])('graceful shutdown on the %s store (SHUTDOWN_TIMEOUT=5)', (_store, storeEnv) => {
    it('closes open sockets with 1001 on SIGTERM and exits 0 within SHUTDOWN_TIMEOUT', async () => {
      const server = await fixture.startServer({ ...storeEnv(), SHUTDOWN_TIMEOUT: '5' });
      const rest = chatRest(server.baseUrl);
      const room = await rest.room();
      const [u1, u2] = [await rest.user(), await rest.user()];
      const s1 = await connectWs(roomWsUrl(server.wsUrl, room.id, u1.id));
      await s1.next();
      const s2 = await connectWs(roomWsUrl(server.wsUrl, room.id, u2.id));
      await s2.next();

      const t0 = Date.now();
      const exitCode = server.stop();
      const closes = await Promise.all([s1.closedWithin(5000), s2.closedWithin(5000)]);
      for (const c of closes) expect(c.code).toBe(1001);
      expect(await exitCode).toBe(0);
      expect(Date.now() - t0).toBeLessThan(5000);
    }, 60_000);
  });
});
