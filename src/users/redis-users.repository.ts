import { redisKeys } from '../storage/redis-keys.js';
import { pageOfHash, RedisScript } from '../storage/redis-scripts.js';
import { rethrowStorage } from '../storage/storage-errors.js';
import type { RedisClient } from '../storage/storage.tokens.js';
import type { User } from './user.js';
import { UsersRepository } from './users.repository.js';

/** Claims the lower-cased username and stores the user in one atomic step. */
const createUser = new RedisScript<number>(
  'parleyCreateUser',
  3,
  `
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
redis.call('RPUSH', KEYS[3], ARGV[2])
return 1
`,
);

export class RedisUsersRepository extends UsersRepository {
  constructor(private readonly redis: RedisClient) {
    super();
  }

  async create(user: User): Promise<boolean> {
    const created = await createUser
      .run(
        this.redis,
        [redisKeys.usernames, redisKeys.usersData, redisKeys.usersIndex],
        [user.username.toLowerCase(), user.id, JSON.stringify(user)],
      )
      .catch(rethrowStorage);
    return created === 1;
  }

  async findById(id: string): Promise<User | null> {
    const json = await this.redis.hget(redisKeys.usersData, id).catch(rethrowStorage);
    return json ? (JSON.parse(json) as User) : null;
  }

  async list(offset: number, limit: number): Promise<User[]> {
    const rows = await pageOfHash
      .run(this.redis, [redisKeys.usersIndex, redisKeys.usersData], [offset, limit])
      .catch(rethrowStorage);
    return rows.filter((r): r is string => r !== null).map((r) => JSON.parse(r) as User);
  }
}
