// Parley benchmark baseline: a minimal hand-written server for comparison only.
//
// node:http + ws + ioredis, no framework. It serves the benchmarked subset of the
// Parley contract (SPEC sections 2 and 3) with the same Redis work per operation:
//   - every /api/v1 request and every WebSocket upgrade: one EVALSHA of a fixed-window
//     per-IP rate-limit script (Parley: RedisThrottlerStorage);
//   - room/user existence: HGET, cached positively in memory (Parley: KnownIds);
//   - send (REST or socket): one EVALSHA that stores, trims and PUBLISHes the message;
//   - history: one EVALSHA range script; presence join/leave: one EVALSHA each;
//   - fan-out: one pub/sub subscription per room with local sockets; every message is
//     turned into one frame Buffer that is written to every local socket of the room.
// Key layout is its own (prefix "b:"), message ids have Parley's shape
// (`<room id>.<10-digit sequence>`) so the load generator checks both the same way.
//
// Env: PORT, HOST, REDIS_URL, RATE_LIMIT_LIMIT, RATE_LIMIT_TTL, WS_RATE_LIMIT,
// WS_RATE_TTL, HISTORY_LIMIT, MESSAGE_RETENTION, MESSAGE_MAX_LENGTH, WS_MAX_PAYLOAD,
// WS_MAX_BUFFERED, BODY_LIMIT, WS_PING_INTERVAL.

