import type { TestServer } from '../support/app.js';
import { e2eFixture } from '../support/fixture.js';
import { RawConnection } from '../support/raw-http.js';
import type { RedisServer } from '../support/redis-server.js';
import {
  chatRest,
  closeAllSockets,
  connectWs,
  expectUpgradeRefused,
  type Frame,
  keysOf,
  MESSAGE_KEYS,
  roomWsUrl,
  type TestSocket,
} from '../support/ws-client.js';

/**
 * Bad input on the socket (SPEC §3): an error frame and an open, usable connection,
 * never a stored message; 1009 for an oversized frame; the per-connection frame
 * budget (error frames, then 1008); and the checks at the upgrade (per-IP budget,
 * Origin).
 */

const MAX_LENGTH = 10;
const WS_RATE_LIMIT = 5;
const WS_MAX_PAYLOAD = 2048;

const fixture = e2eFixture();
let redis: RedisServer;

beforeAll(async () => {
  redis = await fixture.startRedis();
});

afterEach(async () => {
  await closeAllSockets();
});

/** Frames about users other than `userId` joining: a socket may hear those of earlier sockets. */
const earlierJoin = (userId: string) => (f: Frame) => f.type === 'system' && f.event === 'join' && f.user_id !== userId;

function expectErrorFrame(frame: Frame, detail?: RegExp | string): void {
  expect(keysOf(frame)).toEqual(['detail', 'type']);
  expect(frame.type).toBe('error');
  expect(typeof frame.detail).toBe('string');
  expect(frame.detail.trim()).not.toBe('');
  if (typeof detail === 'string') expect(frame.detail).toBe(detail);
  else if (detail) expect(frame.detail).toMatch(detail);
}

