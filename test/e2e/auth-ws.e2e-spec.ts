import { createHmac, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { base64url, type CryptoKey, exportSPKI, generateKeyPair, type JWTPayload, SignJWT, UnsecuredJWT } from 'jose';
import { api, type TestServer } from '../support/app.js';
import { e2eFixture } from '../support/fixture.js';
import { closeAllSockets, connectWs, roomWsUrl, type TestSocket } from '../support/ws-client.js';

/**
 * Opt-in JWT authentication on the WebSocket (SPEC §6): `?token=` on the upgrade,
 * accepted then closed with 4401 / 4403 like the 4404 flow, and closed with 4401
 * when the token expires while the socket is open.
 */

const SECRET = 'e2e-ws-secret-0123456789abcdef-0123456789ab';
const SECRET_KEY = new TextEncoder().encode(SECRET);
const now = () => Math.floor(Date.now() / 1000);

function sign(claims: JWTPayload, key: KeyObject | Uint8Array = SECRET_KEY, alg = 'HS256'): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg, typ: 'JWT' }).sign(key);
}

const tokenFor = (sub: string, extra: JWTPayload = {}) => sign({ sub, exp: now() + 600, ...extra });

function withToken(url: string, token: string): string {
  return `${url}${url.includes('?') ? '&' : '?'}token=${encodeURIComponent(token)}`;
}

const fixture = e2eFixture();
let server: TestServer;
let rest: ReturnType<typeof api>;
let admin: Record<string, string>;
let roomId: string;
let alice: string;
let bob: string;

async function makeUser(prefix: string): Promise<string> {
  const res = await rest.post('/users', { username: `${prefix}_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 6)}` }, admin);
  expect(res.status).toBe(200);
  return res.body.id as string;
}

/** Connects as `userId` with `token` (query parameter) and expects the history frame. */
async function joinAs(userId: string, token: string, room = roomId): Promise<TestSocket> {
  const socket = await connectWs(withToken(roomWsUrl(server.wsUrl, room, userId), token));
  const first = await socket.next();
  expect(first.type).toBe('history');
  return socket;
}

/** Connects and expects the socket to be accepted, then closed with `code` before any frame. */
async function expectClosed(url: string, code: number, reason: string | RegExp): Promise<void> {
  const socket = await connectWs(url);
  const closed = await socket.closedWithin(3000);
  expect(closed.code).toBe(code);
  if (typeof reason === 'string') expect(closed.reason).toBe(reason);
  else expect(closed.reason).toMatch(reason);
  expect(socket.frames).toEqual([]);
}

beforeAll(async () => {
  // AUTH_CLOCK_SKEW=0: a socket closes exactly when its token's exp passes.
  server = await fixture.startServer({ AUTH_JWT_SECRET: SECRET, AUTH_CLOCK_SKEW: '0', RATE_LIMIT_LIMIT: '100000' });
  rest = api(server.baseUrl);
  admin = { authorization: `Bearer ${await tokenFor('ops-admin', { admin: true })}` };
  const room = await rest.post('/rooms', { name: 'WS auth' }, admin);
  expect(room.status).toBe(200);
  roomId = room.body.id;
  alice = await makeUser('alice');
  bob = await makeUser('bob');
}, 60_000);

afterEach(async () => {
  await closeAllSockets();
});

