import { api, type ApiResponse, type TestServer } from '../support/app.js';
import { e2eFixture } from '../support/fixture.js';
import { RawConnection } from '../support/raw-http.js';

/**
 * CORS as the server answers it (`app.enableCors(...)` in src/bootstrap.ts: @fastify/cors
 * with `strictPreflight: false`, run before the body is read). Not part of the API contract,
 * but product behaviour: this suite pins every CORS header exactly, so that a change in how
 * CORS is wired shows up here. `corsOf()` picks every `access-control-*` header and `vary`,
 * and each test compares that set as a whole: a header added or dropped fails it.
 */

const EXPOSED =
  'X-Request-Id, Retry-After, X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset, WWW-Authenticate';
const ALLOWED_METHODS = 'GET,HEAD,POST';
const BODY_LIMIT = 1024;

const ORIGIN = 'http://client.example';
const GOOD = 'http://good.example';
const ALSO_GOOD = 'http://also-good.example';
const EVIL = 'http://evil.example';

/** What every answer carries under the default `CORS_ORIGINS` (`*`): no `vary`. */
const ANY_ORIGIN = { 'access-control-allow-origin': '*', 'access-control-expose-headers': EXPOSED };

/** The request headers of a browser's preflight for a JSON POST with a bearer token. */
const PREFLIGHT = {
  'access-control-request-method': 'POST',
  'access-control-request-headers': 'content-type,authorization',
};

/** The request headers the preflights above ask for, reflected in `access-control-allow-headers`. */
const REQUESTED = PREFLIGHT['access-control-request-headers'];
/** `vary` on a preflight answer: with `*`, and with an origin list (where every answer varies on Origin). */
const VARY_ANY = 'Access-Control-Request-Headers';
const VARY_LISTED = 'Origin, Access-Control-Request-Headers';

/** A preflight answer's CORS headers: the answer's own, the allowed methods, the requested headers if any, and `vary`. */
function preflightCors(own: Record<string, string>, vary: string, requested?: string): Record<string, string> {
  return {
    ...own,
    'access-control-allow-methods': ALLOWED_METHODS,
    ...(requested === undefined ? {} : { 'access-control-allow-headers': requested }),
    vary,
  };
}

type Client = ReturnType<typeof api>;

/** The CORS-relevant headers of an answer: every `access-control-*` header, and `vary`. */
function corsOf(headers: Headers | Record<string, string>): Record<string, string> {
  const entries = headers instanceof Headers ? [...headers.entries()] : Object.entries(headers);
  return Object.fromEntries(entries.filter(([name]) => name.startsWith('access-control-') || name === 'vary'));
}

/** The status and the exact `{"detail"}` body of an error answer, with its request id. */
function expectError(res: ApiResponse, status: number, detail: string): void {
  expect({ status: res.status, body: res.body }).toEqual({ status, body: { detail } });
  expect(res.headers.get('x-request-id')).toBeTruthy();
}

/** A request to a path outside `/api/v1` (`/health`). */
async function fetchPath(baseUrl: string, path: string, headers: Record<string, string> = {}): Promise<ApiResponse> {
  const res = await fetch(`${baseUrl}${path}`, { headers });
  const text = await res.text();
  return { status: res.status, body: JSON.parse(text), text, headers: res.headers };
}

/** A preflight-style OPTIONS: 204, an empty body, `content-length: 0` and a request id. */
function expectNoContent(res: ApiResponse): void {
  expect({ status: res.status, text: res.text }).toEqual({ status: 204, text: '' });
  expect(res.headers.get('content-length')).toBe('0');
  expect(res.headers.get('x-request-id')).toBeTruthy();
}

/** A JSON room body of more than `BODY_LIMIT` bytes. */
const OVERSIZED = JSON.stringify({ name: 'x', pad: 'p'.repeat(2 * BODY_LIMIT) });

