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
 * The store scripts of one repository: store, trim and publish in one atomic step and one
 * round trip. Redis' clock stamps created_at, so it never runs backwards against the id
 * order. The retention, the publish command and the idempotency TTL are the process'
 * settings, written into the script text rather than sent with every message: each
 * argument costs the client a conversion and the framing of one more bulk string, per
 * message (docs/performance.md, change 19). The script names carry those settings, so
 * repositories with other settings on the same client get scripts of their own.
 */
function appendScripts(options: RedisMessagesOptions): {
  append: RedisScript<string>;
  appendOnce: RedisScript<[number, string]>;
} {
  const { retention, publishCommand, idempotencyTtlSeconds: ttl } = options;
  if (!Number.isSafeInteger(retention) || retention < 1) throw new Error(`retention must be a positive integer, not ${retention}`);
  if (!Number.isSafeInteger(ttl) || ttl < 1) throw new Error(`idempotency TTL must be a positive integer, not ${ttl}`);
  // Both: ARGV[1] the id prefix, ARGV[2] the body's middle fields; KEYS[1-3] seq, messages, channel.
  // `tail` is the Lua expression that closes the JSON text after the created_at value's opening quote.
  const store = (tail: string) => `
local seq = redis.call('INCR', KEYS[1])
local t = redis.call('TIME')
local ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local json = '{"id":"' .. ARGV[1] .. string.format('%010d', seq) .. '",' .. ARGV[2] .. ',"created_at":"' .. iso(ms) .. ${tail}
redis.call('RPUSH', KEYS[2], json)
redis.call('LTRIM', KEYS[2], -${retention}, -1)
redis.call('${publishCommand}', KEYS[3], 'm' .. seq .. '\\n' .. json)
`;
  const tag = `${retention}_${publishCommand}`;
  return {
    // Without a client_msg_id: answers the stored message's JSON.
    append: new RedisScript<string>(`parleyAppend_${tag}`, 3, `${LUA_ISO}${store(`'"}'`)}return json\n`),
    // With one (ARGV[3] its `,"client_msg_id":...` field, KEYS[4] its key): {1, json} when
    // stored, {0, stored json} for a repeat within the TTL.
    appendOnce: new RedisScript<[number, string]>(
      `parleyAppendOnce_${tag}_${ttl}`,
      4,
      `${LUA_ISO}
local prev = redis.call('GET', KEYS[4])
if prev then return {0, prev} end
${store(`'"' .. ARGV[3] .. '}'`)}redis.call('SET', KEYS[4], json, 'EX', ${ttl})
return {1, json}
`,
    ),
  };
}

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
  private readonly scripts: ReturnType<typeof appendScripts>;

  constructor(
    private readonly redis: RedisClient,
    options: RedisMessagesOptions,
  ) {
    super();
    this.scripts = appendScripts(options);
  }

  async append(input: NewMessage): Promise<AppendResult> {
    const { body, tail } = messageBody(input);
    const roomId = input.roomId;
    const prefix = `${roomId}.`;
    const seqKey = redisKeys.roomSeq(roomId);
    const messagesKey = redisKeys.roomMessages(roomId);
    const channel = redisKeys.roomChannel(roomId);
    try {
      if (input.clientMsgId === undefined) {
        return { json: await this.scripts.append.run(this.redis, [seqKey, messagesKey, channel], [prefix, body]), duplicate: false };
      }
      const idemKey = redisKeys.idempotency(roomId, input.userId, input.clientMsgId);
      const [stored, json] = await this.scripts.appendOnce.run(
        this.redis,
        [seqKey, messagesKey, channel, idemKey],
        [prefix, body, tail],
      );
      return { json, duplicate: stored === 0 };
    } catch (err) {
      return rethrowStorage(err);
    }
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
