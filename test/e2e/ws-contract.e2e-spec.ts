import type { TestServer } from '../support/app.js';
import { e2eFixture } from '../support/fixture.js';
import type { RedisServer } from '../support/redis-server.js';
import {
  chatRest,
  closeAllSockets,
  connectWs,
  type Frame,
  keysOf,
  MESSAGE_KEYS,
  RFC3339_MS,
  roomWsUrl,
  type TestSocket,
} from '../support/ws-client.js';

/**
 * The WebSocket contract (SPEC §3) as a client written against the API document
 * sees it, on the memory store and on Redis.
 */

const HISTORY_LIMIT = 5;
const SYSTEM_KEYS = ['content', 'event', 'timestamp', 'type', 'user_id'];

const fixture = e2eFixture();
let redis: RedisServer;

beforeAll(async () => {
  redis = await fixture.startRedis();
});

describe('WebSocket /api/v1/ws/{room_id}/{user_id}', () => {
  describe.each([
    ['memory', () => ({})],
    ['redis', () => ({ REDIS_URL: redis.url })],
  ])('on the %s store', (_store, storeEnv) => {
    // This store's server stops after its block, before the next store's starts.
    const storeFixture = e2eFixture();
    let server: TestServer;
    let rest: ReturnType<typeof chatRest>;

    beforeAll(async () => {
      server = await storeFixture.startServer({ ...storeEnv(), HISTORY_LIMIT: String(HISTORY_LIMIT), RATE_LIMIT_LIMIT: '100000' });
      rest = chatRest(server.baseUrl);
    }, 60_000);

    afterEach(async () => {
      await closeAllSockets();
    });

    const connect = (roomId: string, userId: string) => connectWs(roomWsUrl(server.wsUrl, roomId, userId));

    /** Users connected through `join`, per room. */
    const members = new Map<string, Set<string>>();

    /** Connects and reads the history frame, which must come first. */
    const join = async (roomId: string, userId: string): Promise<{ socket: TestSocket; history: Frame }> => {
      const earlier = new Set(members.get(roomId));
      members.set(roomId, new Set([...earlier, userId]));
      const socket = await connect(roomId, userId);
      // A user's join is announced just after their history frame; a socket opened right
      // after theirs may still hear it (on Redis it takes a round trip). Tolerated, not expected.
      socket.ignore((f) => f.type === 'system' && f.event === 'join' && f.user_id !== userId && earlier.has(f.user_id));
      const history = await socket.next();
      expect(history.type).toBe('history');
      return { socket, history };
    };

    it('sends the last HISTORY_LIMIT messages oldest first, then broadcasts a sent text message as stored', async () => {
      const room = await rest.room('General Chat');
      const user = await rest.user('john');
      const prior: Frame[] = [];
      for (let i = 1; i <= 8; i++) prior.push(await rest.post(room.id, { content: `prior ${i}`, user_id: user.id }));

      const socket = await connect(room.id, user.id);
      const history = await socket.next();
      expect(keysOf(history)).toEqual(['messages', 'type']);
      expect(history.type).toBe('history');
      expect(history.messages).toEqual(prior.slice(-HISTORY_LIMIT));
      expect(history.messages.map((m: Frame) => m.content)).toEqual(['prior 4', 'prior 5', 'prior 6', 'prior 7', 'prior 8']);
      for (const m of history.messages) expect(keysOf(m)).toEqual(MESSAGE_KEYS);

      await socket.send({ type: 'text', content: 'Hello!', user_id: user.id });
      const echoed = await socket.next();
      expect(keysOf(echoed)).toEqual(MESSAGE_KEYS);
      expect(echoed).toEqual({
        id: expect.any(String),
        room_id: room.id,
        user_id: user.id,
        content: 'Hello!',
        type: 'text',
        created_at: expect.stringMatching(RFC3339_MS),
      });
      expect(echoed.id > prior[7].id).toBe(true);
      const stored = await rest.messages(room.id);
      expect(stored).toEqual([...prior, echoed]);
      await socket.expectNoFrame(200);
    });

    it('sends an empty history frame for a room without messages', async () => {
      const room = await rest.room();
      const user = await rest.user();
      const socket = await connect(room.id, user.id);
      expect(await socket.next()).toEqual({ type: 'history', messages: [] });
    });

    it('stores a text frame sent without user_id under the path user', async () => {
      const room = await rest.room();
      const user = await rest.user();
      const { socket } = await join(room.id, user.id);
      await socket.send({ type: 'text', content: 'no user id' });
      const echoed = await socket.nextOfType('text');
      expect(echoed).toMatchObject({ user_id: user.id, room_id: room.id, content: 'no user id' });
      expect(await rest.messages(room.id)).toEqual([echoed]);
    });

    it('stores content exactly as sent', async () => {
      const room = await rest.room();
      const user = await rest.user();
      const { socket } = await join(room.id, user.id);
      const content = '  padded \u00e9 \ud83d\ude00 "quoted" \\ </script>\n';
      await socket.send({ type: 'text', content });
      const echoed = await socket.nextOfType('text');
      expect(echoed.content).toBe(content);
      expect((await rest.messages(room.id))[0].content).toBe(content);
    });

    it('closes with 4404 for an unknown room', async () => {
      const user = await rest.user();
      const socket = await connect('no-such-room', user.id);
      expect(await socket.closedWithin()).toEqual({ code: 4404, reason: 'Room not found' });
      expect(socket.frames).toEqual([]);
    });

    it('closes with 4404 for an unknown user', async () => {
      const room = await rest.room();
      const socket = await connect(room.id, 'no-such-user');
      expect(await socket.closedWithin()).toEqual({ code: 4404, reason: 'User not found' });
      expect(socket.frames).toEqual([]);
      // The failed connection left no presence behind: nobody hears a leave for it.
      const other = await rest.user();
      const { socket: watcher } = await join(room.id, other.id);
      await watcher.expectNoFrame(200);
    });

    it('announces a join to the others only, with the exact system frame', async () => {
      const room = await rest.room();
      const alice = await rest.user('alice');
      const bob = await rest.user('bob');
      const { socket: a } = await join(room.id, alice.id);
      const { socket: b } = await join(room.id, bob.id);

      const joined = await a.next();
      expect(keysOf(joined)).toEqual(SYSTEM_KEYS);
      expect(joined).toEqual({
        type: 'system',
        event: 'join',
        user_id: bob.id,
        content: `User ${bob.id} joined the chat`,
        timestamp: expect.stringMatching(RFC3339_MS),
      });
      await b.expectNoFrame(300);
      await a.expectNoFrame(0);
      // System frames are not messages.
      expect(await rest.messages(room.id)).toEqual([]);
    });

    it('announces the leave to the others when the last connection closes', async () => {
      const room = await rest.room();
      const alice = await rest.user('alice');
      const bob = await rest.user('bob');
      const { socket: a } = await join(room.id, alice.id);
      const { socket: b } = await join(room.id, bob.id);
      await a.nextOfType('system');

      await b.close();
      const left = await a.next();
      expect(keysOf(left)).toEqual(SYSTEM_KEYS);
      expect(left).toEqual({
        type: 'system',
        event: 'leave',
        user_id: bob.id,
        content: `User ${bob.id} left the chat`,
        timestamp: expect.stringMatching(RFC3339_MS),
      });
      await a.expectNoFrame(200);
      expect(b.frames.filter((f) => f.user_id === bob.id)).toEqual([]);
    });

    it('does not announce a second tab of the same user, and announces the leave only when the last tab closes', async () => {
      const room = await rest.room();
      const alice = await rest.user('alice');
      const bob = await rest.user('bob');
      const { socket: a } = await join(room.id, alice.id);
      const { socket: tab1 } = await join(room.id, bob.id);
      expect(await a.next()).toMatchObject({ type: 'system', event: 'join', user_id: bob.id });

      const { socket: tab2 } = await join(room.id, bob.id);
      await a.expectNoFrame(300);
      await tab1.expectNoFrame(0);

      await tab1.close();
      await a.expectNoFrame(300);
      await tab2.expectNoFrame(0);

      // The remaining tab still receives the room's messages.
      await a.send({ type: 'text', content: 'still there?' });
      expect(await tab2.next()).toMatchObject({ type: 'text', content: 'still there?', user_id: alice.id });
      await a.nextOfType('text');

      await tab2.close();
      expect(await a.next()).toMatchObject({ type: 'system', event: 'leave', user_id: bob.id });
      await a.expectNoFrame(200);
    });

    it('broadcasts a message to every connection in the room, sender included, and to no other room', async () => {
      const room = await rest.room();
      const elsewhere = await rest.room();
      const [u1, u2, u3] = [await rest.user(), await rest.user(), await rest.user()];
      const { socket: s1 } = await join(room.id, u1.id);
      const { socket: s2 } = await join(room.id, u2.id);
      const { socket: outsider } = await join(elsewhere.id, u3.id);
      await s1.nextOfType('system');

      await s2.send({ type: 'text', content: 'to everyone', user_id: u2.id });
      const seen1 = await s1.next();
      const seen2 = await s2.next();
      expect(seen1).toEqual(seen2);
      expect(seen1).toMatchObject({ content: 'to everyone', user_id: u2.id, room_id: room.id, type: 'text' });
      await outsider.expectNoFrame(300);
    });

    it.each(['image', 'file'])('stores and broadcasts a %s message like a text one', async (type) => {
      const room = await rest.room();
      const sender = await rest.user();
      const reader = await rest.user();
      const { socket: r } = await join(room.id, reader.id);
      const { socket: s } = await join(room.id, sender.id);
      await r.nextOfType('system');

      const content = `https://cdn.example/${type}/42.bin`;
      await s.send({ type, content, user_id: sender.id });
      const echoed = await s.next();
      expect(keysOf(echoed)).toEqual(MESSAGE_KEYS);
      expect(echoed).toMatchObject({ type, content, user_id: sender.id, room_id: room.id });
      expect(await r.next()).toEqual(echoed);
      expect(await rest.messages(room.id)).toEqual([echoed]);
    });

    it('broadcasts a message sent over REST to every socket in the room', async () => {
      const room = await rest.room();
      const [u1, u2, poster] = [await rest.user(), await rest.user(), await rest.user()];
      const { socket: s1 } = await join(room.id, u1.id);
      const { socket: s2 } = await join(room.id, u2.id);
      await s1.nextOfType('system');

      const sent = await rest.post(room.id, { content: 'from REST', user_id: poster.id, type: 'image' });
      expect(await s1.next()).toEqual(sent);
      expect(await s2.next()).toEqual(sent);
      await s1.expectNoFrame(200);
      await s2.expectNoFrame(0);
    });

    it('answers a repeated client_msg_id over the socket with the original message, to the sender only', async () => {
      const room = await rest.room();
      const sender = await rest.user();
      const reader = await rest.user();
      const { socket: r } = await join(room.id, reader.id);
      const { socket: s } = await join(room.id, sender.id);
      await r.nextOfType('system');

      await s.send({ type: 'text', content: 'once', user_id: sender.id, client_msg_id: 'c-1' });
      const original = await s.next();
      expect(keysOf(original)).toEqual([...MESSAGE_KEYS, 'client_msg_id'].sort());
      expect(original).toMatchObject({ content: 'once', client_msg_id: 'c-1', user_id: sender.id });
      expect(await r.next()).toEqual(original);

      // A repeat, even with other content: the original comes back, nothing new is stored or broadcast.
      await s.send({ type: 'text', content: 'twice', user_id: sender.id, client_msg_id: 'c-1' });
      expect(await s.next()).toEqual(original);
      await r.expectNoFrame(300);
      await s.expectNoFrame(0);
      expect(await rest.messages(room.id)).toEqual([original]);

      // The same client_msg_id from another user is a different message.
      await r.send({ type: 'text', content: 'mine', client_msg_id: 'c-1' });
      const others = await r.next();
      expect(others).toMatchObject({ content: 'mine', user_id: reader.id, client_msg_id: 'c-1' });
      expect(others.id).not.toBe(original.id);
      expect(await s.next()).toEqual(others);
      expect(await rest.messages(room.id)).toEqual([original, others]);
    });

    it('answers a repeated client_msg_id over REST with the same message (200) and does not broadcast it again', async () => {
      const room = await rest.room();
      const sender = await rest.user();
      const reader = await rest.user();
      const { socket: r } = await join(room.id, reader.id);

      const body = { content: 'rest once', user_id: sender.id, client_msg_id: 'r-1' };
      const first = await rest.client.post(`/rooms/${room.id}/messages`, body);
      expect(first.status).toBe(200);
      expect(first.body).toMatchObject({ ...body, type: 'text', room_id: room.id });
      expect(await r.next()).toEqual(first.body);

      const again = await rest.client.post(`/rooms/${room.id}/messages`, body);
      expect(again.status).toBe(200);
      expect(again.body).toEqual(first.body);
      await r.expectNoFrame(300);

      // Over a socket, the same key of the same user also answers the REST original.
      const { socket: s } = await join(room.id, sender.id);
      await r.nextOfType('system');
      await s.send({ type: 'text', content: 'rest once', client_msg_id: 'r-1' });
      expect(await s.next()).toEqual(first.body);
      await r.expectNoFrame(300);
      expect(await rest.messages(room.id)).toEqual([first.body]);
    });
  });
});