describe('CORS with the default CORS_ORIGINS (*)', () => {
  const fixture = e2eFixture();
  let server: TestServer;
  let client: Client;

  beforeAll(async () => {
    server = await fixture.startServer({ STORE: 'memory', BODY_LIMIT: String(BODY_LIMIT) });
    client = api(server.baseUrl);
  }, 60_000);

  describe('successful answers', () => {
    it.each([
      ['with an Origin', { origin: ORIGIN }],
      ['without an Origin', {}],
    ])('GET /api/v1/rooms %s answers 200 with allow-origin * and the exposed headers', async (_what, headers) => {
      const res = await client.get('/rooms', headers);
      expect(res.status).toBe(200);
      expect(res.body).toEqual(expect.any(Array));
      expect(corsOf(res.headers)).toEqual(ANY_ORIGIN);
    });

    it.each([
      ['with an Origin', { origin: ORIGIN }],
      ['without an Origin', {}],
    ])('POST /api/v1/rooms %s answers 200 with allow-origin * and the exposed headers', async (_what, headers) => {
      const res = await client.post('/rooms', { name: 'Cors' }, headers);
      expect({ status: res.status, name: res.body.name }).toEqual({ status: 200, name: 'Cors' });
      expect(corsOf(res.headers)).toEqual(ANY_ORIGIN);
    });

    it.each([
      ['with an Origin', { origin: ORIGIN }],
      ['without an Origin', {}],
    ])('GET /health %s answers 200 with allow-origin * and the exposed headers', async (_what, headers) => {
      const res = await fetchPath(server.baseUrl, '/health', headers);
      expect({ status: res.status, body: res.body }).toEqual({ status: 200, body: { status: 'ok' } });
      expect(corsOf(res.headers)).toEqual(ANY_ORIGIN);
    });
  });

  describe('error answers carry the same CORS headers', () => {
    const cases: [string, number, string, (c: Client) => Promise<ApiResponse>][] = [
      ['malformed JSON', 400, 'Malformed JSON in request body', (c) => c.post('/rooms', '{"name"', { origin: ORIGIN })],
      [
        'a validation error',
        400,
        'name must be 1-100 characters after trimming',
        (c) => c.post('/rooms', { name: '' }, { origin: ORIGIN }),
      ],
      ['an unknown room', 404, 'Room not found', (c) => c.get('/rooms/no-such-room', { origin: ORIGIN })],
      ['an unknown route', 404, 'Not Found', (c) => c.get('/nope', { origin: ORIGIN })],
      [
        'a body over BODY_LIMIT',
        413,
        `Request body is too large (limit ${BODY_LIMIT} bytes)`,
        (c) => c.post('/rooms', OVERSIZED, { origin: ORIGIN }),
      ],
      [
        'a text/plain body',
        415,
        'Content-Type must be application/json',
        (c) => c.post('/rooms', 'hello', { origin: ORIGIN, 'content-type': 'text/plain' }),
      ],
    ];

    it.each(cases)('answers %s %i with allow-origin * and the exposed headers', async (_what, status, detail, request) => {
      const res = await request(client);
      expectError(res, status, detail);
      expect(corsOf(res.headers)).toEqual(ANY_ORIGIN);
    });
  });

  describe('preflight (OPTIONS)', () => {
    it('answers a full preflight 204 with the allowed methods, the requested headers reflected and Vary', async () => {
      const res = await client.call('OPTIONS', '/rooms', undefined, { origin: ORIGIN, ...PREFLIGHT });
      expectNoContent(res);
      expect(corsOf(res.headers)).toEqual(preflightCors(ANY_ORIGIN, VARY_ANY, REQUESTED));
    });

    it('answers a preflight for an unknown route 204 as well (preflights are not routed)', async () => {
      const res = await client.call('OPTIONS', '/nope', undefined, { origin: ORIGIN, ...PREFLIGHT });
      expectNoContent(res);
      expect(corsOf(res.headers)).toEqual(preflightCors(ANY_ORIGIN, VARY_ANY, REQUESTED));
    });

    it('answers a preflight for a method it does not allow 204 with the same allowed methods', async () => {
      const res = await client.call('OPTIONS', '/rooms', undefined, {
        origin: ORIGIN,
        'access-control-request-method': 'DELETE',
      });
      expectNoContent(res);
      expect(corsOf(res.headers)).toEqual(preflightCors(ANY_ORIGIN, VARY_ANY));
    });

    it.each([
      ['no preflight headers at all', {}],
      ['an Origin only', { origin: ORIGIN }],
      ['Access-Control-Request-Method only', { 'access-control-request-method': 'POST' }],
    ])('answers an OPTIONS with %s as a preflight too: 204, no allow-headers', async (_what, headers) => {
      const res = await client.call('OPTIONS', '/rooms', undefined, headers);
      expectNoContent(res);
      expect(corsOf(res.headers)).toEqual(preflightCors(ANY_ORIGIN, VARY_ANY));
    });
  });

  describe('answers refused before any request hook runs carry no CORS headers', () => {
    it('answers a malformed URL 400 without CORS headers', async () => {
      const res = await client.get('/rooms/%zz', { origin: ORIGIN });
      expectError(res, 400, 'Malformed URL');
      expect(corsOf(res.headers)).toEqual({});
    });

    it("answers headers over Node's limit 431 without CORS headers", async () => {
      const conn = await RawConnection.open(server.port);
      try {
        await conn.send('GET', '/api/v1/rooms', undefined, { Origin: ORIGIN, 'X-Big': 'a'.repeat(20_000) });
        const res = await conn.response();
        expect({ status: res.status, body: JSON.parse(res.body) }).toEqual({
          status: 431,
          body: { detail: 'Request headers are too large' },
        });
        expect(res.headers['x-request-id']).toBeTruthy();
        expect(corsOf(res.headers)).toEqual({});
      } finally {
        conn.destroy();
      }
    });
  });
});

