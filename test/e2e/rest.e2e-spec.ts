import { api, type ApiResponse, type TestServer } from '../support/app.js';
import { e2eFixture } from '../support/fixture.js';

const RFC3339_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const OPAQUE_ID = /^[A-Za-z0-9_.~-]{1,64}$/;
const ROOM_KEYS = ['created_at', 'id', 'name'];
const USER_KEYS = ['created_at', 'id', 'username'];
const MESSAGE_KEYS = ['content', 'created_at', 'id', 'room_id', 'type', 'user_id'];

type Client = ReturnType<typeof api>;

function keysOf(body: unknown): string[] {
  return Object.keys(body as object).sort();
}

/** The status and the exact `{"detail"}` body of an error answer. */
function expectError(res: ApiResponse, status: number, detail: unknown = expect.any(String)): void {
  expect({ status: res.status, body: res.body }).toEqual({ status, body: { detail } });
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  expect(res.headers.get('x-request-id')).toBeTruthy();
}

function expectRecent(createdAt: string, since: number): void {
  expect(createdAt).toMatch(RFC3339_MS);
  const at = Date.parse(createdAt);
  expect(at).toBeGreaterThanOrEqual(since - 2000);
  expect(at).toBeLessThanOrEqual(Date.now() + 2000);
}

let names = 0;
/** A username unique within this file's run. */
function uniqueName(prefix = 'user'): string {
  names++;
  return `${prefix}_${process.pid}_${names}`;
}