import http from 'node:http';
import { randomBytes, randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { WebSocket, WebSocketServer } from 'ws';
import { pathToFileURL } from 'node:url';

const int = (name, dflt) => {
  const v = process.env[name];
  return v === undefined || v.trim() === '' ? dflt : Number.parseInt(v, 10);
};
const PORT = int('PORT', 8000);
const HOST = process.env.HOST || '0.0.0.0';
const REDIS_URL = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
const RATE_LIMIT_LIMIT = int('RATE_LIMIT_LIMIT', 1000);
const RATE_LIMIT_TTL_MS = int('RATE_LIMIT_TTL', 60) * 1000;
const WS_RATE_LIMIT = int('WS_RATE_LIMIT', 30);
const WS_RATE_TTL_MS = int('WS_RATE_TTL', 10) * 1000;
const HISTORY_LIMIT = int('HISTORY_LIMIT', 50);
const RETENTION = int('MESSAGE_RETENTION', 10000);
const MAX_LENGTH = int('MESSAGE_MAX_LENGTH', 4000);
const WS_MAX_PAYLOAD = int('WS_MAX_PAYLOAD', 64 * 1024);
const WS_MAX_BUFFERED = int('WS_MAX_BUFFERED', 1024 * 1024);
const BODY_LIMIT = int('BODY_LIMIT', 64 * 1024);
const PING_MS = int('WS_PING_INTERVAL', 30) * 1000;

// ---------------------------------------------------------------------------- keys
const K = {
  roomsIds: 'b:rooms:ids',
  roomsData: 'b:rooms:data',
  usersIds: 'b:users:ids',
  usersData: 'b:users:data',
  usersNames: 'b:users:names',
  seq: (r) => `b:r:${r}:seq`,
  msgs: (r) => `b:r:${r}:msgs`,
  chan: (r) => `b:r:${r}:ev`,
  pu: (r) => `b:r:${r}:pu`,
  pi: (r) => `b:r:${r}:pi`,
  rl: (ip) => `b:rl:${ip}`,
  instRooms: (inst) => `b:inst:${inst}:rooms`,
};
const CHAN_PREFIX = 'b:r:';
const CHAN_SUFFIX = ':ev';
const INSTANCE = randomBytes(6).toString('base64url');

// ---------------------------------------------------------------------------- redis
const LUA_ISO = `
local function iso(ms)
  local s = math.floor(ms / 1000)
  local days = math.floor(s / 86400)
  local rem = s - days * 86400
  local z = days + 719468
  local era = math.floor(z / 146097)
  local doe = z - era * 146097
  local yoe = math.floor((doe - math.floor(doe / 1460) + math.floor(doe / 36524) - math.floor(doe / 146096)) / 365)
  local y = yoe + era * 400
  local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))
  local mp = math.floor((5 * doy + 2) / 153)
  local d = doy - math.floor((153 * mp + 2) / 5) + 1
  local m = mp < 10 and mp + 3 or mp - 9
  if m <= 2 then y = y + 1 end
  return string.format('%04d-%02d-%02dT%02d:%02d:%02d.%03dZ', y, m, d,
    math.floor(rem / 3600), math.floor((rem % 3600) / 60), rem % 60, ms % 1000)
end
`;

const redis = new Redis(REDIS_URL, { enableOfflineQueue: true, maxRetriesPerRequest: 1 });
redis.on('error', () => undefined);

// KEYS: seq, msgs, channel. ARGV: id prefix, body, retention. -> {id, created_at}
redis.defineCommand('bAppend', {
  numberOfKeys: 3,
  lua: `${LUA_ISO}
local seq = redis.call('INCR', KEYS[1])
local t = redis.call('TIME')
local ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local id = ARGV[1] .. string.format('%010d', seq)
local at = iso(ms)
local json = '{"id":"' .. id .. '",' .. ARGV[2] .. ',"created_at":"' .. at .. '"}'
redis.call('RPUSH', KEYS[2], json)
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[3]), -1)
redis.call('PUBLISH', KEYS[3], 'm' .. seq .. '\\n' .. json)
return {id, at}
`,
});

// KEYS: seq, msgs. ARGV: limit. -> {first, last, json...} (the newest `limit`)
redis.defineCommand('bRange', {
  numberOfKeys: 2,
  lua: `
local last = tonumber(redis.call('GET', KEYS[1]) or '0')
local len = redis.call('LLEN', KEYS[2])
local first = last - len + 1
local lo = math.max(first, last - tonumber(ARGV[1]) + 1)
local out = {first, last}
if last >= lo then
  local items = redis.call('LRANGE', KEYS[2], lo - first, last - first)
  for i = 1, #items do out[i + 2] = items[i] end
end
return out
`,
});

// KEYS: counter, block marker. ARGV: ttl ms, limit, block ms. -> {hits, ms left, blocked, block ms left}
redis.defineCommand('bThrottle', {
  numberOfKeys: 2,
  lua: `
local blockedFor = redis.call('PTTL', KEYS[2])
if blockedFor > 0 then
  return {tonumber(ARGV[2]) + 1, math.max(redis.call('PTTL', KEYS[1]), 0), 1, blockedFor}
end
local hits = redis.call('INCR', KEYS[1])
if hits == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local left = redis.call('PTTL', KEYS[1])
if left < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); left = tonumber(ARGV[1]) end
if hits > tonumber(ARGV[2]) then
  redis.call('SET', KEYS[2], '1', 'PX', ARGV[3])
  return {hits, left, 1, tonumber(ARGV[3])}
end
return {hits, left, 0, 0}
`,
});

// KEYS: username index, users data, users ids. ARGV: lower name, id, json -> 1 | 0
redis.defineCommand('bCreateUser', {
  numberOfKeys: 3,
  lua: `
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
redis.call('RPUSH', KEYS[3], ARGV[2])
return 1
`,
});

// KEYS: ids list, data hash. ARGV: offset, limit
redis.defineCommand('bPage', {
  numberOfKeys: 2,
  lua: `
local ids = redis.call('LRANGE', KEYS[1], ARGV[1], ARGV[1] + ARGV[2] - 1)
if #ids == 0 then return {} end
return redis.call('HMGET', KEYS[2], unpack(ids))
`,
});

// Presence. KEYS: users hash, per-instance hash, channel. ARGV: user, instance|user, envelope
redis.defineCommand('bJoin', {
  numberOfKeys: 3,
  lua: `
redis.call('HINCRBY', KEYS[2], ARGV[2], 1)
local n = redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
if n == 1 then redis.call('PUBLISH', KEYS[3], ARGV[3]) end
return n
`,
});
redis.defineCommand('bLeave', {
  numberOfKeys: 3,
  lua: `
local mine = redis.call('HINCRBY', KEYS[2], ARGV[2], -1)
if mine <= 0 then redis.call('HDEL', KEYS[2], ARGV[2]) end
if mine < 0 then return -1 end
local n = redis.call('HINCRBY', KEYS[1], ARGV[1], -1)
if n <= 0 then
  redis.call('HDEL', KEYS[1], ARGV[1])
  redis.call('PUBLISH', KEYS[3], ARGV[3])
end
return n
`,
});

const sub = redis.duplicate();
sub.on('error', () => undefined);

// ---------------------------------------------------------------------------- domain
const knownRooms = new Set();
const knownUsers = new Set();
const newId = () => randomBytes(12).toString('base64url');
const now = () => new Date().toISOString();

class HttpError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
  }
}

