import { Redis } from 'ioredis';
import { MemoryUsersRepository } from '../../src/users/memory-users.repository.js';
import { RedisUsersRepository } from '../../src/users/redis-users.repository.js';
import type { User } from '../../src/users/user.js';
import type { UsersRepository } from '../../src/users/users.repository.js';
import { type ContractDriver, describeContract } from '../support/contract.js';
import { type RedisServer, startRedis } from '../support/redis-server.js';

/** One driver of the port: how to start it, get fresh repositories on one store, and stop it. */
interface Driver extends ContractDriver<UsersRepository> {
  /** A second repository on the same store (another instance). */
  another(): UsersRepository;
}

function memoryDriver(): Driver {
  let current: MemoryUsersRepository | undefined;
  return {
    start: () => Promise.resolve(),
    fresh: () => Promise.resolve((current = new MemoryUsersRepository())),
    another: () => current!,
    stop: () => Promise.resolve(),
  };
}

function redisDriver(): Driver {
  let server: RedisServer | undefined;
  let client: Redis | undefined;
  let second: Redis | undefined;
  return {
    async start() {
      server = await startRedis();
      client = new Redis(server.url);
      second = new Redis(server.url);
    },
    async fresh() {
      await client!.flushall();
      return new RedisUsersRepository(client!);
    },
    another: () => new RedisUsersRepository(second!),
    async stop() {
      await client?.quit();
      await second?.quit();
      await server?.stop();
    },
  };
}

let counter = 0;
function user(username: string): User {
  counter++;
  return { id: `user-${counter}`, username, created_at: new Date().toISOString() };
}

describeContract('UsersRepository contract', { memory: memoryDriver, redis: redisDriver }, (t) => {
  it('creates a user and finds it by id, unchanged', async () => {
    const u = user('john_doe');
    await expect(t.repo.create(u)).resolves.toBe(true);
    await expect(t.repo.findById(u.id)).resolves.toEqual(u);
  });

  it('answers null for an unknown id', async () => {
    await t.repo.create(user('someone'));
    await expect(t.repo.findById('no-such-user')).resolves.toBeNull();
    await expect(t.repo.findById('')).resolves.toBeNull();
  });

  it('keeps the username exactly as given', async () => {
    const u = user('MiXeD.Case-Name_1');
    await t.repo.create(u);
    await expect(t.repo.findById(u.id)).resolves.toEqual(expect.objectContaining({ username: 'MiXeD.Case-Name_1' }));
  });

  it('refuses a taken username, case-insensitively, and stores nothing for it', async () => {
    const first = user('Alice');
    await expect(t.repo.create(first)).resolves.toBe(true);
    const again = user('Alice');
    const lower = user('alice');
    const upper = user('ALICE');
    await expect(t.repo.create(again)).resolves.toBe(false);
    await expect(t.repo.create(lower)).resolves.toBe(false);
    await expect(t.repo.create(upper)).resolves.toBe(false);
    await expect(t.repo.findById(again.id)).resolves.toBeNull();
    await expect(t.repo.findById(lower.id)).resolves.toBeNull();
    await expect(t.repo.findById(upper.id)).resolves.toBeNull();
    await expect(t.repo.list(0, 100)).resolves.toEqual([first]);
  });

  it('accepts usernames that differ only beyond case', async () => {
    await expect(t.repo.create(user('alice'))).resolves.toBe(true);
    await expect(t.repo.create(user('alice_'))).resolves.toBe(true);
    await expect(t.repo.create(user('alice.'))).resolves.toBe(true);
    await expect(t.repo.list(0, 100)).resolves.toHaveLength(3);
  });

  it('lets exactly one of two concurrent creates with differing case win', async () => {
    const a = user('Racer');
    const b = user('rACER');
    const results = await Promise.all([t.repo.create(a), t.driver.another().create(b)]);
    expect(results.filter((r) => r)).toHaveLength(1);
    const winner = results[0] ? a : b;
    const loser = results[0] ? b : a;
    await expect(t.repo.findById(winner.id)).resolves.toEqual(winner);
    await expect(t.repo.findById(loser.id)).resolves.toBeNull();
    await expect(t.repo.list(0, 100)).resolves.toEqual([winner]);
  });

  it('lets exactly one of many concurrent creates of one name win', async () => {
    const spellings = ['swarm', 'SWARM', 'Swarm', 'sWarm', 'swARM', 'swarM', 'SwArM', 'sWaRm'];
    const results = await Promise.all(
      spellings.map((s, i) => (i % 2 === 0 ? t.repo : t.driver.another()).create(user(s))),
    );
    expect(results.filter((r) => r)).toHaveLength(1);
    await expect(t.repo.list(0, 100)).resolves.toHaveLength(1);
  });

  it('lists nothing when empty', async () => {
    await expect(t.repo.list(0, 100)).resolves.toEqual([]);
  });

  it('lists users oldest first and pages with offset and limit', async () => {
    const users = ['u_one', 'u_two', 'u_three', 'u_four', 'u_five'].map(user);
    for (const u of users) await t.repo.create(u);
    await expect(t.repo.list(0, 100)).resolves.toEqual(users);
    await expect(t.repo.list(0, 2)).resolves.toEqual(users.slice(0, 2));
    await expect(t.repo.list(2, 2)).resolves.toEqual(users.slice(2, 4));
    await expect(t.repo.list(4, 2)).resolves.toEqual(users.slice(4));
    await expect(t.repo.list(5, 2)).resolves.toEqual([]);
    await expect(t.repo.list(1000, 1000)).resolves.toEqual([]);
  });

  it('does not let a refused create disturb the order', async () => {
    const a = user('first');
    const b = user('second');
    await t.repo.create(a);
    await t.repo.create(user('FIRST'));
    await t.repo.create(b);
    await expect(t.repo.list(0, 100)).resolves.toEqual([a, b]);
  });
});