describe('WebSocket with authentication on', () => {
  it('accepts a token whose sub is the path user: history first, then messages both ways', async () => {
    const a = await joinAs(alice, await tokenFor(alice));
    const b = await joinAs(bob, await tokenFor(bob));
    await a.send({ type: 'text', content: 'hello from alice' });
    expect(await b.nextOfType('text')).toMatchObject({ content: 'hello from alice', user_id: alice, room_id: roomId });
    expect(await a.nextOfType('text')).toMatchObject({ content: 'hello from alice', user_id: alice });
  });

  it('closes with 4401 when the token is missing', async () => {
    await expectClosed(roomWsUrl(server.wsUrl, roomId, alice), 4401, 'Missing bearer token');
    await expectClosed(withToken(roomWsUrl(server.wsUrl, roomId, alice), ''), 4401, 'Missing bearer token');
  });

  it('closes with 4401 for a garbage, tampered, unsigned, expired or not-yet-valid token', async () => {
    const good = await tokenFor(alice);
    const [h, p, s] = good.split('.');
    const cases: [string, string | RegExp][] = [
      ['garbage', 'Invalid token'],
      [`${h}.${p}.${s[0] === 'A' ? 'B' : 'A'}${s.slice(1)}`, /^Invalid token/],
      [`${h}.${base64url.encode(JSON.stringify({ sub: bob, exp: now() + 600 }))}.${s}`, 'Invalid token signature'],
      [new UnsecuredJWT({ sub: alice, exp: now() + 600 }).encode(), /^(Token algorithm not accepted|Invalid token)$/],
      [await sign({ sub: alice, exp: now() - 5 }), 'Token expired'],
      [await sign({ sub: alice, exp: now() + 600, nbf: now() + 300 }), 'Token not yet valid'],
      [await sign({ exp: now() + 600 }), 'Token has no valid sub claim'],
      [await sign({ sub: alice }), 'Token has no valid exp claim'],
      [await sign({ sub: alice, exp: now() + 600 }, new TextEncoder().encode(`${SECRET}-other`)), 'Invalid token signature'],
    ];
    for (const [token, reason] of cases) {
      await expectClosed(withToken(roomWsUrl(server.wsUrl, roomId, alice), token), 4401, reason);
    }
  });

  it('closes with 4401 for a token of another algorithm (an ES256 token on an HS256 server)', async () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const token = await sign({ sub: alice, exp: now() + 600 }, privateKey, 'ES256');
    await expectClosed(withToken(roomWsUrl(server.wsUrl, roomId, alice), token), 4401, 'Token algorithm not accepted');
  });

  it('closes with 4403 when the token sub is not the path user, even for an admin', async () => {
    const url = roomWsUrl(server.wsUrl, roomId, alice);
    await expectClosed(withToken(url, await tokenFor(bob)), 4403, 'Token subject does not match user_id');
    await expectClosed(withToken(url, await tokenFor('ops-admin', { admin: true })), 4403, 'Token subject does not match user_id');
  });

  it('checks the token before the room and user: 4401 for an unknown room without a token, 4404 with one', async () => {
    await expectClosed(roomWsUrl(server.wsUrl, 'no-such-room', alice), 4401, 'Missing bearer token');
    await expectClosed(withToken(roomWsUrl(server.wsUrl, 'no-such-room', alice), await tokenFor(alice)), 4404, 'Room not found');
    await expectClosed(withToken(roomWsUrl(server.wsUrl, roomId, 'ghost'), await tokenFor('ghost')), 4404, 'User not found');
  });

  it('does not announce, store or relay anything from a refused socket', async () => {
    const watcher = await joinAs(bob, await tokenFor(bob));
    // A late leave of an earlier test's socket is not what this test is about.
    watcher.ignore((f) => f.type === 'system' && f.event === 'leave');
    const intruder = await connectWs(withToken(roomWsUrl(server.wsUrl, roomId, alice), await tokenFor(bob)));
    // Frames sent before the refusal are never handled.
    await intruder.send({ type: 'text', content: 'sneaky' }).catch(() => undefined);
    expect((await intruder.closedWithin(3000)).code).toBe(4403);
    await watcher.expectNoFrame(300);
    const messages = (await rest.get(`/rooms/${roomId}/messages?limit=200`, admin)).body as { content: string }[];
    expect(messages.some((m) => m.content === 'sneaky')).toBe(false);
  });

  it('never lets a frame act as another user: a foreign user_id gets an error frame and stores nothing', async () => {
    const a = await joinAs(alice, await tokenFor(alice));
    await a.send({ type: 'text', content: 'as bob', user_id: bob });
    expect(await a.nextOfType('error')).toEqual({ type: 'error', detail: 'user_id does not match the connection' });
    expect(a.isOpen).toBe(true);
    const messages = (await rest.get(`/rooms/${roomId}/messages?limit=200`, admin)).body as { content: string }[];
    expect(messages.some((m) => m.content === 'as bob')).toBe(false);
  });

  it('also takes the token from an Authorization: Bearer header on the upgrade', async () => {
    const socket = await connectWs(roomWsUrl(server.wsUrl, roomId, alice), {
      headers: { authorization: `Bearer ${await tokenFor(alice)}` },
    });
    expect((await socket.next()).type).toBe('history');
  });

  it('closes a socket with 4401 "Token expired" when its token expires, not before, and announces the leave', async () => {
    const watcher = await joinAs(bob, await tokenFor(bob));
    // Tokens carry whole seconds: this one expires in 2-3 s.
    const exp = now() + 3;
    const short = await joinAs(alice, await sign({ sub: alice, exp }));
    const long = await joinAs(alice, await tokenFor(alice));
    await short.send({ type: 'text', content: 'before expiry' });
    expect(await watcher.nextOfType('text')).toMatchObject({ content: 'before expiry', user_id: alice });
    const closed = await short.closedWithin(5000);
    const closedAt = Date.now();
    expect(closed).toEqual({ code: 4401, reason: 'Token expired' });
    expect(closedAt).toBeGreaterThanOrEqual(exp * 1000 - 50);
    expect(closedAt).toBeLessThan(exp * 1000 + 1500);
    // The other connection of the same user, with a longer token, stays open and working.
    expect(long.isOpen).toBe(true);
    await long.send({ type: 'text', content: 'still here' });
    expect(await watcher.nextOfType('text')).toMatchObject({ content: 'still here' });
    await long.close();
    const leave = await watcher.waitFor((f) => f.type === 'system' && f.event === 'leave' && f.user_id === alice);
    expect(leave.content).toBe(`User ${alice} left the chat`);
  });

  it('closes a socket whose token is already inside its last second at connect time within that second', async () => {
    const exp = now() + 1;
    const socket = await connectWs(withToken(roomWsUrl(server.wsUrl, roomId, alice), await sign({ sub: alice, exp })));
    const closed = await socket.closedWithin(3000);
    expect(closed).toEqual({ code: 4401, reason: 'Token expired' });
    expect(Date.now()).toBeGreaterThanOrEqual(exp * 1000 - 50);
  });
});

