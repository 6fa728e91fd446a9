import type { ThrottlerStorage } from '@nestjs/throttler';
import { redisKeys } from '../storage/redis-keys.js';
import { RedisScript } from '../storage/redis-scripts.js';
import { rethrowStorage } from '../storage/storage-errors.js';
import type { RedisClient } from '../storage/storage.tokens.js';

interface ThrottlerStorageRecord {
  totalHits: number;
  timeToExpire: number;
  isBlocked: boolean;
  timeToBlockExpire: number;
}

/**
 * Fixed-window counter plus a block marker, in one round trip. Both keys carry the
 * same hash tag. Returns {hits, ms left in window, blocked, ms left blocked}.
 */
const hit = new RedisScript<[number, number, number, number]>(
  'parleyThrottle',
  2,
  `
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
);

/** Throttler counters in Redis, so a client's budget is one across every instance. */
export class RedisThrottlerStorage implements ThrottlerStorage {
  constructor(private readonly redis: RedisClient) {}

  increment(
    key: string,
    ttl: number,
    limit: number,
    blockDuration: number,
    throttlerName: string,
  ): Promise<ThrottlerStorageRecord> {
    const base = redisKeys.rateLimit(`{${throttlerName}:${key}}`);
    // A callback, not an async layer: one promise less on every API request.
    return hit.run(this.redis, [base, `${base}:blocked`], [ttl, limit, blockDuration || ttl]).then(
      ([hits, left, blocked, blockLeft]) => ({
        totalHits: hits,
        timeToExpire: Math.ceil(left / 1000),
        isBlocked: blocked === 1,
        timeToBlockExpire: Math.ceil(blockLeft / 1000),
      }),
      rethrowStorage,
    );
  }
}