async function roomExists(id) {
  if (knownRooms.has(id)) return true;
  const json = await redis.hget(K.roomsData, id);
  if (json) knownRooms.add(id);
  return json !== null;
}

async function userExists(id) {
  if (knownUsers.has(id)) return true;
  const json = await redis.hget(K.usersData, id);
  if (json) knownUsers.add(id);
  return json !== null;
}

function codePoints(s) {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

const TYPES = new Set(['text', 'image', 'file']);

/** Validates and stores one message (REST and socket). Returns [id, created_at, body]. */
async function sendMessage(roomId, userId, content, type = 'text') {
  if (typeof userId !== 'string') throw new HttpError(400, 'user_id must be a string');
  if (typeof content !== 'string') throw new HttpError(400, 'content must be a string');
  if (content.trim() === '') throw new HttpError(400, 'content must not be blank');
  if (content.length > MAX_LENGTH && codePoints(content) > MAX_LENGTH) {
    throw new HttpError(400, `content must be at most ${MAX_LENGTH} characters`);
  }
  if (!TYPES.has(type)) throw new HttpError(400, 'type must be one of text, image, file');
  if (!(await roomExists(roomId))) throw new HttpError(404, 'Room not found');
  if (!(await userExists(userId))) throw new HttpError(404, 'User not found');
  const body =
    `"room_id":${JSON.stringify(roomId)},"user_id":${JSON.stringify(userId)},` +
    `"content":${JSON.stringify(content)},"type":${JSON.stringify(type)}`;
  const [id, at] = await redis.bAppend(K.seq(roomId), K.msgs(roomId), K.chan(roomId), `${roomId}.`, body, RETENTION);
  return `{"id":"${id}",${body},"created_at":"${at}"}`;
}

// ---------------------------------------------------------------------------- HTTP
function reply(res, status, body, headers) {
  const buf = Buffer.from(body);
  const h = {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': buf.length,
    'X-Request-Id': randomUUID(),
  };
  if (headers) Object.assign(h, headers);
  res.writeHead(status, h);
  res.end(buf);
}

const detail = (message) => JSON.stringify({ detail: message });

async function throttle(ip) {
  const base = K.rl(ip);
  const [hits, left, blocked, blockLeft] = await redis.bThrottle(base, `${base}:blocked`, RATE_LIMIT_TTL_MS,
    RATE_LIMIT_LIMIT, RATE_LIMIT_TTL_MS);
  return {
    blocked: blocked === 1,
    headers: {
      'X-RateLimit-Limit': RATE_LIMIT_LIMIT,
      'X-RateLimit-Remaining': Math.max(0, RATE_LIMIT_LIMIT - hits),
      'X-RateLimit-Reset': Math.ceil(left / 1000),
    },
    retryAfter: Math.ceil(blockLeft / 1000),
  };
}

function readJson(req) {
  return new Promise((resolve, reject) => {
    const ct = req.headers['content-type'];
    if (!ct || !ct.startsWith('application/json')) {
      req.resume();
      return reject(new HttpError(415, 'Unsupported Media Type'));
    }
    const chunks = [];
    let size = 0;
    req.on('data', (c) => {
      size += c.length;
      if (size > BODY_LIMIT) {
        reject(new HttpError(413, 'Payload Too Large'));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      try {
        const v = JSON.parse(chunks.length === 1 ? chunks[0].toString() : Buffer.concat(chunks).toString());
        if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not an object');
        resolve(v);
      } catch {
        reject(new HttpError(400, 'Malformed JSON'));
      }
    });
    req.on('error', reject);
  });
}

function pageParams(query, dfltLimit, maxLimit) {
  const params = new URLSearchParams(query);
  const limitS = params.get('limit');
  const offsetS = params.get('offset');
  const limit = limitS === null ? dfltLimit : /^[0-9]+$/.test(limitS) ? Number(limitS) : NaN;
  const offset = offsetS === null ? 0 : /^[0-9]+$/.test(offsetS) ? Number(offsetS) : NaN;
  if (!(limit >= 1 && limit <= maxLimit)) throw new HttpError(400, `limit must be an integer 1-${maxLimit}`);
  if (!(offset >= 0)) throw new HttpError(400, 'offset must be an integer >= 0');
  return { limit, offset };
}

async function listOf(idsKey, dataKey, query) {
  const { limit, offset } = pageParams(query, 100, 1000);
  const rows = await redis.bPage(idsKey, dataKey, offset, limit);
  return `[${rows.filter((r) => r !== null).join(',')}]`;
}

const USERNAME = /^[A-Za-z0-9_.-]{3,32}$/;

// The REST operations, from a parsed body or query string to the answer's JSON text
// (also served by bench/nest-floor-server.mjs).
async function createRoom(body) {
  if (typeof body.name !== 'string') throw new HttpError(400, 'name must be a string');
  const name = body.name.trim();
  const n = codePoints(name);
  if (n < 1 || n > 100) throw new HttpError(400, 'name must be 1-100 characters after trimming');
  const roomId = newId();
  const room = JSON.stringify({ id: roomId, name, created_at: now() });
  await redis.multi().hset(K.roomsData, roomId, room).rpush(K.roomsIds, roomId).exec();
  knownRooms.add(roomId);
  return room;
}

async function createUser(body) {
  if (typeof body.username !== 'string' || !USERNAME.test(body.username)) {
    throw new HttpError(400, 'username must be 3-32 characters of A-Z a-z 0-9 _ . -');
  }
  const user = { id: newId(), username: body.username, created_at: now() };
  const json = JSON.stringify(user);
  const ok = await redis.bCreateUser(K.usersNames, K.usersData, K.usersIds, user.username.toLowerCase(), user.id, json);
  if (ok !== 1) throw new HttpError(409, 'Username already taken');
  knownUsers.add(user.id);
  return json;
}

const postMessage = (roomId, body) =>
  sendMessage(roomId, body.user_id, body.content, body.type === undefined ? 'text' : body.type);

async function listMessages(roomId, query) {
  const { limit } = pageParams(query, 50, 200);
  if (!(await roomExists(roomId))) throw new HttpError(404, 'Room not found');
  const r = await redis.bRange(K.seq(roomId), K.msgs(roomId), limit);
  return `[${r.slice(2).join(',')}]`;
}

async function route(req, res) {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  const query = q < 0 ? '' : url.slice(q + 1);
  const method = req.method;
  if (path === '/health') return reply(res, 200, '{"status":"ok"}');
  if (!path.startsWith('/api/v1/')) return reply(res, 404, detail('Not Found'));
  const parts = path.slice(8).split('/');
  const limited = await throttle(req.socket.remoteAddress ?? '');
  const rl = limited.headers;
  if (limited.blocked) {
    return reply(res, 429, detail('Too Many Requests'), { ...rl, 'Retry-After': limited.retryAfter });
  }
  const [a, id, sub2, extra] = parts;
  if (a === 'rooms' && extra === undefined) {
    if (id === undefined || id === '') {
      if (method === 'GET') return reply(res, 200, await listOf(K.roomsIds, K.roomsData, query), rl);
      if (method === 'POST') {
        return reply(res, 200, await createRoom(await readJson(req)), rl);
      }
    } else if (sub2 === undefined) {
      if (method === 'GET') {
        const json = await redis.hget(K.roomsData, decodeURIComponent(id));
        if (!json) throw new HttpError(404, 'Room not found');
        return reply(res, 200, json, rl);
      }
    } else if (sub2 === 'messages') {
      const roomId = decodeURIComponent(id);
      if (method === 'POST') {
        return reply(res, 200, await postMessage(roomId, await readJson(req)), rl);
      }
      if (method === 'GET') return reply(res, 200, await listMessages(roomId, query), rl);
    }
  } else if (a === 'users' && sub2 === undefined) {
    if (id === undefined || id === '') {
      if (method === 'GET') return reply(res, 200, await listOf(K.usersIds, K.usersData, query), rl);
      if (method === 'POST') {
        return reply(res, 200, await createUser(await readJson(req)), rl);
      }
    } else if (method === 'GET') {
      const json = await redis.hget(K.usersData, decodeURIComponent(id));
      if (!json) throw new HttpError(404, 'User not found');
      return reply(res, 200, json, rl);
    }
  }
  return reply(res, 404, detail('Not Found'), rl);
}

const server = http.createServer((req, res) => {
  route(req, res).catch((err) => {
    if (res.headersSent) return res.destroy();
    if (err instanceof HttpError) return reply(res, err.status, detail(err.message));
    reply(res, 500, detail('Internal Server Error'));
  });
});
server.keepAliveTimeout = 65_000;

// ---------------------------------------------------------------------------- WebSocket
/** roomId -> { conns: Set<Conn>, subscribed: Promise } */
const rooms = new Map();
const wss = new WebSocketServer({ noServer: true, maxPayload: WS_MAX_PAYLOAD, perMessageDeflate: false });
const WS_PATH = /^\/api\/v1\/ws\/([^/]+)\/([^/]+)\/?$/;

function refuse(socket, status, text) {
  const body = detail(text);
  socket.end(`HTTP/1.1 ${status} ${text}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}` +
    `\r\nX-Request-Id: ${randomUUID()}\r\nConnection: close\r\n\r\n${body}`);
}

server.on('upgrade', (req, socket, head) => {
  socket.on('error', () => socket.destroy());
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const m = WS_PATH.exec(q < 0 ? url : url.slice(0, q));
  if (!m) return refuse(socket, 404, 'Not Found');
  let roomId, userId;
  try {
    roomId = decodeURIComponent(m[1]);
    userId = decodeURIComponent(m[2]);
  } catch {
    return refuse(socket, 404, 'Not Found');
  }
  throttle(req.socket.remoteAddress ?? '').then(
    (limited) => {
      if (limited.blocked) return refuse(socket, 429, 'Too Many Requests');
      if (socket.destroyed) return;
      wss.handleUpgrade(req, socket, head, (ws) => openConnection(ws, roomId, userId));
    },
    () => refuse(socket, 503, 'Service Unavailable'),
  );
});

function systemFrame(event, userId) {
  const verb = event === 'join' ? 'joined' : 'left';
  return JSON.stringify({ type: 'system', event, user_id: userId, content: `User ${userId} ${verb} the chat`,
    timestamp: now() });
}

function write(conn, data) {
  const ws = conn.ws;
  if (ws.readyState !== WebSocket.OPEN) return;
  if (ws.bufferedAmount + data.length > WS_MAX_BUFFERED) {
    ws.close(1013, 'Slow consumer');
    setTimeout(() => ws.terminate(), 5000).unref();
    return;
  }
  ws.send(data, { binary: false });
}

const sendError = (conn, text) => write(conn, Buffer.from(JSON.stringify({ type: 'error', detail: text })));

sub.on('messageBuffer', (channelBuf, msg) => {
  const channel = channelBuf.toString();
  const room = rooms.get(channel.slice(CHAN_PREFIX.length, -CHAN_SUFFIX.length));
  if (!room) return;
  const nl = msg.indexOf(10);
  if (nl < 1) return;
  const kind = msg[0];
  const meta = msg.toString('utf8', 1, nl);
  const seq = kind === 109 ? Number(meta) : 0;
  const except = kind === 101 ? meta : '';
  const frame = Buffer.from(msg.subarray(nl + 1)); // own copy: one Buffer per message for every socket
  for (const conn of room.conns) {
    if (except !== '' && conn.userId === except) continue;
    if (conn.state === 0) conn.buffered.push(seq, frame);
    else write(conn, frame);
  }
});

function attach(conn) {
  let room = rooms.get(conn.roomId);
  if (!room) {
    const created = { conns: new Set(), subscribed: sub.subscribe(K.chan(conn.roomId)) };
    created.subscribed.catch(() => {
      if (rooms.get(conn.roomId) === created) rooms.delete(conn.roomId);
    });
    rooms.set(conn.roomId, created);
    room = created;
  }
  room.conns.add(conn);
  return room.subscribed;
}

function detach(conn) {
  conn.state = 2;
  conn.buffered = [];
  const room = rooms.get(conn.roomId);
  if (!room || !room.conns.delete(conn)) return;
  if (room.conns.size === 0) {
    rooms.delete(conn.roomId);
    sub.unsubscribe(K.chan(conn.roomId)).catch(() => undefined);
  }
}

const presenceKeys = (roomId) => [K.pu(roomId), K.pi(roomId), K.chan(roomId)];

async function openConnection(ws, roomId, userId) {
  // state: 0 pending, 1 live, 2 closed. buffered: flat [seq, frame, seq, frame, ...]
  const conn = { ws, roomId, userId, state: 0, buffered: [], present: false, queue: [],
    windowStart: 0, frames: 0, lastTyping: 0 };
  ws.isAlive = true;
  ws.on('pong', () => (ws.isAlive = true));
  ws.on('message', (data, isBinary) => {
    if (conn.queue) conn.queue.push(data, isBinary);
    else onFrame(conn, data, isBinary);
  });
  ws.on('close', () => {
    detach(conn);
    if (!conn.present) return;
    conn.present = false;
    redis.bLeave(...presenceKeys(roomId), userId, `${INSTANCE}|${userId}`, `e${userId}\n${systemFrame('leave', userId)}`)
      .catch(() => undefined);
  });
  ws.on('error', () => undefined);
  try {
    if (!(await roomExists(roomId))) return ws.close(4404, 'Room not found');
    if (!(await userExists(userId))) return ws.close(4404, 'User not found');
    await attach(conn);
    if (conn.state === 2) return;
    const r = await redis.bRange(K.seq(roomId), K.msgs(roomId), HISTORY_LIMIT);
    if (conn.state === 2) return;
    const lastSeq = Number(r[1]);
    write(conn, Buffer.from(`{"type":"history","messages":[${r.slice(2).join(',')}]}`));
    const b = conn.buffered;
    for (let i = 0; i < b.length; i += 2) if (b[i] === 0 || b[i] > lastSeq) write(conn, b[i + 1]);
    conn.buffered = [];
    conn.state = 1;
    conn.present = true;
    await redis.bJoin(...presenceKeys(roomId), userId, `${INSTANCE}|${userId}`, `e${userId}\n${systemFrame('join', userId)}`);
    redis.sadd(K.instRooms(INSTANCE), roomId).catch(() => undefined);
  } catch {
    detach(conn);
    if (ws.readyState === WebSocket.OPEN) ws.close(1011, 'Internal Server Error');
    return;
  }
  const waiting = conn.queue;
  conn.queue = null;
  for (let i = 0; i < waiting.length; i += 2) onFrame(conn, waiting[i], waiting[i + 1]);
}

function onFrame(conn, data, isBinary) {
  const t = Date.now();
  if (t - conn.windowStart >= WS_RATE_TTL_MS) {
    conn.windowStart = t;
    conn.frames = 0;
  }
  conn.frames++;
  if (conn.frames > WS_RATE_LIMIT) {
    sendError(conn, 'Too Many Requests');
    if (conn.frames >= 3 * WS_RATE_LIMIT) conn.ws.close(1008, 'Too Many Requests');
    return;
  }
  if (isBinary) return sendError(conn, 'Binary frames are not supported; send JSON text frames');
  let f;
  try {
    f = JSON.parse(data.toString());
  } catch {
    return sendError(conn, 'Invalid JSON');
  }
  if (typeof f !== 'object' || f === null || Array.isArray(f) || typeof f.type !== 'string') {
    return sendError(conn, 'A frame must be a JSON object with a "type"');
  }
  if (f.type === 'typing') {
    if (t - conn.lastTyping < 1000) return;
    conn.lastTyping = t;
    const frame = JSON.stringify({ type: 'typing', user_id: conn.userId, room_id: conn.roomId, timestamp: now() });
    redis.publish(K.chan(conn.roomId), `e${conn.userId}\n${frame}`).catch(() => undefined);
    return;
  }
  if (!TYPES.has(f.type)) return sendError(conn, `Unknown message type: ${JSON.stringify(f.type.slice(0, 32))}`);
  if (f.user_id !== undefined && f.user_id !== conn.userId) {
    return sendError(conn, 'user_id does not match the connection');
  }
  sendMessage(conn.roomId, conn.userId, f.content, f.type).catch((err) =>
    sendError(conn, err instanceof HttpError ? err.message : 'Internal Server Error'),
  );
}

const heartbeat = setInterval(() => {
  for (const ws of wss.clients) {
    if (ws.isAlive === false) {
      ws.terminate();
      continue;
    }
    ws.isAlive = false;
    ws.ping();
  }
}, PING_MS);
heartbeat.unref();
// ---------------------------------------------------------------------------- lifecycle
let stopping = false;
function shutdown() {
  if (stopping) return;
  stopping = true;
  clearInterval(heartbeat);
  for (const ws of wss.clients) ws.close(1001, 'Server shutting down');
  server.close();
  setTimeout(() => process.exit(0), 1500).unref();
  Promise.allSettled([sub.quit(), redis.quit()]).then(() => setTimeout(() => process.exit(0), 200));
}
process.once('SIGTERM', shutdown);
process.once('SIGINT', shutdown);

// Run as a script: listen. Imported (bench/nest-floor-server.mjs): the same operations, no listening.
if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  server.listen(PORT, HOST, () => {
    process.stdout.write(`baseline listening on http://${HOST}:${PORT}\n`);
  });
}

export { HOST, HttpError, PORT, createRoom, createUser, listMessages, postMessage, throttle };
