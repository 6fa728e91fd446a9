import type { RedisClient } from './storage.tokens.js';

/**
 * A Lua script registered on a client with `defineCommand`: ioredis sends EVALSHA
 * and falls back to EVAL once per connection, so each call is one round trip.
 */
export class RedisScript<TResult> {
  private readonly bufferName: string;

  constructor(
    private readonly name: string,
    private readonly numberOfKeys: number,
    private readonly lua: string,
  ) {
    this.bufferName = `${name}Buffer`;
  }

  run(redis: RedisClient, keys: string[], args: (string | number)[]): Promise<TResult> {
    return this.call(redis, this.name, keys, args) as Promise<TResult>;
  }

  /**
   * The same call with bulk replies as Buffers, not decoded to strings (ioredis' `<name>Buffer`
   * twin of a defined command): for replies that are passed on as bytes.
   */
  runBuffer<TBufferResult>(redis: RedisClient, keys: string[], args: (string | number)[]): Promise<TBufferResult> {
    return this.call(redis, this.bufferName, keys, args) as Promise<TBufferResult>;
  }

  private call(redis: RedisClient, name: string, keys: string[], args: (string | number)[]): Promise<unknown> {
    const client = redis as unknown as Record<string, (...a: (string | number)[]) => Promise<unknown>>;
    if (typeof client[this.name] !== 'function') {
      redis.defineCommand(this.name, { numberOfKeys: this.numberOfKeys, lua: this.lua });
    }
    return client[name](...keys, ...args);
  }
}

/** One page of an id list, resolved through a hash of JSON rows, in one round trip. */
export const pageOfHash = new RedisScript<(string | null)[]>(
  'parleyPageOfHash',
  2,
  `
local ids = redis.call('LRANGE', KEYS[1], ARGV[1], ARGV[1] + ARGV[2] - 1)
if #ids == 0 then return {} end
return redis.call('HMGET', KEYS[2], unpack(ids))
`,
);
