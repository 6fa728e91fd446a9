import { redisKeys } from '../storage/redis-keys.js';
import { pageOfHash } from '../storage/redis-scripts.js';
import { rethrowStorage } from '../storage/storage-errors.js';
import type { RedisClient } from '../storage/storage.tokens.js';
import type { Room } from './room.js';
import { RoomsRepository } from './rooms.repository.js';

export class RedisRoomsRepository extends RoomsRepository {
  constructor(private readonly redis: RedisClient) {
    super();
  }

  async create(room: Room): Promise<void> {
    await this.redis
      .multi()
      .hset(redisKeys.roomsData, room.id, JSON.stringify(room))
      .rpush(redisKeys.roomsIndex, room.id)
      .exec()
      .catch(rethrowStorage);
  }

  async findById(id: string): Promise<Room | null> {
    const json = await this.redis.hget(redisKeys.roomsData, id).catch(rethrowStorage);
    return json ? (JSON.parse(json) as Room) : null;
  }

  async list(offset: number, limit: number): Promise<Room[]> {
    const rows = await pageOfHash
      .run(this.redis, [redisKeys.roomsIndex, redisKeys.roomsData], [offset, limit])
      .catch(rethrowStorage);
    return rows.filter((r): r is string => r !== null).map((r) => JSON.parse(r) as Room);
  }
}
