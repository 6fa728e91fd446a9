import { redisKeys } from '../storage/redis-keys.js';
import { RedisScript } from '../storage/redis-scripts.js';
import { DomainError } from '../common/errors/domain-error.js';
import { rethrowStorage, toStorageError } from '../storage/storage-errors.js';
import type { RedisClient } from '../storage/storage.tokens.js';
import type { MemoryRoomBroker } from './room-broker.js';
import { eventEnvelope } from './room-event.js';

/**
 * Per-user presence in a room, across instances: a user joins with their first
 * connection anywhere and leaves with their last. The join/leave frame is
 * published by the same atomic step that counts, so it is ordered with messages.
 */
export abstract class Presence {
  /** Counts one connection; publishes `joinFrame` to the others when it is the user's first. */
  abstract join(roomId: string, userId: string, joinFrame: string): Promise<boolean>;
  /** Uncounts one connection; publishes `leaveFrame` to the others when it was the user's last. */
  abstract leave(roomId: string, userId: string, leaveFrame: string): Promise<boolean>;
}

export class MemoryPresence extends Presence {
  private readonly counts = new Map<string, number>();

  constructor(private readonly broker: MemoryRoomBroker) {
    super();
  }

  join(roomId: string, userId: string, joinFrame: string): Promise<boolean> {
    const key = `${roomId}\u0000${userId}`;
    const n = (this.counts.get(key) ?? 0) + 1;
    this.counts.set(key, n);
    if (n === 1) this.broker.publishNow(roomId, eventEnvelope(userId, joinFrame));
    return Promise.resolve(n === 1);
  }

  leave(roomId: string, userId: string, leaveFrame: string): Promise<boolean> {
    const key = `${roomId}\u0000${userId}`;
    const n = (this.counts.get(key) ?? 0) - 1;
    if (n > 0) {
      this.counts.set(key, n);
      return Promise.resolve(false);
    }
    this.counts.delete(key);
    this.broker.publishNow(roomId, eventEnvelope(userId, leaveFrame));
    return Promise.resolve(true);
  }
}

/** KEYS: users hash, per-instance hash, channel. ARGV: user, instance|user, envelope, publish command. */
const joinScript = new RedisScript<number>(
  'parleyPresenceJoin',
  3,
  `
redis.call('HINCRBY', KEYS[2], ARGV[2], 1)
local n = redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
if n == 1 then redis.call(ARGV[4], KEYS[3], ARGV[3]) end
return n
`,
);

const leaveScript = new RedisScript<number>(
  'parleyPresenceLeave',
  3,
  `
local mine = redis.call('HINCRBY', KEYS[2], ARGV[2], -1)
if mine <= 0 then redis.call('HDEL', KEYS[2], ARGV[2]) end
if mine < 0 then return -1 end
local n = redis.call('HINCRBY', KEYS[1], ARGV[1], -1)
if n <= 0 then
  redis.call('HDEL', KEYS[1], ARGV[1])
  redis.call(ARGV[4], KEYS[3], ARGV[3])
end
return n
`,
);

/**
 * Presence in Redis: a total per user, and a count per (instance, user) so that
 * the connections of an instance that died can be subtracted (see the reaper).
 */
export class RedisPresence extends Presence {
  /** Leaves that could not be counted while Redis was away; retried when it is back. */
  private owed: [roomId: string, userId: string, leaveFrame: string][] = [];

  constructor(
    private readonly redis: RedisClient,
    private readonly instanceId: string,
    private readonly publishCommand: 'PUBLISH' | 'SPUBLISH',
  ) {
    super();
    redis.on('ready', () => {
      const owed = this.owed;
      this.owed = [];
      for (const [roomId, userId, frame] of owed) void this.leave(roomId, userId, frame).catch(() => undefined);
    });
  }

  async join(roomId: string, userId: string, joinFrame: string): Promise<boolean> {
    const n = await joinScript
      .run(this.redis, this.keys(roomId), [userId, `${this.instanceId}|${userId}`,
        eventEnvelope(userId, joinFrame), this.publishCommand])
      .catch(rethrowStorage);
    void this.redis.sadd(redisKeys.instanceRooms(this.instanceId), roomId).catch(() => undefined);
    return n === 1;
  }

  async leave(roomId: string, userId: string, leaveFrame: string): Promise<boolean> {
    try {
      const n = await leaveScript.run(this.redis, this.keys(roomId), [
        userId,
        `${this.instanceId}|${userId}`,
        eventEnvelope(userId, leaveFrame),
        this.publishCommand,
      ]);
      return n === 0;
    } catch (err) {
      const error = toStorageError(err);
      if (error instanceof DomainError) this.owed.push([roomId, userId, leaveFrame]);
      throw error;
    }
  }

  private keys(roomId: string): string[] {
    return [redisKeys.presenceUsers(roomId), redisKeys.presenceByInstance(roomId), redisKeys.roomChannel(roomId)];
  }
}
