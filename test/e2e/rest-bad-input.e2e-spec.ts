import { api, type ApiResponse, type TestServer } from '../support/app.js';
import { e2eFixture } from '../support/fixture.js';
import { RawConnection } from '../support/raw-http.js';

/**
 * Every way a client can get a request wrong, per endpoint: the answer is the right
 * status with exactly `{"detail": "..."}` (naming the field for validation errors),
 * and nothing is stored.
 */

const MESSAGE_MAX_LENGTH = 4000;
const BODY_LIMIT = 64 * 1024;

type Client = ReturnType<typeof api>;

function expectError(res: ApiResponse, status: number, detail: unknown = expect.any(String)): void {
  expect({ status: res.status, body: res.body }).toEqual({ status, body: { detail } });
  expect(res.headers.get('x-request-id')).toBeTruthy();
}

/** A JSON object of exactly `size` bytes: `base` plus an ignored padding field. */
function padded(base: Record<string, unknown>, size: number): string {
  const skeleton = JSON.stringify({ ...base, pad: '' });
  const body = JSON.stringify({ ...base, pad: 'p'.repeat(size - Buffer.byteLength(skeleton)) });
  expect(Buffer.byteLength(body)).toBe(size);
  return body;
}

/** JSON text of `levels` arrays nested inside one another (built as text: too deep for JSON.stringify here). */
function deep(levels: number): string {
  return `${'['.repeat(levels)}${']'.repeat(levels)}`;
}

/** `base` as JSON with `fields` (raw JSON texts) appended; a repeated key's last value wins. */
function withRawFields(base: Record<string, unknown>, fields: Record<string, string>): string {
  const extra = Object.entries(fields).map(([key, raw]) => `,${JSON.stringify(key)}:${raw}`);
  return `${JSON.stringify(base).slice(0, -1)}${extra.join('')}}`;
}

/** A request with full control over the body bytes and headers (fetch adds no Content-Type to bytes). */
async function raw(
  baseUrl: string,
  path: string,
  body: string | Uint8Array,
  headers: Record<string, string> = {},
): Promise<ApiResponse> {
  const res = await fetch(`${baseUrl}/api/v1${path}`, { method: 'POST', headers, body });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = text;
  }
  return { status: res.status, body: json, text, headers: res.headers };
}


