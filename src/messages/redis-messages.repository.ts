import { redisKeys } from '../storage/redis-keys.js';
import { RedisScript } from '../storage/redis-scripts.js';
import { rethrowStorage } from '../storage/storage-errors.js';
import type { RedisClient } from '../storage/storage.tokens.js';
import { messageBody, type NewMessage } from './message.js';
import { type AppendResult, MessagesRepository, type SeqRange } from './messages.repository.js';

/** RFC 3339 UTC with milliseconds from Unix milliseconds (days-to-civil, H. Hinnant). */
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

/**
 * Store, trim and publish in one atomic step and one round trip. Redis' clock
 * stamps created_at, so it never runs backwards against the id order.
 *   KEYS: seq, messages, channel, idempotency key
 *   ARGV: id prefix, body, tail, retention, idempotency ttl (0 = none), publish command
 * Returns {1, json} when stored, {0, stored json} for a repeat.
 */
const appendMessage = new RedisScript<[number, string]>(
  'parleyAppendMessage',
  4,
  `${LUA_ISO}
local ttl = tonumber(ARGV[5])
if ttl > 0 then
  local prev = redis.call('GET', KEYS[4])
  if prev then return {0, prev} end
end
local seq = redis.call('INCR', KEYS[1])
local t = redis.call('TIME')
local ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local id = ARGV[1] .. string.format('%010d', seq)
local at = iso(ms)
local json = '{"id":"' .. id .. '",' .. ARGV[2] .. ',"created_at":"' .. at .. '"' .. ARGV[3] .. '}'
redis.call('RPUSH', KEYS[2], json)
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[4]), -1)
if ttl > 0 then redis.call('SET', KEYS[4], json, 'EX', ttl) end
redis.call(ARGV[6], KEYS[3], 'm' .. seq .. '\\n' .. json)
return {1, json}
`,
);

/**
 * The newest ARGV[3] messages with sequence in [ARGV[1], ARGV[2]], clipped to the
 * retained window, with that window: {first, last, json...}.
 */
const rangeBySeq = new RedisScript<(string | number)[]>(
  'parleyRangeBySeq',
  2,
  `
local last = tonumber(redis.call('GET', KEYS[1]) or '0')
local len = redis.call('LLEN', KEYS[2])
local first = last - len + 1
local hi = math.min(tonumber(ARGV[2]), last)
local lo = math.max(tonumber(ARGV[1]), first, hi - tonumber(ARGV[3]) + 1)
local out = {first, last}
if hi >= lo then
  local items = redis.call('LRANGE', KEYS[2], lo - first, hi - first)
  for i = 1, #items do out[i + 2] = items[i] end
end
return out
`,
);

export interface RedisMessagesOptions {
  retention: number;
  idempotencyTtlSeconds: number;
  /** PUBLISH on a single Redis, SPUBLISH (sharded) on a cluster. */
  publishCommand: 'PUBLISH' | 'SPUBLISH';
}

const OPEN = Buffer.from('[');
const COMMA = Buffer.from(',');
const CLOSE = Buffer.from(']');
const EMPTY = Buffer.from('[]');

/** `[a,b,...]` from the JSON texts of its elements, as bytes. */
function jsonArray(items: Buffer[]): Buffer {
  if (items.length === 0) return EMPTY;
  const parts: Buffer[] = [OPEN];
  for (const item of items) parts.push(item, COMMA);
  parts[parts.length - 1] = CLOSE;
  return Buffer.concat(parts);
}

export class RedisMessagesRepository extends MessagesRepository {
  constructor(
    private readonly redis: RedisClient,
    private readonly options: RedisMessagesOptions,
  ) {
    super();
  }

  async append(input: NewMessage): Promise<AppendResult> {
    const { body, tail } = messageBody(input);
    const roomId = input.roomId;
    const idemKey =
      input.clientMsgId === undefined
        ? redisKeys.roomSeq(roomId) // unused when ttl is 0; any key of the room's slot will do
        : redisKeys.idempotency(roomId, input.userId, input.clientMsgId);
    const ttl = input.clientMsgId === undefined ? 0 : this.options.idempotencyTtlSeconds;
    const reply = await appendMessage
      .run(
        this.redis,
        [redisKeys.roomSeq(roomId), redisKeys.roomMessages(roomId), redisKeys.roomChannel(roomId), idemKey],
        [`${roomId}.`, body, tail, this.options.retention, ttl, this.options.publishCommand],
      )
      .catch(rethrowStorage);
    return { json: reply[1], duplicate: reply[0] === 0 };
  }

  async range(roomId: string, fromSeq: number, toSeq: number, limit: number): Promise<SeqRange> {
    const reply = await rangeBySeq
      .run(this.redis, [redisKeys.roomSeq(roomId), redisKeys.roomMessages(roomId)], [fromSeq, toSeq, limit])
      .catch(rethrowStorage);
    return { first: Number(reply[0]), last: Number(reply[1]), page: reply.slice(2) as string[] };
  }

  /**
   * The page as the stored bytes joined into one JSON array, never decoded: ioredis turning
   * 50 rows into strings, the join and the encoding back to bytes were ≈11 µs of a 77 µs
   * `GET /messages?limit=50` (docs/performance.md, change 17).
   */
  override async rangeJson(roomId: string, fromSeq: number, toSeq: number, limit: number): Promise<Buffer> {
    const reply = await rangeBySeq
      .runBuffer<(Buffer | number)[]>(
        this.redis,
        [redisKeys.roomSeq(roomId), redisKeys.roomMessages(roomId)],
        [fromSeq, toSeq, limit],
      )
      .catch(rethrowStorage);
    return jsonArray(reply.slice(2) as Buffer[]);
  }
}