describe.each(['memory', 'redis'])('REST API on the %s store', (store) => {
  const fixture = e2eFixture();
  let server: TestServer;
  let client: Client;

  beforeAll(async () => {
    const redis = store === 'redis' ? await fixture.startRedis() : undefined;
    server = await fixture.startServer({
      STORE: store,
      REDIS_URL: redis?.url,
      RATE_LIMIT_LIMIT: '1000000',
    });
    client = api(server.baseUrl);
  }, 60_000);

  async function createRoom(name = 'General'): Promise<{ id: string; name: string; created_at: string }> {
    const res = await client.post('/rooms', { name });
    expect(res.status).toBe(200);
    return res.body;
  }

  async function createUser(username = uniqueName()): Promise<{ id: string; username: string; created_at: string }> {
    const res = await client.post('/users', { username });
    expect(res.status).toBe(200);
    return res.body;
  }

  async function send(roomId: string, userId: string, content: string, extra: Record<string, unknown> = {}) {
    const res = await client.post(`/rooms/${roomId}/messages`, { content, user_id: userId, ...extra });
    expect(res.status).toBe(200);
    return res.body;
  }

  describe('POST /api/v1/rooms', () => {
    it('answers 200 with exactly id, name and created_at', async () => {
      const since = Date.now();
      const res = await client.post('/rooms', { name: 'General Chat' });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      expect(res.headers.get('x-request-id')).toBeTruthy();
      expect(keysOf(res.body)).toEqual(ROOM_KEYS);
      expect(res.body.name).toBe('General Chat');
      expect(res.body.id).toMatch(OPAQUE_ID);
      expectRecent(res.body.created_at, since);
    });

    it('stores the name trimmed', async () => {
      const room = await createRoom('  \t Lobby \n ');
      expect(room.name).toBe('Lobby');
      const got = await client.get(`/rooms/${room.id}`);
      expect(got.body.name).toBe('Lobby');
    });

    it('accepts 100 characters counted in code points', async () => {
      const name = '👋'.repeat(100);
      const room = await createRoom(` ${name} `);
      expect(room.name).toBe(name);
      expect((await client.get(`/rooms/${room.id}`)).body.name).toBe(name);
    });

    it('gives rooms with the same name different ids', async () => {
      const a = await createRoom('Twin');
      const b = await createRoom('Twin');
      expect(a.id).not.toBe(b.id);
    });

    it('ignores unknown JSON fields, including id and created_at', async () => {
      const res = await client.post('/rooms', { name: 'Extra', id: 'forced-id', created_at: 'yesterday', color: 'red' });
      expect(res.status).toBe(200);
      expect(keysOf(res.body)).toEqual(ROOM_KEYS);
      expect(res.body.id).not.toBe('forced-id');
      expect(res.body.created_at).toMatch(RFC3339_MS);
    });

    it('accepts application/json with a charset', async () => {
      const res = await client.post('/rooms', JSON.stringify({ name: 'Charset' }), {
        'content-type': 'application/json; charset=utf-8',
      });
      expect(res.status).toBe(200);
      expect(res.body.name).toBe('Charset');
    });
  });

  describe('GET /api/v1/rooms', () => {
    it('lists rooms oldest first, each with exactly id, name and created_at', async () => {
      const created = [await createRoom('first'), await createRoom('second'), await createRoom('third')];
      const res = await client.get('/rooms?limit=1000');
      expect(res.status).toBe(200);
      expect(Array.isArray(res.body)).toBe(true);
      for (const room of res.body) expect(keysOf(room)).toEqual(ROOM_KEYS);
      expect(res.body.slice(-3)).toEqual(created);
      const stamps = res.body.map((r: { created_at: string }) => Date.parse(r.created_at));
      for (let i = 1; i < stamps.length; i++) expect(stamps[i]).toBeGreaterThanOrEqual(stamps[i - 1]);
    });

    it('answers 100 rooms by default and pages with limit and offset', async () => {
      let total = (await client.get('/rooms?limit=1000')).body.length as number;
      while (total < 105) {
        await createRoom(`filler ${total}`);
        total++;
      }
      const all = (await client.get('/rooms?limit=1000')).body;
      expect(all).toHaveLength(total);
      const byDefault = await client.get('/rooms');
      expect(byDefault.status).toBe(200);
      expect(byDefault.body).toEqual(all.slice(0, 100));
      expect((await client.get('/rooms?offset=0')).body).toEqual(all.slice(0, 100));
      expect((await client.get('/rooms?limit=3')).body).toEqual(all.slice(0, 3));
      expect((await client.get('/rooms?limit=3&offset=2')).body).toEqual(all.slice(2, 5));
      expect((await client.get('/rooms?offset=101')).body).toEqual(all.slice(101, 201));
      expect((await client.get('/rooms?limit=1&offset=' + (total - 1))).body).toEqual([all[total - 1]]);
      expect((await client.get('/rooms?limit=1000&offset=' + total)).body).toEqual([]);
      expect((await client.get('/rooms?limit=1')).body).toEqual([all[0]]);
      expect((await client.get('/rooms?limit=0010')).body).toEqual(all.slice(0, 10));
    });
  });

  describe('GET /api/v1/rooms/:room_id', () => {
    it('answers the room with exactly id, name and created_at', async () => {
      const room = await createRoom('Findable');
      const res = await client.get(`/rooms/${room.id}`);
      expect(res.status).toBe(200);
      expect(keysOf(res.body)).toEqual(ROOM_KEYS);
      expect(res.body).toEqual(room);
      expect(res.headers.get('x-request-id')).toBeTruthy();
    });

    it('answers 404 for an unknown room', async () => {
      expectError(await client.get('/rooms/no-such-room'), 404, 'Room not found');
      expectError(await client.get(`/rooms/${'x'.repeat(64)}`), 404, 'Room not found');
      expectError(await client.get('/rooms/%F0%9F%91%8B'), 404, 'Room not found');
    });

    it('answers 404 {"detail"} for an over-long room id', async () => {
      expectError(await client.get(`/rooms/${'x'.repeat(300)}`), 404, 'Room not found');
    });
  });

  describe('POST /api/v1/users', () => {
    it('answers 200 with exactly id, username and created_at', async () => {
      const since = Date.now();
      const username = uniqueName('John.Doe-');
      const res = await client.post('/users', { username });
      expect(res.status).toBe(200);
      expect(res.headers.get('x-request-id')).toBeTruthy();
      expect(keysOf(res.body)).toEqual(USER_KEYS);
      expect(res.body.username).toBe(username);
      expect(res.body.id).toMatch(OPAQUE_ID);
      expectRecent(res.body.created_at, since);
    });

    it('accepts 3 and 32 characters', async () => {
      const three = await client.post('/users', { username: 'a_1' });
      expect(three.status).toBe(200);
      expect(three.body.username).toBe('a_1');
      const long = uniqueName('x').padEnd(32, 'z');
      expect(long).toHaveLength(32);
      const res = await client.post('/users', { username: long });
      expect(res.status).toBe(200);
      expect(res.body.username).toBe(long);
    });

    it('answers 409 for a taken username, case-insensitively', async () => {
      const username = uniqueName('Taken');
      await createUser(username);
      for (const again of [username, username.toLowerCase(), username.toUpperCase()]) {
        expectError(await client.post('/users', { username: again }), 409, 'Username already taken');
      }
      const all = (await client.get('/users?limit=1000')).body as { username: string }[];
      expect(all.filter((u) => u.username.toLowerCase() === username.toLowerCase())).toHaveLength(1);
    });

    it('lets exactly one of two concurrent creates with differing case win', async () => {
      const username = uniqueName('Race');
      const results = await Promise.all([
        client.post('/users', { username: username.toLowerCase() }),
        client.post('/users', { username: username.toUpperCase() }),
      ]);
      expect(results.map((r) => r.status).sort()).toEqual([200, 409]);
      expectError(results.find((r) => r.status === 409)!, 409, 'Username already taken');
    });

    it('ignores unknown JSON fields', async () => {
      const username = uniqueName();
      const res = await client.post('/users', { username, id: 'forced', admin: true });
      expect(res.status).toBe(200);
      expect(keysOf(res.body)).toEqual(USER_KEYS);
      expect(res.body.id).not.toBe('forced');
    });
  });

  describe('GET /api/v1/users', () => {
    it('lists users oldest first, each with exactly id, username and created_at', async () => {
      const created = [await createUser(), await createUser(), await createUser()];
      const res = await client.get('/users?limit=1000');
      expect(res.status).toBe(200);
      for (const user of res.body) expect(keysOf(user)).toEqual(USER_KEYS);
      expect(res.body.slice(-3)).toEqual(created);
    });

    it('answers 100 users by default and pages with limit and offset', async () => {
      let total = (await client.get('/users?limit=1000')).body.length as number;
      while (total < 103) {
        await createUser();
        total++;
      }
      const all = (await client.get('/users?limit=1000')).body;
      expect(all).toHaveLength(total);
      expect((await client.get('/users')).body).toEqual(all.slice(0, 100));
      expect((await client.get('/users?limit=2&offset=1')).body).toEqual(all.slice(1, 3));
      expect((await client.get('/users?offset=100')).body).toEqual(all.slice(100, 200));
      expect((await client.get('/users?offset=' + total)).body).toEqual([]);
    });
  });

  describe('GET /api/v1/users/:user_id', () => {
    it('answers the user with exactly id, username and created_at', async () => {
      const user = await createUser();
      const res = await client.get(`/users/${user.id}`);
      expect(res.status).toBe(200);
      expect(keysOf(res.body)).toEqual(USER_KEYS);
      expect(res.body).toEqual(user);
    });

    it('answers 404 for an unknown user', async () => {
      expectError(await client.get('/users/no-such-user'), 404, 'User not found');
    });
  });

  describe('POST /api/v1/rooms/:room_id/messages', () => {
    let roomId: string;
    let userId: string;

    beforeAll(async () => {
      roomId = (await createRoom('Messages')).id;
      userId = (await createUser()).id;
    });

    it('answers 200 with exactly the Message keys, type text by default', async () => {
      const since = Date.now();
      const res = await client.post(`/rooms/${roomId}/messages`, { content: 'Hello', user_id: userId });
      expect(res.status).toBe(200);
      expect(res.headers.get('x-request-id')).toBeTruthy();
      expect(keysOf(res.body)).toEqual(MESSAGE_KEYS);
      expect(res.body).toMatchObject({ room_id: roomId, user_id: userId, content: 'Hello', type: 'text' });
      expect(res.body.id).toMatch(OPAQUE_ID);
      expectRecent(res.body.created_at, since);
    });

    it.each(['text', 'image', 'file'])('accepts the type %j', async (type) => {
      const body = await send(roomId, userId, 'https://example.com/x', { type });
      expect(body.type).toBe(type);
    });

    it('stores the content exactly as sent, emoji and whitespace included', async () => {
      const content = '  👋🏽 héllo 𝄞 "quoted" \\ 日本語\n\ttab  ';
      const message = await send(roomId, userId, content);
      expect(message.content).toBe(content);
      const page = (await client.get(`/rooms/${roomId}/messages?limit=200`)).body as { id: string; content: string }[];
      expect(page.find((m) => m.id === message.id)?.content).toBe(content);
    });

    it('accepts MESSAGE_MAX_LENGTH (4000) emoji', async () => {
      const content = '😀'.repeat(4000);
      const message = await send(roomId, userId, content);
      expect(message.content).toBe(content);
    });

    it('answers a repeated client_msg_id with the original message and stores it once', async () => {
      const room = (await createRoom('Idempotent')).id;
      const first = await send(room, userId, 'once', { client_msg_id: 'tab-1-msg-1' });
      expect(keysOf(first)).toEqual([...MESSAGE_KEYS, 'client_msg_id'].sort());
      expect(first.client_msg_id).toBe('tab-1-msg-1');
      const again = await send(room, userId, 'once more', { client_msg_id: 'tab-1-msg-1' });
      expect(again).toEqual(first);
      const other = await send(room, (await createUser()).id, 'once', { client_msg_id: 'tab-1-msg-1' });
      expect(other.id).not.toBe(first.id);
      const page = (await client.get(`/rooms/${room}/messages`)).body;
      expect(page).toEqual([first, other]);
    });

    it('answers 404 Room not found for an unknown room', async () => {
      expectError(
        await client.post('/rooms/no-such-room/messages', { content: 'x', user_id: userId }),
        404,
        'Room not found',
      );
    });

    it('answers 404 User not found for an unknown user and stores nothing', async () => {
      const room = (await createRoom('Strangers')).id;
      expectError(
        await client.post(`/rooms/${room}/messages`, { content: 'x', user_id: 'no-such-user' }),
        404,
        'User not found',
      );
      expect((await client.get(`/rooms/${room}/messages`)).body).toEqual([]);
    });
  });

  describe('GET /api/v1/rooms/:room_id/messages', () => {
    let roomId: string;
    let userId: string;
    let sent: { id: string; content: string }[];

    beforeAll(async () => {
      roomId = (await createRoom('History')).id;
      userId = (await createUser()).id;
      sent = [];
      for (let i = 1; i <= 60; i++) sent.push(await send(roomId, userId, `message ${i}`));
    });

    it('answers an empty list for a room without messages', async () => {
      const room = (await createRoom('Quiet')).id;
      const res = await client.get(`/rooms/${room}/messages`);
      expect(res.status).toBe(200);
      expect(res.body).toEqual([]);
    });

    it('answers the last 50 messages by default, oldest first, with exactly the Message keys', async () => {
      const res = await client.get(`/rooms/${roomId}/messages`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      expect(res.headers.get('x-request-id')).toBeTruthy();
      expect(res.body).toEqual(sent.slice(10));
      for (const m of res.body) expect(keysOf(m)).toEqual(MESSAGE_KEYS);
    });

    it('answers a page with non-ASCII text as exact UTF-8 JSON, with its byte length', async () => {
      const room = (await createRoom('Unicode')).id;
      const user = (await createUser()).id;
      const message = await send(room, user, 'héllo 👋 “quoted” \\ \u2028 end');
      const res = await client.get(`/rooms/${room}/messages`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
      expect(Number(res.headers.get('content-length'))).toBe(Buffer.byteLength(res.text));
      expect(JSON.parse(res.text)).toEqual([message]);
    });

    it('answers a sent message with exactly the JSON text its page lists, with its byte length', async () => {
      const room = (await createRoom('Unicode')).id;
      const user = (await createUser()).id;
      const res = await client.post(`/rooms/${room}/messages`, {
        user_id: user,
        content: 'héllo 👋 “quoted” \\ \u2028 end',
        client_msg_id: 'c-ü',
      });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
      expect(Number(res.headers.get('content-length'))).toBe(Buffer.byteLength(res.text));
      expect(keysOf(res.body)).toEqual([...MESSAGE_KEYS, 'client_msg_id'].sort());
      const page = await client.get(`/rooms/${room}/messages`);
      expect(page.text).toBe(`[${res.text}]`);
      const again = await client.post(`/rooms/${room}/messages`, { user_id: user, content: 'other', client_msg_id: 'c-ü' });
      expect({ status: again.status, text: again.text }).toEqual({ status: 200, text: res.text });
    });

    it('answers the last `limit` messages in chronological order', async () => {
      expect((await client.get(`/rooms/${roomId}/messages?limit=5`)).body).toEqual(sent.slice(55));
      expect((await client.get(`/rooms/${roomId}/messages?limit=1`)).body).toEqual(sent.slice(59));
      expect((await client.get(`/rooms/${roomId}/messages?limit=200`)).body).toEqual(sent);
    });

    it('gives message ids that increase in room order, also as strings', async () => {
      const ids = sent.map((m) => m.id);
      expect(new Set(ids).size).toBe(ids.length);
      expect([...ids].sort()).toEqual(ids);
    });

    it('answers the `limit` messages just older than `before`', async () => {
      const res = await client.get(`/rooms/${roomId}/messages?before=${sent[30].id}&limit=10`);
      expect(res.status).toBe(200);
      expect(res.body).toEqual(sent.slice(20, 30));
      expect((await client.get(`/rooms/${roomId}/messages?before=${sent[3].id}&limit=10`)).body).toEqual(
        sent.slice(0, 3),
      );
      expect((await client.get(`/rooms/${roomId}/messages?before=${sent[0].id}`)).body).toEqual([]);
      expect((await client.get(`/rooms/${roomId}/messages?before=${sent[59].id}`)).body).toEqual(sent.slice(9, 59));
    });

    it('answers the `limit` messages just newer than `after`', async () => {
      const res = await client.get(`/rooms/${roomId}/messages?after=${sent[30].id}&limit=10`);
      expect(res.status).toBe(200);
      expect(res.body).toEqual(sent.slice(31, 41));
      expect((await client.get(`/rooms/${roomId}/messages?after=${sent[55].id}&limit=10`)).body).toEqual(
        sent.slice(56),
      );
      expect((await client.get(`/rooms/${roomId}/messages?after=${sent[59].id}`)).body).toEqual([]);
      expect((await client.get(`/rooms/${roomId}/messages?after=${sent[0].id}`)).body).toEqual(sent.slice(1, 51));
    });

    it('walks the whole room backwards with `before` without gaps or repeats', async () => {
      const seen: { id: string }[] = [];
      let page = (await client.get(`/rooms/${roomId}/messages?limit=7`)).body as { id: string }[];
      while (page.length > 0) {
        seen.unshift(...page);
        page = (await client.get(`/rooms/${roomId}/messages?limit=7&before=${page[0].id}`)).body;
      }
      expect(seen).toEqual(sent);
    });

    it('answers 400 when both `before` and `after` are given', async () => {
      const res = await client.get(`/rooms/${roomId}/messages?before=${sent[40].id}&after=${sent[10].id}`);
      expectError(res, 400);
      expect(res.body.detail).toMatch(/before/);
      expect(res.body.detail).toMatch(/after/);
    });

    it('answers 404 Room not found for an unknown room', async () => {
      expectError(await client.get('/rooms/no-such-room/messages'), 404, 'Room not found');
    });
  });

  describe('errors', () => {
    it('answers 404 {"detail"} for an unknown route', async () => {
      for (const res of [
        await client.get('/nope'),
        await client.get('/rooms/a/b/c'),
        await client.post('/nope', { name: 'x' }),
        await client.call('DELETE', '/rooms'),
      ]) {
        expectError(res, 404);
      }
      const outside = await fetch(`${server.baseUrl}/not-the-api`);
      expect(outside.status).toBe(404);
      expect(await outside.json()).toEqual({ detail: expect.any(String) });
      expect(outside.headers.get('x-request-id')).toBeTruthy();
    });

    it('never answers with the default Nest error shape', async () => {
      for (const res of [
        await client.get('/rooms/unknown'),
        await client.post('/rooms', { name: 42 }),
        await client.get('/rooms?limit=0'),
        await client.post('/rooms', '{"name":'),
      ]) {
        expect(keysOf(res.body)).toEqual(['detail']);
        expect(res.text).not.toMatch(/statusCode|stack|node_modules/);
      }
    });

    it('puts a distinct X-Request-Id on every answer', async () => {
      const answers = [
        await client.get('/rooms'),
        await client.get('/rooms/unknown'),
        await client.post('/rooms', { name: '' }),
        await client.get('/nope'),
      ];
      const ids = answers.map((r) => r.headers.get('x-request-id'));
      for (const id of ids) expect(id).toMatch(/^\S{8,128}$/);
      expect(new Set(ids).size).toBe(ids.length);
    });

    it('puts X-Request-Id on a CORS preflight answer', async () => {
      const res = await client.call('OPTIONS', '/rooms', undefined, {
        origin: 'http://app.example',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'content-type',
      });
      expect(res.status).toBeLessThan(300);
      expect(res.headers.get('access-control-allow-origin')).toBeTruthy();
      expect(res.headers.get('x-request-id')).toBeTruthy();
    });

    it('answers an OPTIONS request that is not a preflight as a preflight: 204, X-Request-Id', async () => {
      const res = await client.call('OPTIONS', '/rooms');
      expect({ status: res.status, text: res.text }).toEqual({ status: 204, text: '' });
      expect(res.headers.get('x-request-id')).toBeTruthy();
    });

    it('keeps a sane X-Request-Id given by the caller and replaces an unsafe one', async () => {
      const kept = await client.get('/rooms', { 'x-request-id': 'trace-abc.123:4' });
      expect(kept.headers.get('x-request-id')).toBe('trace-abc.123:4');
      const replaced = await client.get('/rooms', { 'x-request-id': 'bad id <script>' });
      expect(replaced.headers.get('x-request-id')).toBeTruthy();
      expect(replaced.headers.get('x-request-id')).not.toBe('bad id <script>');
    });
  });
});