describe('REST bad input', () => {
  const fixture = e2eFixture();
  let server: TestServer;
  let client: Client;
  let roomId: string;
  let otherRoomId: string;
  let userId: string;
  let messageIds: string[];
  let otherRoomMessageId: string;

  beforeAll(async () => {
    const redis = await fixture.startRedis();
    server = await fixture.startServer({ REDIS_URL: redis.url, RATE_LIMIT_LIMIT: '1000000' });
    client = api(server.baseUrl);
    roomId = (await client.post('/rooms', { name: 'Bad input' })).body.id;
    otherRoomId = (await client.post('/rooms', { name: 'Other' })).body.id;
    userId = (await client.post('/users', { username: 'sender' })).body.id;
    messageIds = [];
    for (const content of ['one', 'two', 'three']) {
      messageIds.push((await client.post(`/rooms/${roomId}/messages`, { content, user_id: userId })).body.id);
    }
    otherRoomMessageId = (await client.post(`/rooms/${otherRoomId}/messages`, { content: 'x', user_id: userId }))
      .body.id;
  }, 60_000);

  /** Everything a client can see of the store. */
  async function snapshot(): Promise<unknown> {
    const [rooms, users, messages, others] = await Promise.all([
      client.get('/rooms?limit=1000'),
      client.get('/users?limit=1000'),
      client.get(`/rooms/${roomId}/messages?limit=200`),
      client.get(`/rooms/${otherRoomId}/messages?limit=200`),
    ]);
    expect([rooms.status, users.status, messages.status, others.status]).toEqual([200, 200, 200, 200]);
    return { rooms: rooms.body, users: users.body, messages: messages.body, others: others.body };
  }

  /** Runs `request` and checks that the store looks exactly the same afterwards. */
  async function storesNothing<T>(request: () => Promise<T>): Promise<T> {
    const before = await snapshot();
    const res = await request();
    expect(await snapshot()).toEqual(before);
    return res;
  }

  interface Endpoint {
    name: string;
    path: () => string;
    valid: () => Record<string, unknown>;
  }

  const endpoints: Endpoint[] = [
    { name: 'POST /api/v1/rooms', path: () => '/rooms', valid: () => ({ name: 'Fine' }) },
    { name: 'POST /api/v1/users', path: () => '/users', valid: () => ({ username: 'fine_name' }) },
    {
      name: 'POST /api/v1/rooms/:room_id/messages',
      path: () => `/rooms/${roomId}/messages`,
      valid: () => ({ content: 'Fine', user_id: userId }),
    },
  ];

  describe.each(endpoints)('$name body handling', (endpoint) => {
    it.each([
      ['an unterminated object', '{"content": "x", "name": "x", "username": "xyz"'],
      ['unquoted keys', '{name: "x"}'],
      ['single quotes', "{'name': 'x'}"],
      ['a trailing comma', '{"name": "x",}'],
      ['form data labelled as JSON', 'name=x&username=xyz'],
    ])('answers 400 for malformed JSON (%s) and stores nothing', async (_what, body) => {
      expectError(await storesNothing(() => client.post(endpoint.path(), body)), 400);
    });

    it('answers 400 for an empty JSON body and stores nothing', async () => {
      expectError(await storesNothing(() => client.post(endpoint.path(), '')), 400);
    });

    it.each([['[]'], ['[{"name":"x","username":"xyz","content":"x"}]'], ['"General"'], ['42'], ['null'], ['true']])(
      'answers 400 for the non-object JSON %s and stores nothing',
      async (body) => {
        expectError(await storesNothing(() => client.post(endpoint.path(), body)), 400, 'request body must be a JSON object');
      },
    );

    it.each([
      ['a top-level array', () => deep(5000)],
      ['an ignored field', () => withRawFields(endpoint.valid(), { pad: deep(5000) })],
      [
        'a field of the API',
        () => withRawFields(endpoint.valid(), { name: deep(3000), username: deep(3000), content: deep(3000) }),
      ],
    ])('answers 400 for a body nested thousands of levels deep in %s and stores nothing', async (_where, body) => {
      expectError(
        await storesNothing(() => client.post(endpoint.path(), body())),
        400,
        'JSON nested more than 32 levels deep',
      );
    });

    it('accepts a body nested 32 levels deep (in an ignored field)', async () => {
      // The object itself is the first level.
      const res = await client.post(endpoint.path(), withRawFields(endpoint.valid(), { pad: deep(31) }));
      expect(res.status).toBe(200);
    });

    it('answers 415 for a text/plain body and stores nothing', async () => {
      const body = JSON.stringify(endpoint.valid());
      const res = await storesNothing(() => raw(server.baseUrl, endpoint.path(), body, { 'content-type': 'text/plain' }));
      expectError(res, 415);
    });

    it('answers 415 for a body without Content-Type and stores nothing', async () => {
      const body = new TextEncoder().encode(JSON.stringify(endpoint.valid()));
      const res = await storesNothing(() => raw(server.baseUrl, endpoint.path(), body));
      expectError(res, 415);
    });

    it('answers 415 for a form-encoded body and stores nothing', async () => {
      const res = await storesNothing(() =>
        raw(server.baseUrl, endpoint.path(), 'name=x&username=xyz&content=x', {
          'content-type': 'application/x-www-form-urlencoded',
        }),
      );
      expectError(res, 415);
    });

    it('answers 413 for a body one byte over BODY_LIMIT and stores nothing', async () => {
      const body = padded(endpoint.valid(), BODY_LIMIT + 1);
      expectError(await storesNothing(() => client.post(endpoint.path(), body)), 413);
    });

    it('answers 413 for a body far over BODY_LIMIT and stores nothing', async () => {
      const body = padded(endpoint.valid(), 10 * BODY_LIMIT);
      expectError(await storesNothing(() => client.post(endpoint.path(), body)), 413);
    });
  });

  it('accepts a body of exactly BODY_LIMIT bytes', async () => {
    const res = await client.post('/rooms', padded({ name: 'Exactly at the limit' }, BODY_LIMIT));
    expect(res.status).toBe(200);
    expect(res.body.name).toBe('Exactly at the limit');
  });

  describe('a refused body that the client is still sending', () => {
    it('over BODY_LIMIT is read to its end: the client gets its 413 and the connection serves the next request', async () => {
      const conn = await RawConnection.open(server.port);
      try {
        await storesNothing(async () => {
          // 100× the limit: far more than the socket buffers hold, so the client is still
          // writing when the 413 goes out. Closing then would reset the connection under it.
          const sent = conn.send('POST', '/api/v1/rooms', padded({ name: 'Huge' }, 100 * BODY_LIMIT), {
            'Content-Type': 'application/json',
          });
          const res = await conn.response();
          expect({ status: res.status, body: JSON.parse(res.body) }).toEqual({
            status: 413,
            body: { detail: `Request body is too large (limit ${BODY_LIMIT} bytes)` },
          });
          expect(res.headers['x-request-id']).toBeTruthy();
          expect(res.headers.connection).not.toBe('close');
          await sent;
          return res;
        });
        await conn.send('GET', `/api/v1/rooms/${roomId}`);
        const next = await conn.response();
        expect({ status: next.status, id: JSON.parse(next.body).id }).toEqual({ status: 200, id: roomId });
      } finally {
        conn.destroy();
      }
    }, 30_000);

    it.each([
      ['413', 'application/json', 1000 * BODY_LIMIT, 413],
      ['415', 'text/plain', BODY_LIMIT, 415],
    ])('is answered %s at once, and a client that never finishes it loses the connection', async (_s, type, length, status) => {
      const conn = await RawConnection.open(server.port);
      try {
        conn.write(
          `POST /api/v1/rooms HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: ${type}\r\n` +
            `Content-Length: ${length}\r\n\r\n{"name": "Never ends", "pad": "`,
        );
        expect((await conn.response()).status).toBe(status);
        // Nothing more is sent: the server gives up on the body after its drain time (5 s),
        // not after Node's request timeout (5 minutes, far past this test's timeout).
        await conn.closed;
      } finally {
        conn.destroy();
      }
      expect((await client.get(`/rooms/${roomId}`)).status).toBe(200);
    }, 30_000);
  });

  describe('a request that is not valid HTTP', () => {
    it.each([
      ['a request line that is not HTTP', 'GARBAGE\r\n\r\n', 400],
      ['a header line without a colon', 'GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nNo colon here\r\n\r\n', 400],
      ['a space inside a header name', 'GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nBad Name: x\r\n\r\n', 400],
      [
        'headers over 16 KiB',
        `GET /api/v1/rooms HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: ${'a'.repeat(20_000)}\r\n\r\n`,
        431,
      ],
    ])('answers %s with {"detail"} and X-Request-Id, then closes', async (_what, bytes, status) => {
      const conn = await RawConnection.open(server.port);
      try {
        conn.write(bytes);
        const res = await conn.response();
        expect({ status: res.status, type: res.headers['content-type'], body: JSON.parse(res.body) }).toEqual({
          status,
          type: 'application/json',
          body: { detail: expect.any(String) },
        });
        expect(res.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
        expect(res.headers.connection).toBe('close');
        await conn.closed;
      } finally {
        conn.destroy();
      }
    });
  });

  describe('POST /api/v1/rooms', () => {
    it.each([
      ['a missing name', {}],
      ['a null name', { name: null }],
      ['a number', { name: 123 }],
      ['a boolean', { name: true }],
      ['an array', { name: ['General'] }],
      ['an object', { name: { text: 'General' } }],
      ['an empty name', { name: '' }],
      ['a blank name', { name: '   ' }],
      ['a name of JavaScript whitespace', { name: '\t\n\u00a0\u2003' }],
      ['101 characters', { name: 'a'.repeat(101) }],
      ['101 emoji', { name: '👋'.repeat(101) }],
      ['101 emoji between spaces', { name: `  ${'👋'.repeat(101)}  ` }],
      ['the field under another name', { Name: 'General' }],
    ])('answers 400 naming "name" for %s and stores nothing', async (_what, body) => {
      const res = await storesNothing(() => client.post('/rooms', body));
      expectError(res, 400, expect.stringContaining('name'));
    });

    it('accepts 100 emoji (the boundary, in code points)', async () => {
      const res = await client.post('/rooms', { name: '👋'.repeat(100) });
      expect(res.status).toBe(200);
      expect(res.body.name).toBe('👋'.repeat(100));
    });
  });

  describe('POST /api/v1/users', () => {
    it.each([
      ['a missing username', {}],
      ['a null username', { username: null }],
      ['a number', { username: 12345 }],
      ['an array', { username: ['alice'] }],
      ['an empty username', { username: '' }],
      ['2 characters', { username: 'ab' }],
      ['33 characters', { username: 'a'.repeat(33) }],
      ['a leading space', { username: ' alice' }],
      ['a trailing space', { username: 'alice ' }],
      ['a trailing newline', { username: 'alice\n' }],
      ['an inner space', { username: 'al ice' }],
      ['a non-ASCII letter', { username: 'ålice' }],
      ['emoji', { username: '👋👋👋' }],
      ['punctuation', { username: 'alice!' }],
      ['an @', { username: 'a@example.com' }],
    ])('answers 400 naming "username" for %s and stores nothing', async (_what, body) => {
      const res = await storesNothing(() => client.post('/users', body));
      expectError(res, 400, expect.stringContaining('username'));
    });

    it('accepts 3 and 32 characters (the boundaries)', async () => {
      expect((await client.post('/users', { username: 'abc' })).status).toBe(200);
      expect((await client.post('/users', { username: 'b'.repeat(32) })).status).toBe(200);
    });
  });

  describe('POST /api/v1/rooms/:room_id/messages', () => {
    const path = () => `/rooms/${roomId}/messages`;

    it.each([
      ['a missing content', {}],
      ['a null content', { content: null }],
      ['a number', { content: 42 }],
      ['an array', { content: ['x'] }],
      ['an object', { content: { text: 'x' } }],
      ['an empty content', { content: '' }],
      ['a blank content', { content: '   ' }],
      ['a content of JavaScript whitespace', { content: '\n\t\u00a0\u3000' }],
      [`${MESSAGE_MAX_LENGTH + 1} characters`, { content: 'a'.repeat(MESSAGE_MAX_LENGTH + 1) }],
      [`${MESSAGE_MAX_LENGTH + 1} emoji`, { content: '😀'.repeat(MESSAGE_MAX_LENGTH + 1) }],
    ])('answers 400 naming "content" for %s and stores nothing', async (_what, body) => {
      const res = await storesNothing(() => client.post(path(), { ...body, user_id: userId }));
      expectError(res, 400, expect.stringContaining('content'));
    });

    it.each([
      ['a missing user_id', { content: 'x' }],
      ['a null user_id', { content: 'x', user_id: null }],
      ['a number', { content: 'x', user_id: 42 }],
      ['an array', { content: 'x', user_id: ['U'] }],
    ])('answers 400 naming "user_id" for %s and stores nothing', async (_what, body) => {
      const res = await storesNothing(() => client.post(path(), body));
      expectError(res, 400, expect.stringContaining('user_id'));
    });

    it.each([['system'], [''], [' text'], ['text '], ['TEXT'], ['Image'], ['video'], [5], [['text']], [{}]])(
      'answers 400 naming "type" for the type %j and stores nothing',
      async (type) => {
        const res = await storesNothing(() => client.post(path(), { content: 'x', user_id: userId, type }));
        expectError(res, 400, expect.stringContaining('type'));
      },
    );

    it.each([[''], ['c'.repeat(65)], ['👋'.repeat(65)], [5], [['id']]])(
      'answers 400 naming "client_msg_id" for %j and stores nothing',
      async (clientMsgId) => {
        const res = await storesNothing(() =>
          client.post(path(), { content: 'x', user_id: userId, client_msg_id: clientMsgId }),
        );
        expectError(res, 400, expect.stringContaining('client_msg_id'));
      },
    );

    it('answers 404 User not found for an unknown user and stores nothing', async () => {
      const res = await storesNothing(() => client.post(path(), { content: 'x', user_id: 'no-such-user' }));
      expectError(res, 404, 'User not found');
    });

    it('answers 404 Room not found for an unknown room and stores nothing', async () => {
      const res = await storesNothing(() =>
        client.post('/rooms/no-such-room/messages', { content: 'x', user_id: userId }),
      );
      expectError(res, 404, 'Room not found');
    });

    it(`accepts ${MESSAGE_MAX_LENGTH} emoji (the boundary, in code points)`, async () => {
      const content = '😀'.repeat(MESSAGE_MAX_LENGTH);
      const res = await client.post(path(), { content, user_id: userId });
      expect(res.status).toBe(200);
      expect(res.body.content).toBe(content);
    });

    it(`applies the ${MESSAGE_MAX_LENGTH} limit after trimming, storing the content exactly as sent`, async () => {
      const content = ` ${'😀'.repeat(MESSAGE_MAX_LENGTH)}\n`;
      const res = await client.post(path(), { content, user_id: userId });
      expect({ status: res.status, detail: res.body.detail }).toEqual({ status: 200, detail: undefined });
      expect(res.body.content === content).toBe(true);
    });
  });

  describe.each([['/rooms'], ['/users']])('GET /api/v1%s query', (listPath) => {
    it.each([
      ['0'],
      ['1001'],
      ['-1'],
      ['abc'],
      ['1e2'],
      ['5.5'],
      ['5.0'],
      [''],
      ['+5'],
      ['%205'],
      ['0x10'],
      ['99999999999999999999'],
    ])('answers 400 naming "limit" for limit=%s', async (value) => {
      expectError(await client.get(`${listPath}?limit=${value}`), 400, expect.stringContaining('limit'));
    });

    it('answers 400 naming "limit" for a repeated limit', async () => {
      expectError(await client.get(`${listPath}?limit=1&limit=2`), 400, expect.stringContaining('limit'));
    });

    it.each([['-1'], ['abc'], ['1.5'], ['1e1'], ['']])('answers 400 naming "offset" for offset=%s', async (value) => {
      expectError(await client.get(`${listPath}?offset=${value}`), 400, expect.stringContaining('offset'));
    });

    it('answers 400 naming "offset" for a repeated offset', async () => {
      expectError(await client.get(`${listPath}?offset=0&offset=1`), 400, expect.stringContaining('offset'));
    });

    it('accepts the boundaries limit=1 and limit=1000', async () => {
      const one = await client.get(`${listPath}?limit=1`);
      expect(one.status).toBe(200);
      expect(one.body).toHaveLength(1);
      expect((await client.get(`${listPath}?limit=1000`)).status).toBe(200);
    });

    it('ignores unknown query parameters', async () => {
      const res = await client.get(`${listPath}?limit=1&color=red`);
      expect(res.status).toBe(200);
      expect(res.body).toHaveLength(1);
    });
  });

  describe('GET /api/v1/rooms/:room_id/messages query', () => {
    const path = () => `/rooms/${roomId}/messages`;

    it.each([['0'], ['201'], ['-1'], ['abc'], ['1e2'], ['5.5'], [''], ['+5'], ['99999999999999999999']])(
      'answers 400 naming "limit" for limit=%s',
      async (value) => {
        expectError(await client.get(`${path()}?limit=${value}`), 400, expect.stringContaining('limit'));
      },
    );

    it('answers 400 naming "limit" for a repeated limit', async () => {
      expectError(await client.get(`${path()}?limit=1&limit=2`), 400, expect.stringContaining('limit'));
    });

    it('answers 400 naming every bad field at once, in the order limit, before, after', async () => {
      expectError(
        await client.get(`${path()}?after=a&after=b&limit=abc&before=c&before=d`),
        400,
        'limit must be an integer from 1 to 200; before must be a message id; after must be a message id',
      );
    });

    it('ignores query parameters it does not know', async () => {
      const res = await client.get(`${path()}?limit=1&color=red`);
      expect(res.status).toBe(200);
      expect(res.body).toHaveLength(1);
    });

    it('accepts the boundaries limit=1 and limit=200', async () => {
      expect((await client.get(`${path()}?limit=1`)).body).toHaveLength(1);
      expect((await client.get(`${path()}?limit=200`)).status).toBe(200);
    });

    it('answers 400 when both before and after are given', async () => {
      const res = await client.get(`${path()}?before=${messageIds[2]}&after=${messageIds[0]}`);
      expectError(res, 400);
      expect(res.body.detail).toMatch(/before/);
      expect(res.body.detail).toMatch(/after/);
    });

    it.each([['before'], ['after']])('answers 400 naming "%s" for a cursor that is not a message id', async (name) => {
      for (const value of ['garbage', '', '0000000001', `${roomId}.1`, `${roomId}.00000000x1`]) {
        expectError(await client.get(`${path()}?${name}=${value}`), 400, expect.stringContaining(name));
      }
    });

    it.each([['before'], ['after']])('answers 400 naming "%s" for a message id of another room', async (name) => {
      expectError(await client.get(`${path()}?${name}=${otherRoomMessageId}`), 400, expect.stringContaining(name));
    });

    it.each([['before'], ['after']])('answers 400 naming "%s" for a repeated cursor', async (name) => {
      const res = await client.get(`${path()}?${name}=${messageIds[1]}&${name}=${messageIds[2]}`);
      expectError(res, 400, expect.stringContaining(name));
    });
  });

  describe('over-long path ids', () => {
    const long = 'x'.repeat(300);

    it.each([
      ['GET /api/v1/rooms/:room_id', () => client.get(`/rooms/${long}`), 'Room not found'],
      ['GET /api/v1/users/:user_id', () => client.get(`/users/${long}`), 'User not found'],
      ['GET /api/v1/rooms/:room_id/messages', () => client.get(`/rooms/${long}/messages`), 'Room not found'],
      [
        'POST /api/v1/rooms/:room_id/messages',
        () => client.post(`/rooms/${long}/messages`, { content: 'x', user_id: userId }),
        'Room not found',
      ],
    ])('%s answers 404 {"detail"} for a 300-character id', async (_name, request, detail) => {
      expectError(await storesNothing(request), 404, detail);
    });
  });

  describe('malformed percent-encoding in the path', () => {
    it.each([
      ['GET /api/v1/rooms/:room_id', () => client.get('/rooms/%E0%A4%A')],
      ['GET /api/v1/users/:user_id', () => client.get('/users/%zz')],
      [
        'POST /api/v1/rooms/:room_id/messages',
        () => client.post('/rooms/%E0%A4%A/messages', { content: 'x', user_id: userId }),
      ],
    ])('%s answers 400 or 404 with {"detail"} and X-Request-Id', async (_name, request) => {
      const res = await storesNothing(request);
      expect({ status: [400, 404].includes(res.status), body: res.body }).toEqual({
        status: true,
        body: { detail: expect.any(String) },
      });
      expect(res.headers.get('x-request-id')).toBeTruthy();
    });
  });
});