describe('WebSocket with an RS256 public key', () => {
  const rsFixture = e2eFixture();
  let rs: TestServer;
  let privateKey: CryptoKey;
  let publicPem: string;
  let room: string;
  let carol: string;

  beforeAll(async () => {
    const pair = await generateKeyPair('RS256', { extractable: true });
    privateKey = pair.privateKey;
    publicPem = await exportSPKI(pair.publicKey);
    rs = await rsFixture.startServer({ AUTH_JWT_PUBLIC_KEY: publicPem, RATE_LIMIT_LIMIT: '100000' });
    const client = api(rs.baseUrl);
    const adminToken = await new SignJWT({ sub: 'ops', admin: true, exp: now() + 600 }).setProtectedHeader({ alg: 'RS256' }).sign(privateKey);
    const headers = { authorization: `Bearer ${adminToken}` };
    room = (await client.post('/rooms', { name: 'RS' }, headers)).body.id as string;
    carol = (await client.post('/users', { username: `carol_${Date.now().toString(36)}` }, headers)).body.id as string;
  }, 60_000);

  it('accepts an RS256 token of the path user', async () => {
    const token = await new SignJWT({ sub: carol, exp: now() + 600 }).setProtectedHeader({ alg: 'RS256' }).sign(privateKey);
    const socket = await connectWs(withToken(roomWsUrl(rs.wsUrl, room, carol), token));
    expect((await socket.next()).type).toBe('history');
  });

  it('closes with 4401 for an HS256 token keyed with the public key PEM (algorithm confusion)', async () => {
    const h = base64url.encode(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
    const p = base64url.encode(JSON.stringify({ sub: carol, exp: now() + 600 }));
    const forged = `${h}.${p}.${createHmac('sha256', publicPem).update(`${h}.${p}`).digest('base64url')}`;
    await expectClosed(withToken(roomWsUrl(rs.wsUrl, room, carol), forged), 4401, 'Token algorithm not accepted');
  });
});

describe('WebSocket with authentication off', () => {
  const offFixture = e2eFixture();
  let off: TestServer;

  beforeAll(async () => {
    off = await offFixture.startServer({ RATE_LIMIT_LIMIT: '100000' });
  }, 60_000);

  it('connects without a token and ignores a junk one, exactly as before', async () => {
    const client = api(off.baseUrl);
    const room = (await client.post('/rooms', { name: 'Open' })).body.id as string;
    const user = (await client.post('/users', { username: `open_ws_${Date.now().toString(36)}` })).body.id as string;
    const plain = await connectWs(roomWsUrl(off.wsUrl, room, user));
    expect((await plain.next()).type).toBe('history');
    const junk = await connectWs(withToken(roomWsUrl(off.wsUrl, room, user), 'junk'));
    expect((await junk.next()).type).toBe('history');
    await plain.send({ type: 'text', content: 'open chat' });
    expect(await junk.nextOfType('text')).toMatchObject({ content: 'open chat', user_id: user });
    await expectClosedOff(roomWsUrl(off.wsUrl, 'no-such-room', user));
  });

  async function expectClosedOff(url: string): Promise<void> {
    const socket = await connectWs(url);
    expect(await socket.closedWithin(3000)).toEqual({ code: 4404, reason: 'Room not found' });
  }
});
