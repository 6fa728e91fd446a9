import type { Env } from '../../src/config/env.schema.js';
import { COMMAND_TIMEOUT_MS, createRedisClient, waitingCommands, waitUntilReady } from '../../src/storage/redis.client.js';
import type { RedisClient } from '../../src/storage/storage.tokens.js';
import { type RedisServer, startRedis } from '../support/redis-server.js';

/**
 * The Redis client's command timeout against a real redis-server: it must fail a
 * command Redis does not answer (SPEC §2: 503 within 2 seconds), and must not fail
 * one Redis did answer while this process was too busy to read the reply.
 */

/** Keeps the event loop from turning for `ms`, as a burst of work on one core does. */
function blockEventLoop(ms: number): void {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    // busy: nothing else runs meanwhile
  }
}

let redis: RedisServer;
let client: RedisClient;

beforeAll(async () => {
  redis = await startRedis();
  client = createRedisClient({ REDIS_URL: redis.url } as Env, 'redis-client-spec');
  if (!(await waitUntilReady(client, 5000))) throw new Error(`no connection to ${redis.url}`);
});

afterAll(async () => {
  client?.disconnect();
  await redis?.stop();
});

describe('createRedisClient', () => {
  it('answers a command whose reply arrived while the event loop was blocked past the timeout', async () => {
    await client.set('stall', 'answered');
    const reply = client.get('stall');
    // Redis answers within a millisecond; the reply waits in the socket until the loop turns.
    blockEventLoop(COMMAND_TIMEOUT_MS + 500);
    await expect(reply).resolves.toBe('answered');
  });

  it('still fails a command that Redis does not answer, with "Command timed out"', async () => {
    process.kill(redis.pid, 'SIGSTOP');
    try {
      const started = Date.now();
      await expect(client.get('stall')).rejects.toThrow('Command timed out');
      const took = Date.now() - started;
      expect(took).toBeGreaterThanOrEqual(COMMAND_TIMEOUT_MS);
      expect(took).toBeLessThan(2000);
    } finally {
      process.kill(redis.pid, 'SIGCONT');
    }
    await expect(client.get('stall')).resolves.toBe('answered');
  });

  it('holds no answered command: every reply unlinks its command from the timeout list', async () => {
    const replies = await Promise.all(Array.from({ length: 500 }, (_, i) => client.incr(`count:${i % 7}`)));
    expect(replies).toHaveLength(500);
    expect(waitingCommands()).toBe(0);
  });

  it('fails every command in flight when Redis stops answering, each within 2 s, and recovers', async () => {
    const other = createRedisClient({ REDIS_URL: redis.url } as Env, 'redis-client-spec-2');
    try {
      if (!(await waitUntilReady(other, 5000))) throw new Error(`no connection to ${redis.url}`);
      process.kill(redis.pid, 'SIGSTOP');
      let outcomes: PromiseSettledResult<unknown>[];
      const started = Date.now();
      try {
        outcomes = await Promise.allSettled([
          ...Array.from({ length: 50 }, () => client.get('stall')),
          ...Array.from({ length: 50 }, () => other.get('stall')),
        ]);
      } finally {
        process.kill(redis.pid, 'SIGCONT');
      }
      const took = Date.now() - started;
      expect(outcomes.map((o) => (o.status === 'rejected' ? String(o.reason) : 'answered'))).toEqual(
        Array.from({ length: 100 }, () => 'Error: Command timed out'),
      );
      expect(took).toBeGreaterThanOrEqual(COMMAND_TIMEOUT_MS);
      expect(took).toBeLessThan(2000);
      expect(waitingCommands()).toBe(0);
      await expect(other.get('stall')).resolves.toBe('answered');
    } finally {
      other.disconnect();
    }
  });
});