describe('CORS on rate-limited answers (RATE_LIMIT_LIMIT=2)', () => {
  const fixture = e2eFixture();
  let client: Client;

  beforeAll(async () => {
    const server = await fixture.startServer({ STORE: 'memory', RATE_LIMIT_LIMIT: '2', RATE_LIMIT_TTL: '60' });
    client = api(server.baseUrl);
    for (let i = 0; i < 2; i++) expect((await client.get('/rooms', { origin: ORIGIN })).status).toBe(200);
  }, 60_000);

  it('answers 429 with allow-origin *, the exposed headers and Retry-After', async () => {
    const res = await client.get('/rooms', { origin: ORIGIN });
    expectError(res, 429, 'Too Many Requests');
    expect(res.headers.get('retry-after')).toMatch(/^[1-9][0-9]*$/);
    expect(corsOf(res.headers)).toEqual(ANY_ORIGIN);
  });

  it('still answers a preflight 204 once the budget is spent (preflights are not counted)', async () => {
    const res = await client.call('OPTIONS', '/rooms', undefined, { origin: ORIGIN, ...PREFLIGHT });
    expectNoContent(res);
    expect(corsOf(res.headers)).toEqual(preflightCors(ANY_ORIGIN, VARY_ANY, REQUESTED));
  });
});

describe(`CORS with CORS_ORIGINS='${GOOD}, ${ALSO_GOOD}'`, () => {
  const fixture = e2eFixture();
  let client: Client;

  beforeAll(async () => {
    const server = await fixture.startServer({ STORE: 'memory', CORS_ORIGINS: `${GOOD}, ${ALSO_GOOD}` });
    client = api(server.baseUrl);
  }, 60_000);

  /** Every answer varies on Origin; only a listed origin is echoed back. */
  const allowed = (origin: string) => ({
    vary: 'Origin',
    'access-control-allow-origin': origin,
    'access-control-expose-headers': EXPOSED,
  });
  const refused = { vary: 'Origin', 'access-control-expose-headers': EXPOSED };

  // Origins are compared as exact strings: case, a trailing slash or the scheme make another origin.
  const NOT_LISTED = [EVIL, 'http://GOOD.example', `${GOOD}/`, 'https://good.example'];

  it.each([GOOD, ALSO_GOOD])('echoes the listed origin %s on a 200', async (origin) => {
    const res = await client.get('/rooms', { origin });
    expect({ status: res.status, body: res.body }).toEqual({ status: 200, body: [] });
    expect(corsOf(res.headers)).toEqual(allowed(origin));
  });

  it.each(NOT_LISTED)('answers the unlisted origin %s 200 all the same, without allow-origin', async (origin) => {
    const res = await client.get('/rooms', { origin });
    expect({ status: res.status, body: res.body }).toEqual({ status: 200, body: [] });
    expect(corsOf(res.headers)).toEqual(refused);
  });

  it('answers a request without an Origin with Vary: Origin and no allow-origin', async () => {
    const res = await client.get('/rooms');
    expect(res.status).toBe(200);
    expect(corsOf(res.headers)).toEqual(refused);
  });

  it('echoes a listed origin on a 404', async () => {
    const res = await client.get('/rooms/no-such-room', { origin: GOOD });
    expectError(res, 404, 'Room not found');
    expect(corsOf(res.headers)).toEqual(allowed(GOOD));
  });

  it('answers an unlisted origin a 404 without allow-origin', async () => {
    const res = await client.get('/rooms/no-such-room', { origin: EVIL });
    expectError(res, 404, 'Room not found');
    expect(corsOf(res.headers)).toEqual(refused);
  });

  it('answers a preflight from a listed origin 204, echoing it', async () => {
    const res = await client.call('OPTIONS', '/rooms', undefined, { origin: GOOD, ...PREFLIGHT });
    expectNoContent(res);
    expect(corsOf(res.headers)).toEqual(preflightCors(allowed(GOOD), VARY_LISTED, REQUESTED));
  });

  it('answers a preflight from an unlisted origin 204 too, but without allow-origin', async () => {
    const res = await client.call('OPTIONS', '/rooms', undefined, { origin: EVIL, ...PREFLIGHT });
    expectNoContent(res);
    expect(corsOf(res.headers)).toEqual(preflightCors(refused, VARY_LISTED, REQUESTED));
  });

  it('answers an OPTIONS without preflight headers 204 with the allowed methods and no allow-origin', async () => {
    const res = await client.call('OPTIONS', '/rooms');
    expectNoContent(res);
    expect(corsOf(res.headers)).toEqual(preflightCors(refused, VARY_LISTED));
  });
});
