import { Redis } from 'ioredis';
import { MemoryRoomsRepository } from '../../src/rooms/memory-rooms.repository.js';
import { RedisRoomsRepository } from '../../src/rooms/redis-rooms.repository.js';
import type { Room } from '../../src/rooms/room.js';
import type { RoomsRepository } from '../../src/rooms/rooms.repository.js';
import { type ContractDriver, describeContract } from '../support/contract.js';
import { type RedisServer, startRedis } from '../support/redis-server.js';

/** One driver of the port: how to start it, get a fresh repository, and stop it. */
type Driver = ContractDriver<RoomsRepository>;

function memoryDriver(): Driver {
  return {
    start: () => Promise.resolve(),
    fresh: () => Promise.resolve(new MemoryRoomsRepository()),
    stop: () => Promise.resolve(),
  };
}

function redisDriver(): Driver {
  let server: RedisServer | undefined;
  let client: Redis | undefined;
  return {
    async start() {
      server = await startRedis();
      client = new Redis(server.url);
    },
    async fresh() {
      await client!.flushall();
      return new RedisRoomsRepository(client!);
    },
    async stop() {
      await client?.quit();
      await server?.stop();
    },
  };
}

let counter = 0;
function room(name?: string): Room {
  counter++;
  return { id: `room-${counter}`, name: name ?? `room ${counter}`, created_at: new Date().toISOString() };
}

describeContract('RoomsRepository contract', { memory: memoryDriver, redis: redisDriver }, (t) => {
  it('finds a created room by id, unchanged', async () => {
    const r = room('General Chat');
    await t.repo.create(r);
    await expect(t.repo.findById(r.id)).resolves.toEqual(r);
  });

  it('answers null for an unknown id', async () => {
    await t.repo.create(room());
    await expect(t.repo.findById('no-such-room')).resolves.toBeNull();
    await expect(t.repo.findById('')).resolves.toBeNull();
  });

  it('lists nothing when empty', async () => {
    await expect(t.repo.list(0, 100)).resolves.toEqual([]);
  });

  it('lists rooms oldest first', async () => {
    const rooms = [room('a'), room('b'), room('c'), room('d')];
    for (const r of rooms) await t.repo.create(r);
    await expect(t.repo.list(0, 100)).resolves.toEqual(rooms);
  });

  it('pages with offset and limit', async () => {
    const rooms = Array.from({ length: 7 }, (_, i) => room(`r${i}`));
    for (const r of rooms) await t.repo.create(r);
    await expect(t.repo.list(0, 3)).resolves.toEqual(rooms.slice(0, 3));
    await expect(t.repo.list(3, 3)).resolves.toEqual(rooms.slice(3, 6));
    await expect(t.repo.list(6, 3)).resolves.toEqual(rooms.slice(6));
    await expect(t.repo.list(2, 1)).resolves.toEqual([rooms[2]]);
    await expect(t.repo.list(7, 3)).resolves.toEqual([]);
    await expect(t.repo.list(100, 1000)).resolves.toEqual([]);
  });

  it('keeps rooms with the same name apart', async () => {
    const a = room('Same');
    const b = room('Same');
    await t.repo.create(a);
    await t.repo.create(b);
    await expect(t.repo.findById(a.id)).resolves.toEqual(a);
    await expect(t.repo.findById(b.id)).resolves.toEqual(b);
    await expect(t.repo.list(0, 10)).resolves.toEqual([a, b]);
  });

  it('round-trips names with emoji, quotes and non-Latin text', async () => {
    const r = room('👋🏽 Café "quoted" \\ 日本語 𝄞');
    await t.repo.create(r);
    await expect(t.repo.findById(r.id)).resolves.toEqual(r);
    await expect(t.repo.list(0, 1)).resolves.toEqual([r]);
  });
});
