import { createHmac, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { base64url, type CryptoKey, exportSPKI, generateKeyPair, type JWTPayload, SignJWT, UnsecuredJWT } from 'jose';
import { api, type ApiResponse, type TestServer } from '../support/app.js';
import { e2eFixture } from '../support/fixture.js';
import type { RedisServer } from '../support/redis-server.js';

/**
 * Opt-in JWT authentication over REST (SPEC §6), against the built server with
 * HS256, RS256 and ES256 keys made here, plus the per-`sub` rate limit and the
 * unchanged behaviour with authentication off.
 */

const SECRET = 'e2e-rest-secret-0123456789abcdef-0123456789';
const ISSUER = 'https://id.example.com/';
const AUDIENCE = 'parley-e2e';
const now = () => Math.floor(Date.now() / 1000);

type Alg = 'HS256' | 'RS256' | 'ES256';
type SigningKey = KeyObject | CryptoKey | Uint8Array;

interface Issuer {
  alg: Alg;
  key: SigningKey;
  /** Claims every token of this issuer carries (iss/aud where the server checks them). */
  base: JWTPayload;
  /** The public key PEM the server was given (RS256 / ES256). */
  publicPem?: string;
}

function sign(issuer: Issuer, claims: JWTPayload, key: SigningKey = issuer.key, alg: string = issuer.alg): Promise<string> {
  return new SignJWT({ ...issuer.base, ...claims }).setProtectedHeader({ alg, typ: 'JWT' }).sign(key);
}

/** A valid token for `sub` (10 minutes), with extra claims. */
function tokenFor(issuer: Issuer, sub: string, extra: JWTPayload = {}): Promise<string> {
  return sign(issuer, { sub, exp: now() + 600, ...extra });
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

function hs256WithRawKey(claims: JWTPayload, key: string): string {
  const h = base64url.encode(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const p = base64url.encode(JSON.stringify(claims));
  return `${h}.${p}.${createHmac('sha256', key).update(`${h}.${p}`).digest('base64url')}`;
}

/** The token with the first character of its signature changed. */
function tamper(token: string): string {
  const [h, p, s] = token.split('.');
  return `${h}.${p}.${s[0] === 'A' ? 'B' : 'A'}${s.slice(1)}`;
}

function expectUnauthorized(res: ApiResponse, detail: string | RegExp, tokenSent = true): void {
  expect(res.status).toBe(401);
  expect(Object.keys(res.body)).toEqual(['detail']);
  if (typeof detail === 'string') expect(res.body.detail).toBe(detail);
  else expect(res.body.detail).toMatch(detail);
  expect(res.headers.get('www-authenticate')).toBe(
    tokenSent ? 'Bearer realm="parley", error="invalid_token"' : 'Bearer realm="parley"',
  );
  expect(res.headers.get('x-request-id')).toBeTruthy();
}

function expectForbidden(res: ApiResponse, detail: string): void {
  expect({ status: res.status, body: res.body }).toEqual({ status: 403, body: { detail } });
}

const fixture = e2eFixture();
let issuers: Record<Alg, Issuer>;
let hs: TestServer;
let rs: TestServer;
let es: TestServer;
let off: TestServer;

beforeAll(async () => {
  const rsa = await generateKeyPair('RS256', { extractable: true });
  const rsaPem = await exportSPKI(rsa.publicKey);
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const ecPem = ec.publicKey.export({ type: 'spki', format: 'pem' }).toString();
  issuers = {
    HS256: { alg: 'HS256', key: new TextEncoder().encode(SECRET), base: { iss: ISSUER, aud: AUDIENCE } },
    RS256: { alg: 'RS256', key: rsa.privateKey, base: {}, publicPem: rsaPem },
    ES256: { alg: 'ES256', key: ec.privateKey, base: {}, publicPem: ecPem },
  };
  const quiet = { RATE_LIMIT_LIMIT: '100000' };
  hs = await fixture.startServer({
    ...quiet,
    AUTH_JWT_SECRET: SECRET,
    AUTH_JWT_ISSUER: ISSUER,
    AUTH_JWT_AUDIENCE: AUDIENCE,
    AUTH_CLOCK_SKEW: '5',
  });
  // One line with \n escapes, as a .env file or a container setting carries it.
  rs = await fixture.startServer({ ...quiet, AUTH_JWT_PUBLIC_KEY: rsaPem.trim().replace(/\n/g, '\\n') });
  es = await fixture.startServer({ ...quiet, AUTH_JWT_PUBLIC_KEY: ecPem });
  off = await fixture.startServer(quiet);
}, 90_000);

describe('REST with authentication on', () => {
  describe.each(['HS256', 'RS256', 'ES256'] as const)('%s', (alg) => {
    let server: TestServer;
    let issuer: Issuer;
    let client: ReturnType<typeof api>;
    let admin: Record<string, string>;
    let roomId: string;
    let userId: string;
    let asUser: Record<string, string>;

    beforeAll(async () => {
      server = { HS256: hs, RS256: rs, ES256: es }[alg];
      issuer = issuers[alg];
      client = api(server.baseUrl);
      admin = bearer(await tokenFor(issuer, 'ops-admin', { admin: true }));
      const room = await client.post('/rooms', { name: `Auth ${alg}` }, admin);
      expect(room.status).toBe(200);
      roomId = room.body.id;
      const user = await client.post('/users', { username: `auth_${alg.toLowerCase()}_${Date.now().toString(36)}` }, admin);
      expect(user.status).toBe(200);
      userId = user.body.id;
      asUser = bearer(await tokenFor(issuer, userId));
    });

    /** Every /api/v1 route, with a body that would succeed for the right token. */
    const routes = (): [string, string, unknown?][] => [
      ['GET', '/rooms'],
      ['POST', '/rooms', { name: 'Locked out' }],
      ['GET', `/rooms/${roomId}`],
      ['GET', '/users'],
      ['POST', '/users', { username: `locked_${Date.now().toString(36)}` }],
      ['GET', `/users/${userId}`],
      ['GET', `/rooms/${roomId}/messages`],
      ['POST', `/rooms/${roomId}/messages`, { content: 'locked out', user_id: userId }],
    ];

    it('answers 401 {"detail"} with WWW-Authenticate: Bearer on every /api/v1 route without a token', async () => {
      for (const [method, path, body] of routes()) {
        expectUnauthorized(await client.call(method, path, body), 'Missing bearer token', false);
      }
    });

    it('serves every /api/v1 route to a valid token (admin for POST /users, sub = user_id for messages)', async () => {
      const statuses = [];
      for (const [method, path, body] of routes()) {
        const headers = method === 'POST' && path === '/users' ? admin : asUser;
        statuses.push((await client.call(method, path, body, headers)).status);
      }
      expect(statuses).toEqual([200, 200, 200, 200, 200, 200, 200, 200]);
      const messages = (await client.get(`/rooms/${roomId}/messages`, asUser)).body as { content: string; user_id: string }[];
      expect(messages.at(-1)).toMatchObject({ content: 'locked out', user_id: userId });
    });

    it.each([
      ['a Basic header', () => 'Basic dXNlcjpwYXNz', 'Authorization header must be "Bearer <token>"'],
      ['a bare token', async () => tokenFor(issuers[alg], 'x'), 'Authorization header must be "Bearer <token>"'],
      ['"Bearer" alone', () => 'Bearer', 'Authorization header must be "Bearer <token>"'],
      ['a garbage token', () => 'Bearer not.a.jwt', 'Invalid token'],
    ])('answers 401 for %s', async (_what, header, detail) => {
      const res = await client.get('/rooms', { authorization: await header() });
      expectUnauthorized(res, detail);
    });

    it('answers 401 for a tampered signature and for a payload changed after signing', async () => {
      const good = await tokenFor(issuer, userId);
      expectUnauthorized(await client.get('/rooms', bearer(tamper(good))), /^Invalid token/);
      const [h, , s] = good.split('.');
      const forged = `${h}.${base64url.encode(JSON.stringify({ ...issuer.base, sub: userId, exp: now() + 600, admin: true }))}.${s}`;
      expectUnauthorized(await client.post('/users', { username: 'forged_admin' }, bearer(forged)), 'Invalid token signature');
    });

    it('answers 401 for a token signed with another key', async () => {
      const other = alg === 'HS256' ? new TextEncoder().encode(`${SECRET}!other`) : (await generateKeyPair(alg)).privateKey;
      const token = await sign(issuer, { sub: userId, exp: now() + 600 }, other);
      expectUnauthorized(await client.get('/rooms', bearer(token)), 'Invalid token signature');
    });

    it('answers 401 for an unsecured token (alg "none")', async () => {
      const token = new UnsecuredJWT({ ...issuer.base, sub: 'ops-admin', admin: true, exp: now() + 600 }).encode();
      expectUnauthorized(await client.get('/rooms', bearer(token)), /^(Token algorithm not accepted|Invalid token)$/);
      expectUnauthorized(await client.post('/users', { username: 'none_admin' }, bearer(token)), /token|algorithm/i);
    });

    it('answers 401 for an expired token and for one not valid yet', async () => {
      const expired = await sign(issuer, { sub: userId, exp: now() - 120 });
      expectUnauthorized(await client.get('/rooms', bearer(expired)), 'Token expired');
      const early = await sign(issuer, { sub: userId, exp: now() + 600, nbf: now() + 300 });
      expectUnauthorized(await client.get('/rooms', bearer(early)), 'Token not yet valid');
    });

    it('answers 401 for a token without sub or without exp', async () => {
      expectUnauthorized(await client.get('/rooms', bearer(await sign(issuer, { exp: now() + 600 }))), 'Token has no valid sub claim');
      expectUnauthorized(await client.get('/rooms', bearer(await sign(issuer, { sub: userId }))), 'Token has no valid exp claim');
    });

    it('answers 401 before 404: an unknown room is not revealed without a token', async () => {
      expectUnauthorized(await client.get('/rooms/no-such-room'), 'Missing bearer token', false);
      expect((await client.get('/rooms/no-such-room', asUser)).status).toBe(404);
    });

    it('answers 403 to a message whose user_id is not the token sub, and stores nothing', async () => {
      const other = bearer(await tokenFor(issuer, 'someone-else'));
      const content = `impersonation ${Date.now()}`;
      expectForbidden(
        await client.post(`/rooms/${roomId}/messages`, { content, user_id: userId }, other),
        'Token subject does not match user_id',
      );
      // An admin token does not make impersonation allowed either.
      expectForbidden(
        await client.post(`/rooms/${roomId}/messages`, { content, user_id: userId }, admin),
        'Token subject does not match user_id',
      );
      const messages = (await client.get(`/rooms/${roomId}/messages`, asUser)).body as { content: string }[];
      expect(messages.some((m) => m.content === content)).toBe(false);
    });

    it('still validates the body first when user_id is missing (400), and 404s an unknown sub user', async () => {
      const missing = await client.post(`/rooms/${roomId}/messages`, { content: 'x' }, asUser);
      expect(missing.status).toBe(400);
      expect(missing.body.detail).toMatch(/user_id/);
      const ghost = bearer(await tokenFor(issuer, 'ghost-user'));
      const res = await client.post(`/rooms/${roomId}/messages`, { content: 'x', user_id: 'ghost-user' }, ghost);
      expect({ status: res.status, body: res.body }).toEqual({ status: 404, body: { detail: 'User not found' } });
    });

    it('answers 403 to POST /users without "admin": true, and creates nobody', async () => {
      const username = `nonadmin_${Date.now().toString(36)}`;
      expectForbidden(await client.post('/users', { username }, asUser), 'Creating users requires an admin token');
      for (const claim of ['true', 1]) {
        const token = bearer(await tokenFor(issuer, 'ops', { admin: claim }));
        expectForbidden(await client.post('/users', { username }, token), 'Creating users requires an admin token');
      }
      const users = (await client.get('/users?limit=1000', asUser)).body as { username: string }[];
      expect(users.some((u) => u.username === username)).toBe(false);
      // Reading users and creating rooms need no admin claim.
      expect((await client.get(`/users/${userId}`, asUser)).status).toBe(200);
      expect((await client.post('/rooms', { name: 'By a user' }, asUser)).status).toBe(200);
    });

    it('keeps /health, /health/ready, /metrics and /docs open', async () => {
      for (const path of ['/health', '/health/ready', '/docs', '/docs-json']) {
        const res = await fetch(`${server.baseUrl}${path}`);
        expect({ path, status: res.status }).toEqual({ path, status: 200 });
        expect(res.headers.get('www-authenticate')).toBeNull();
      }
      // /metrics is not an /api/v1 route: never a 401, token or not.
      const metrics = await fetch(`${server.baseUrl}/metrics`, { headers: { authorization: 'Bearer junk' } });
      expect(metrics.status).not.toBe(401);
      const health = await fetch(`${server.baseUrl}/health`, { headers: { authorization: 'Bearer junk' } });
      expect(health.status).toBe(200);
    });
  });

  describe('issuer and audience (AUTH_JWT_ISSUER / AUTH_JWT_AUDIENCE)', () => {
    it('answers 401 for a wrong or missing iss or aud, and 200 for the configured ones', async () => {
      const client = api(hs.baseUrl);
      const key = issuers.HS256.key;
      const make = (claims: JWTPayload) =>
        new SignJWT({ sub: 'u1', exp: now() + 600, ...claims }).setProtectedHeader({ alg: 'HS256' }).sign(key);
      expect((await client.get('/rooms', bearer(await make({ iss: ISSUER, aud: AUDIENCE })))).status).toBe(200);
      expect((await client.get('/rooms', bearer(await make({ iss: ISSUER, aud: ['other', AUDIENCE] })))).status).toBe(200);
      expectUnauthorized(await client.get('/rooms', bearer(await make({ iss: 'https://evil.example/', aud: AUDIENCE }))), 'Token issuer not accepted');
      expectUnauthorized(await client.get('/rooms', bearer(await make({ iss: ISSUER, aud: 'other-app' }))), 'Token audience not accepted');
      expectUnauthorized(await client.get('/rooms', bearer(await make({ aud: AUDIENCE }))), /iss/);
      expectUnauthorized(await client.get('/rooms', bearer(await make({ iss: ISSUER }))), /aud/);
    });
  });

  describe('clock skew (AUTH_CLOCK_SKEW=5)', () => {
    it('accepts a token expired 2 s ago, refuses one expired 10 s ago', async () => {
      const client = api(hs.baseUrl);
      const within = await sign(issuers.HS256, { sub: 'u1', exp: now() - 2 });
      expect((await client.get('/rooms', bearer(within))).status).toBe(200);
      const beyond = await sign(issuers.HS256, { sub: 'u1', exp: now() - 10 });
      expectUnauthorized(await client.get('/rooms', bearer(beyond)), 'Token expired');
    });
  });

  describe('algorithm pinning', () => {
    it.each(['RS256', 'ES256'] as const)(
      'refuses an HS256 token keyed with the %s public key PEM (algorithm confusion)',
      async (alg) => {
        const server = alg === 'RS256' ? rs : es;
        const pem = issuers[alg].publicPem ?? '';
        const claims = { sub: 'attacker', exp: now() + 600, admin: true };
        for (const key of [pem, pem.trim(), pem.trim().replace(/\n/g, '\\n')]) {
          const res = await api(server.baseUrl).post('/users', { username: 'confused_admin' }, bearer(hs256WithRawKey(claims, key)));
          expectUnauthorized(res, 'Token algorithm not accepted');
        }
      },
    );

    it('refuses RS256 and ES256 tokens on the HS256 server, and ES256 on the RS256 server', async () => {
      const claims = { sub: 'u1', exp: now() + 600, iss: ISSUER, aud: AUDIENCE };
      for (const alg of ['RS256', 'ES256'] as const) {
        expectUnauthorized(await api(hs.baseUrl).get('/rooms', bearer(await sign(issuers[alg], claims))), 'Token algorithm not accepted');
      }
      expectUnauthorized(await api(rs.baseUrl).get('/rooms', bearer(await sign(issuers.ES256, claims))), 'Token algorithm not accepted');
    });
  });
});

describe('REST with authentication off', () => {
  it('serves every route without a token, exactly as before', async () => {
    const client = api(off.baseUrl);
    const room = await client.post('/rooms', { name: 'Open room' });
    const user = await client.post('/users', { username: `open_${Date.now().toString(36)}` });
    expect([room.status, user.status]).toEqual([200, 200]);
    const sent = await client.post(`/rooms/${room.body.id}/messages`, { content: 'hi', user_id: user.body.id });
    expect(sent.status).toBe(200);
    expect(sent.body).toMatchObject({ content: 'hi', user_id: user.body.id, room_id: room.body.id });
    const answers = [
      await client.get('/rooms'),
      await client.get(`/rooms/${room.body.id}`),
      await client.get('/users'),
      await client.get(`/users/${user.body.id}`),
      await client.get(`/rooms/${room.body.id}/messages`),
    ];
    expect(answers.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
    expect(answers.every((r) => r.headers.get('www-authenticate') === null)).toBe(true);
    expect(answers[0].headers.get('x-ratelimit-limit')).toBe('100000');
  });

  it('ignores any Authorization header, even a junk one', async () => {
    const client = api(off.baseUrl);
    const res = await client.post('/users', { username: `junk_${Date.now().toString(36)}` }, { authorization: 'Bearer junk' });
    expect(res.status).toBe(200);
    expect((await client.get('/rooms', { authorization: 'Basic abc' })).status).toBe(200);
  });

  it('documents bearer auth in /docs-json so "Authorize" works in /docs', async () => {
    const doc = (await (await fetch(`${off.baseUrl}/docs-json`)).json()) as {
      components: { securitySchemes?: Record<string, Record<string, unknown>> };
      paths: Record<string, Record<string, { security?: unknown; responses: Record<string, unknown> }>>;
    };
    expect(doc.components.securitySchemes?.bearer).toMatchObject({ type: 'http', scheme: 'bearer', bearerFormat: 'JWT' });
    const apiOps = Object.entries(doc.paths).filter(([path]) => path.startsWith('/api/v1/'));
    expect(apiOps.length).toBeGreaterThanOrEqual(5);
    for (const [path, ops] of apiOps) {
      for (const [method, op] of Object.entries(ops)) {
        expect({ op: `${method} ${path}`, security: op.security }).toEqual({ op: `${method} ${path}`, security: [{ bearer: [] }] });
        expect(Object.keys(op.responses)).toContain('401');
      }
    }
    expect(Object.keys(doc.paths['/api/v1/users'].post.responses)).toContain('403');
    expect(Object.keys(doc.paths['/api/v1/rooms/{room_id}/messages'].post.responses)).toContain('403');
    expect(doc.paths['/health'].get.security).toBeUndefined();
  });
});

describe('rate limiting with authentication on', () => {
  const LIMIT = 5;
  const TTL = 60;
  const limitedFixture = e2eFixture();
  let redis: RedisServer;
  let proxied: TestServer;
  let shared1: TestServer;
  let shared2: TestServer;
  let ipCounter = 0;
  let subCounter = 0;
  const nextIp = () => `198.51.100.${++ipCounter}`;
  const nextSub = () => `limited-${process.pid}-${++subCounter}`;
  const token = (sub: string) => tokenFor(issuers.HS256, sub);
  const from = (ip: string, t?: string) => ({ 'x-forwarded-for': ip, ...(t ? bearer(t) : {}) });
  const remaining = (res: ApiResponse) => Number(res.headers.get('x-ratelimit-remaining'));

  function expectTooMany(res: ApiResponse): void {
    expect({ status: res.status, body: res.body }).toEqual({ status: 429, body: { detail: 'Too Many Requests' } });
    const retryAfter = Number(res.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(TTL);
  }

  beforeAll(async () => {
    redis = await limitedFixture.startRedis();
    const vars = {
      AUTH_JWT_SECRET: SECRET,
      AUTH_JWT_ISSUER: ISSUER,
      AUTH_JWT_AUDIENCE: AUDIENCE,
      RATE_LIMIT_LIMIT: String(LIMIT),
      RATE_LIMIT_TTL: String(TTL),
      TRUST_PROXY: '127.0.0.1',
    };
    proxied = await limitedFixture.startServer(vars);
    shared1 = await limitedFixture.startServer({ ...vars, REDIS_URL: redis.url });
    shared2 = await limitedFixture.startServer({ ...vars, REDIS_URL: redis.url });
  }, 90_000);

  it('counts one user against one budget across IPs (no hiding behind many addresses)', async () => {
    const client = api(proxied.baseUrl);
    const t = await token(nextSub());
    const seen = [];
    for (let i = 0; i < LIMIT; i++) {
      const res = await client.get('/rooms', from(nextIp(), t));
      expect(res.status).toBe(200);
      seen.push(remaining(res));
    }
    expect(seen).toEqual([4, 3, 2, 1, 0]);
    const lastIp = nextIp();
    expectTooMany(await client.get('/rooms', from(lastIp, t)));
    // That IP is not spent: another user behind it still gets through.
    const other = await client.get('/rooms', from(lastIp, await token(nextSub())));
    expect(other.status).toBe(200);
  });

  it('counts one IP against one budget across users (a shared NAT is still one IP budget)', async () => {
    const client = api(proxied.baseUrl);
    const ip = nextIp();
    const seen = [];
    for (let i = 0; i < LIMIT; i++) {
      const res = await client.get('/users', from(ip, await token(nextSub())));
      expect(res.status).toBe(200);
      seen.push(remaining(res));
    }
    expect(seen).toEqual([4, 3, 2, 1, 0]);
    expectTooMany(await client.get('/users', from(ip, await token(nextSub()))));
  });

  it('reports the tighter budget in the unsuffixed X-RateLimit-* headers', async () => {
    const client = api(proxied.baseUrl);
    const t = await token(nextSub());
    for (let i = 0; i < 3; i++) expect((await client.get('/rooms', from(nextIp(), t))).status).toBe(200);
    // A fresh IP (4 left after this request) but a user with 1 left: the user's budget is reported.
    const res = await client.get('/rooms', from(nextIp(), t));
    expect(res.headers.get('x-ratelimit-limit')).toBe(String(LIMIT));
    expect(remaining(res)).toBe(1);
    const reset = Number(res.headers.get('x-ratelimit-reset'));
    expect(reset).toBeGreaterThan(0);
    expect(reset).toBeLessThanOrEqual(TTL);
    const names = [...res.headers.keys()].filter((k) => /^(x-ratelimit|retry-after)/.test(k)).sort();
    expect(names).toEqual(['x-ratelimit-limit', 'x-ratelimit-remaining', 'x-ratelimit-reset']);
    // The other way round: a busy IP and a fresh user report the IP's budget.
    const ip = nextIp();
    for (let i = 0; i < 2; i++) await client.get('/rooms', from(ip, await token(nextSub())));
    expect(remaining(await client.get('/rooms', from(ip, await token(nextSub()))))).toBe(2);
  });

  it('answers a spent user budget with 429 and an unsuffixed Retry-After', async () => {
    const client = api(proxied.baseUrl);
    const t = await token(nextSub());
    for (let i = 0; i < LIMIT; i++) await client.post('/rooms', { name: 'spam' }, from(nextIp(), t));
    const refused = await client.post('/rooms', { name: 'spam' }, from(nextIp(), t));
    expectTooMany(refused);
    const names = [...refused.headers.keys()].filter((k) => k.startsWith('retry-after'));
    expect(names).toEqual(['retry-after']);
  });

  it('counts requests with a missing or bad token against the IP budget', async () => {
    const client = api(proxied.baseUrl);
    const ip = nextIp();
    for (let i = 0; i < 3; i++) expect((await client.get('/rooms', from(ip))).status).toBe(401);
    for (let i = 0; i < 2; i++) expect((await client.get('/rooms', from(ip, 'junk.token.here'))).status).toBe(401);
    expectTooMany(await client.get('/rooms', from(ip, await token(nextSub()))));
  });

  it('shares the user budget between instances on one Redis', async () => {
    const one = api(shared1.baseUrl);
    const two = api(shared2.baseUrl);
    const t = await token(nextSub());
    const seen = [];
    for (let i = 0; i < LIMIT; i++) {
      const res = await (i % 2 === 0 ? one : two).get('/rooms', from(nextIp(), t));
      expect(res.status).toBe(200);
      seen.push(remaining(res));
    }
    expect(seen).toEqual([4, 3, 2, 1, 0]);
    expectTooMany(await one.get('/rooms', from(nextIp(), t)));
    expectTooMany(await two.get('/rooms', from(nextIp(), t)));
  });
});
