import { Redis } from 'ioredis';
import { RedisMessagesRepository, type RedisMessagesOptions } from '../../src/messages/redis-messages.repository.js';
import { redisKeys } from '../../src/storage/redis-keys.js';
import { type RedisServer, startRedis } from '../support/redis-server.js';

/**
 * The store scripts have the process' settings (retention, publish command, idempotency
 * TTL) written into their text, not sent with each message. Against a real redis-server:
 * repositories with other settings on one client must each keep their own, and a message
 * without a client_msg_id must cost one EVALSHA of three keys and two arguments.
 */

let redis: RedisServer;
let client: Redis;

const OPTIONS: RedisMessagesOptions = { retention: 10_000, idempotencyTtlSeconds: 3600, publishCommand: 'PUBLISH' };

const send = (repo: RedisMessagesRepository, roomId: string, content: string, clientMsgId?: string) =>
  repo.append({ roomId, userId: 'u1', content, type: 'text', clientMsgId });

beforeAll(async () => {
  redis = await startRedis();
  client = new Redis(redis.url);
});

afterAll(async () => {
  client?.disconnect();
  await redis?.stop();
});

beforeEach(async () => {
  await client.flushall();
});

describe('RedisMessagesRepository store scripts', () => {
  it('keeps each repository on one client to its own retention', async () => {
    const two = new RedisMessagesRepository(client, { ...OPTIONS, retention: 2 });
    const three = new RedisMessagesRepository(client, { ...OPTIONS, retention: 3 });
    for (let i = 1; i <= 5; i++) {
      await send(two, 'room-two', `two ${i}`);
      await send(three, 'room-three', `three ${i}`);
    }
    const contents = async (roomId: string) =>
      (await client.lrange(redisKeys.roomMessages(roomId), 0, -1)).map((j) => (JSON.parse(j) as { content: string }).content);
    expect(await contents('room-two')).toEqual(['two 4', 'two 5']);
    expect(await contents('room-three')).toEqual(['three 3', 'three 4', 'three 5']);
  });

  it('keeps each repository on one client to its own idempotency TTL', async () => {
    const short = new RedisMessagesRepository(client, { ...OPTIONS, idempotencyTtlSeconds: 7 });
    const long = new RedisMessagesRepository(client, { ...OPTIONS, idempotencyTtlSeconds: 900 });
    await send(short, 'room-a', 'hi', 'c1');
    await send(long, 'room-b', 'hi', 'c1');
    expect(await client.ttl(redisKeys.idempotency('room-a', 'u1', 'c1'))).toBe(7);
    expect(await client.ttl(redisKeys.idempotency('room-b', 'u1', 'c1'))).toBe(900);
  });

  it('answers the stored JSON, and a repeat of a client_msg_id with the original', async () => {
    const repo = new RedisMessagesRepository(client, OPTIONS);
    const plain = await send(repo, 'room-a', 'hello');
    expect(plain.duplicate).toBe(false);
    expect(JSON.parse(plain.json)).toEqual({
      id: 'room-a.0000000001',
      room_id: 'room-a',
      user_id: 'u1',
      content: 'hello',
      type: 'text',
      created_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
    });
    const first = await send(repo, 'room-a', 'once', 'c1');
    const again = await send(repo, 'room-a', 'once, edited', 'c1');
    expect(first.duplicate).toBe(false);
    expect(JSON.parse(first.json)).toMatchObject({ id: 'room-a.0000000002', content: 'once', client_msg_id: 'c1' });
    expect(again).toEqual({ json: first.json, duplicate: true });
    expect(await client.llen(redisKeys.roomMessages('room-a'))).toBe(2);
  });

  it('sends a message without client_msg_id as one EVALSHA of 3 keys and 2 arguments', async () => {
    const repo = new RedisMessagesRepository(client, OPTIONS);
    await send(repo, 'room-a', 'warm-up'); // loads the script (NOSCRIPT, then EVAL) on this connection
    const monitor = await client.monitor();
    const seen: string[][] = [];
    monitor.on('monitor', (_time: string, args: string[]) => seen.push(args));
    await send(repo, 'room-a', 'watched');
    await client.ping('done');
    await new Promise<void>((resolve) => {
      const check = () => (seen.some((a) => a[0]?.toLowerCase() === 'ping') ? resolve() : setTimeout(check, 10));
      check();
    });
    monitor.disconnect();
    const calls = seen.filter((a) => a[0]?.toLowerCase() === 'evalsha');
    expect(calls).toHaveLength(1);
    const [, , numKeys, ...rest] = calls[0]!;
    expect(numKeys).toBe('3');
    expect(rest).toEqual([
      redisKeys.roomSeq('room-a'),
      redisKeys.roomMessages('room-a'),
      redisKeys.roomChannel('room-a'),
      'room-a.',
      '"room_id":"room-a","user_id":"u1","content":"watched","type":"text"',
    ]);
  });

  it('refuses settings that cannot be written into a script', () => {
    expect(() => new RedisMessagesRepository(client, { ...OPTIONS, retention: 0 })).toThrow(/retention/);
    expect(() => new RedisMessagesRepository(client, { ...OPTIONS, idempotencyTtlSeconds: 1.5 })).toThrow(/TTL/);
  });
});