describe('WebSocket /api/v1/ws/{room_id}/{user_id}', () => {
  describe.each([
    ['memory', () => ({})],
    ['redis', () => ({ REDIS_URL: redis.url })],
  ])('bad input on the %s store', (_store, storeEnv) => {
    let server: TestServer;
    let rest: ReturnType<typeof chatRest>;

    beforeAll(async () => {
      server = await fixture.startServer({
        ...storeEnv(),
        MESSAGE_MAX_LENGTH: String(MAX_LENGTH),
        WS_MAX_PAYLOAD: String(WS_MAX_PAYLOAD),
        WS_RATE_LIMIT: String(WS_RATE_LIMIT),
        WS_RATE_TTL: '10',
        RATE_LIMIT_LIMIT: '100000',
      });
      rest = chatRest(server.baseUrl);
    }, 60_000);

    /** A room with a watcher and a sender, both past their history frame. */
    async function setup(): Promise<{ roomId: string; userId: string; sender: TestSocket; watcher: TestSocket }> {
      const room = await rest.room();
      const [watcherUser, user] = [await rest.user('w'), await rest.user('s')];
      const watcher = await connectWs(roomWsUrl(server.wsUrl, room.id, watcherUser.id));
      expect((await watcher.next()).type).toBe('history');
      const sender = await connectWs(roomWsUrl(server.wsUrl, room.id, user.id));
      expect((await sender.next()).type).toBe('history');
      sender.ignore(earlierJoin(user.id));
      expect(await watcher.next()).toMatchObject({ type: 'system', event: 'join', user_id: user.id });
      return { roomId: room.id, userId: user.id, sender, watcher };
    }

    /** The connection is still open and usable: a valid send is stored and broadcast. */
    async function expectUsable(s: { roomId: string; userId: string; sender: TestSocket; watcher: TestSocket }) {
      expect(s.sender.isOpen).toBe(true);
      await s.sender.send({ type: 'text', content: 'valid', user_id: s.userId });
      const echoed = await s.sender.next();
      expect(keysOf(echoed)).toEqual(MESSAGE_KEYS);
      expect(echoed).toMatchObject({ type: 'text', content: 'valid', user_id: s.userId, room_id: s.roomId });
      expect(await s.watcher.next()).toEqual(echoed);
      expect(await rest.messages(s.roomId)).toEqual([echoed]);
    }

    /** JSON text of `levels` arrays nested inside one another. */
    const nested = (levels: number): string => `${'['.repeat(levels)}${']'.repeat(levels)}`;
    const tooLong = 'x'.repeat(MAX_LENGTH + 1);
    const emojiTooLong = '\u{1F600}'.repeat(MAX_LENGTH + 1);
    it.each<[string, unknown, RegExp | undefined]>([
      ['invalid JSON', '{"type": "text", "content": ', undefined],
      ['a JSON array', '[{"type":"text","content":"hi"}]', undefined],
      ['a JSON string', '"hello"', undefined],
      ['JSON null', 'null', undefined],
      ['a frame without a type', { content: 'hi' }, undefined],
      ['an unknown type', { type: 'shout', content: 'hi' }, undefined],
      ['the system type', { type: 'system', content: 'hi' }, undefined],
      ['the history type', { type: 'history', messages: [] }, undefined],
      ['an empty type', { type: '', content: 'hi' }, undefined],
      ['a padded type', { type: ' text', content: 'hi' }, undefined],
      ['an upper-case type', { type: 'TEXT', content: 'hi' }, undefined],
      ['a non-string type', { type: 1, content: 'hi' }, undefined],
      ['blank content', { type: 'text', content: ' \n\t\u00a0' }, /content/],
      ['empty content', { type: 'text', content: '' }, /content/],
      ['missing content', { type: 'text' }, /content/],
      ['non-string content', { type: 'text', content: 42 }, /content/],
      ['blank image content', { type: 'image', content: '   ' }, /content/],
      [`content of ${MAX_LENGTH + 1} characters`, { type: 'text', content: tooLong }, /content/],
      [`content of ${MAX_LENGTH + 1} emoji`, { type: 'file', content: emojiTooLong }, /content/],
      ['a user_id that is not the connection user', { type: 'text', content: 'hi', user_id: 'someone-else' }, /user_id/],
      ['a null user_id', { type: 'text', content: 'hi', user_id: null }, /user_id/],
      ['an empty client_msg_id', { type: 'text', content: 'hi', client_msg_id: '' }, /client_msg_id/],
      ['a client_msg_id of 65 characters', { type: 'text', content: 'hi', client_msg_id: 'c'.repeat(65) }, /client_msg_id/],
      ['content nested 900 arrays deep', `{"type":"text","content":${nested(900)}}`, /nested more than 32 levels/],
      ['a field nested 900 arrays deep', `{"type":"text","content":"hi","pad":${nested(900)}}`, /nested more than 32/],
      ['a typing frame nested 900 arrays deep', `{"type":"typing","pad":${nested(900)}}`, /nested more than 32/],
      ['a field nested 32 levels (33 with the frame)', `{"type":"text","content":"hi","pad":${nested(32)}}`, /nested more than 32/],
    ])('answers %s with an error frame, stores nothing and stays usable', async (_what, frame, detail) => {
      const s = await setup();
      await s.sender.send(frame);
      expectErrorFrame(await s.sender.next(), detail);
      await s.sender.expectNoFrame(100);
      await s.watcher.expectNoFrame(0);
      expect(await rest.messages(s.roomId)).toEqual([]);
      await expectUsable(s);
    });

    it('accepts a frame nested exactly 32 levels deep (the frame itself is one)', async () => {
      const s = await setup();
      await s.sender.send(`{"type":"text","content":"deep","pad":${nested(31)}}`);
      const echoed = await s.sender.next();
      expect(keysOf(echoed)).toEqual(MESSAGE_KEYS);
      expect(echoed).toMatchObject({ type: 'text', content: 'deep', user_id: s.userId });
      expect(await s.watcher.next()).toEqual(echoed);
    });

    it('answers a user_id of another existing user with an error frame', async () => {
      const s = await setup();
      const other = await rest.user('o');
      await s.sender.send({ type: 'text', content: 'impostor', user_id: other.id });
      expectErrorFrame(await s.sender.next(), /user_id/);
      expect(await rest.messages(s.roomId)).toEqual([]);
      await expectUsable(s);
    });

    it('answers a binary frame with an error frame, stores nothing and stays usable', async () => {
      const s = await setup();
      await s.sender.sendBinary(Buffer.from(JSON.stringify({ type: 'text', content: 'binary' })));
      expectErrorFrame(await s.sender.next());
      await s.watcher.expectNoFrame(100);
      expect(await rest.messages(s.roomId)).toEqual([]);
      await expectUsable(s);
    });

    it('counts content length in code points, after trimming', async () => {
      const s = await setup();
      const emoji = '\u{1F600}'.repeat(MAX_LENGTH); // 20 UTF-16 units, 10 code points
      await s.sender.send({ type: 'text', content: emoji });
      expect(await s.sender.next()).toMatchObject({ content: emoji });
      const padded = `  ${'y'.repeat(MAX_LENGTH)}\n`;
      await s.sender.send({ type: 'text', content: padded });
      const echoed = await s.sender.next();
      expect(echoed).toMatchObject({ type: 'text', content: padded });
      expect((await rest.messages(s.roomId)).map((m) => m.content)).toEqual([emoji, padded]);
    });

    it(`closes with 1009 on a frame over WS_MAX_PAYLOAD (${WS_MAX_PAYLOAD} bytes) and stores nothing`, async () => {
      const s = await setup();
      // Just under the limit: an ordinary refusal (too long), not a close.
      await s.sender.send({ type: 'text', content: 'z'.repeat(WS_MAX_PAYLOAD - 40) });
      expectErrorFrame(await s.sender.next(), /content/);

      await s.sender.send({ type: 'text', content: 'z'.repeat(WS_MAX_PAYLOAD) });
      expect((await s.sender.closedWithin()).code).toBe(1009);
      expect(await rest.messages(s.roomId)).toEqual([]);
    });

    it(`refuses frames past WS_RATE_LIMIT (${WS_RATE_LIMIT}) with Too Many Requests and closes with 1008 at three times the limit`, async () => {
      const s = await setup();
      const limit = WS_RATE_LIMIT;
      for (let i = 1; i < 3 * limit; i++) await s.sender.send({ type: 'text', content: `m${i}` });
      const answers: Frame[] = [];
      for (let i = 1; i < 3 * limit; i++) answers.push(await s.sender.next());
      // Refusals are immediate while stores take a round trip: only the counts and the order of messages are fixed.
      const messages = answers.filter((f) => f.type === 'text');
      expect(messages.map((f) => f.content)).toEqual(['m1', 'm2', 'm3', 'm4', 'm5']);
      const refusals = answers.filter((f) => f.type !== 'text');
      expect(refusals).toEqual(Array(2 * limit - 1).fill({ type: 'error', detail: 'Too Many Requests' }));
      await s.sender.expectNoFrame(200);
      expect(s.sender.isOpen).toBe(true);
      const stored = await rest.messages(s.roomId);
      expect(stored.map((m) => m.content)).toEqual(['m1', 'm2', 'm3', 'm4', 'm5']);
      expect(s.watcher.frames.filter((f) => f.type === 'text')).toEqual(stored);

      // Another connection of the same user has its own budget.
      const tab = await connectWs(roomWsUrl(server.wsUrl, s.roomId, s.userId));
      await tab.next();
      await tab.send({ type: 'text', content: 'other tab' });
      expect(await tab.waitFor((f) => f.type !== 'system')).toMatchObject({ type: 'text', content: 'other tab' });

      await s.sender.send({ type: 'text', content: `m${3 * limit}` });
      expect((await s.sender.closedWithin()).code).toBe(1008);
      expect((await rest.messages(s.roomId)).map((m) => m.content)).toEqual(['m1', 'm2', 'm3', 'm4', 'm5', 'other tab']);
    });

    it('counts refused frames and typing frames against the frame budget too', async () => {
      const s = await setup();
      // WS_RATE_LIMIT (5) frames that store nothing.
      const frames = ['not json', { type: 'typing' }, 'not json', { type: 'typing' }, { type: 'typing' }];
      for (const f of frames) await s.sender.send(f);
      await s.sender.send({ type: 'text', content: 'one too many' });
      const answers = [await s.sender.next(), await s.sender.next(), await s.sender.next()];
      expectErrorFrame(answers[0]);
      expect(answers[1]).toEqual(answers[0]);
      expect(answers[2]).toEqual({ type: 'error', detail: 'Too Many Requests' });
      await s.sender.expectNoFrame(200);
      expect(await rest.messages(s.roomId)).toEqual([]);
    });
  });

  describe('the upgrade and the per-IP request budget', () => {
    const LIMIT = 6;
    const budgetFixture = e2eFixture();
    // Its own Redis: the budget counters of the suites above live in theirs, under the same IP.
    let budgetRedis: RedisServer;

    beforeAll(async () => {
      budgetRedis = await budgetFixture.startRedis();
    });

    it.each([
      ['one memory-store server', 1, () => ({})],
      ['two servers sharing one Redis', 2, () => ({ REDIS_URL: budgetRedis.url })],
    ])('counts every upgrade against the REST budget and refuses the upgrade with HTTP 429 once it is spent, on %s', async (_what, count, storeEnv) => {
      const env = { ...storeEnv(), RATE_LIMIT_LIMIT: String(LIMIT), RATE_LIMIT_TTL: '60' };
      const list: TestServer[] = [];
      for (let i = 0; i < count; i++) list.push(await budgetFixture.startServer(env));
      const rest = chatRest(list[0].baseUrl);
      const room = await rest.room();
      const user = await chatRest(list[list.length - 1].baseUrl).user();
      // Two requests spent; LIMIT - 2 upgrades fit in the budget, spread over the servers.
      const sockets: TestSocket[] = [];
      for (let i = 0; i < LIMIT - 2; i++) {
        const socket = await connectWs(roomWsUrl(list[i % list.length].wsUrl, room.id, user.id));
        expect((await socket.next()).type).toBe('history');
        sockets.push(socket);
      }
      const refused = await expectUpgradeRefused(roomWsUrl(list[list.length - 1].wsUrl, room.id, user.id));
      expect(refused.status).toBe(429);
      expect(refused.json).toEqual({ detail: expect.any(String) });
      expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
      // The budget is the REST one: REST is refused too, on every server.
      for (const s of list) expect((await chatRest(s.baseUrl).client.get('/rooms')).status).toBe(429);
      // Connections already open are not affected.
      for (const s of sockets) expect(s.isOpen).toBe(true);
    }, 60_000);
  });

  describe('a malformed upgrade handshake', () => {
    let server: TestServer;
    let path: string;

    beforeAll(async () => {
      server = await fixture.startServer({});
      const rest = chatRest(server.baseUrl);
      path = new URL(roomWsUrl(server.wsUrl, (await rest.room()).id, (await rest.user()).id)).pathname;
    }, 60_000);

    const KEY = 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n';
    const V13 = 'Sec-WebSocket-Version: 13\r\n';
    it.each<[string, string, string, number, RegExp, Record<string, string>]>([
      ['a POST', 'POST', `Upgrade: websocket\r\n${KEY}${V13}Content-Length: 0\r\n`, 405, /GET/, { allow: 'GET' }],
      ['no Sec-WebSocket-Key', 'GET', `Upgrade: websocket\r\n${V13}`, 400, /Sec-WebSocket-Key/, {}],
      ['a Sec-WebSocket-Key that is not 16 bytes of base64', 'GET', `Upgrade: websocket\r\nSec-WebSocket-Key: abc\r\n${V13}`, 400, /Sec-WebSocket-Key/, {}],
      ['no Sec-WebSocket-Version', 'GET', `Upgrade: websocket\r\n${KEY}`, 400, /Sec-WebSocket-Version/, { 'sec-websocket-version': '13, 8' }],
      ['Sec-WebSocket-Version 7', 'GET', `Upgrade: websocket\r\n${KEY}Sec-WebSocket-Version: 7\r\n`, 400, /Sec-WebSocket-Version/, { 'sec-websocket-version': '13, 8' }],
      ['an Upgrade to another protocol', 'GET', `Upgrade: h2c\r\n${KEY}${V13}`, 400, /Upgrade/, {}],
      ['a malformed Sec-WebSocket-Protocol', 'GET', `Upgrade: websocket\r\n${KEY}${V13}Sec-WebSocket-Protocol: chat,,x\r\n`, 400, /Sec-WebSocket-Protocol/, {}],
    ])('answers %s with {"detail"} and closes', async (_what, method, headers, status, detail, expectedHeaders) => {
      const conn = await RawConnection.open(server.port);
      try {
        conn.write(`${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\n${headers}\r\n`);
        const res = await conn.response();
        expect({ status: res.status, type: res.headers['content-type'] }).toEqual({ status, type: 'application/json' });
        expect(JSON.parse(res.body)).toEqual({ detail: expect.stringMatching(detail) });
        expect(res.headers).toMatchObject({ ...expectedHeaders, 'x-request-id': expect.any(String) });
        await conn.closed;
      } finally {
        conn.destroy();
      }
    });
  });

  describe('the upgrade and CORS_ORIGINS', () => {
    let server: TestServer;
    let url: string;

    beforeAll(async () => {
      server = await fixture.startServer({ CORS_ORIGINS: 'http://good.example, http://also-good.example' });
      const rest = chatRest(server.baseUrl);
      url = roomWsUrl(server.wsUrl, (await rest.room()).id, (await rest.user()).id);
    }, 60_000);

    it('refuses an upgrade from another origin with HTTP 403 and a {"detail"} body', async () => {
      const refused = await expectUpgradeRefused(url, { origin: 'http://evil.example' });
      expect(refused.status).toBe(403);
      expect(refused.json).toEqual({ detail: expect.any(String) });
    });

    it.each(['http://good.example', 'http://also-good.example'])('accepts an upgrade from the allowed origin %s', async (origin) => {
      const socket = await connectWs(url, { origin });
      expect(await socket.next()).toEqual({ type: 'history', messages: [] });
    });

    it('accepts an upgrade without an Origin header', async () => {
      const socket = await connectWs(url);
      expect(await socket.next()).toEqual({ type: 'history', messages: [] });
    });

    it('refuses an origin that only resembles an allowed one', async () => {
      for (const origin of ['https://good.example', 'http://good.example.evil.example', 'http://GOOD.example:8080']) {
        expect((await expectUpgradeRefused(url, { origin })).status).toBe(403);
      }
    });
  });
});
