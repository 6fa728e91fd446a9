import {
  Inject,
  Injectable,
  Logger,
  type BeforeApplicationShutdown,
  type OnApplicationBootstrap,
  Optional,
} from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import type { Env } from '../config/env.schema.js';
import { redisKeys } from '../storage/redis-keys.js';
import { RedisScript } from '../storage/redis-scripts.js';
import { INSTANCE_ID, REDIS, type RedisClient } from '../storage/storage.tokens.js';
import { ConnectionHub } from './connection-hub.js';
import { Presence } from './presence.js';
import { joinFrame, leaveFrame } from './presence-frames.js';
import { RoomBroker } from './room-broker.js';
import { eventEnvelope } from './room-event.js';

/** Heartbeat on Redis' clock. Returns 1 when this instance was not registered (first beat, or reaped). */
const beat = new RedisScript<number>(
  'parleyInstanceBeat',
  1,
  `
local t = redis.call('TIME')
return redis.call('ZADD', KEYS[1], t[1] * 1000 + math.floor(t[2] / 1000), ARGV[1])
`,
);

/** Instances whose last heartbeat is older than ARGV[1] ms, on Redis' clock. */
const dead = new RedisScript<string[]>(
  'parleyInstancesDead',
  1,
  `
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[1]))
`,
);

/** Removes a dead instance's connections from a room's presence; returns the users who left with it. */
const reapRoom = new RedisScript<string[]>(
  'parleyPresenceReap',
  2,
  `
local prefix = ARGV[1] .. '|'
local fields = redis.call('HGETALL', KEYS[2])
local gone = {}
for i = 1, #fields, 2 do
  local f = fields[i]
  if string.sub(f, 1, #prefix) == prefix then
    local user = string.sub(f, #prefix + 1)
    redis.call('HDEL', KEYS[2], f)
    local n = redis.call('HINCRBY', KEYS[1], user, -tonumber(fields[i + 1]))
    if n <= 0 then
      redis.call('HDEL', KEYS[1], user)
      table.insert(gone, user)
    end
  end
end
return gone
`,
);

/**
 * Liveness of the instances sharing one Redis, so no presence outlives its
 * instance: each instance beats every INSTANCE_TTL/3 seconds; any instance
 * subtracts the presence of one silent for INSTANCE_TTL seconds and announces
 * the leaves. An instance that finds itself reaped (e.g. after a long Redis
 * outage) counts its live connections back in.
 */
@Injectable()
export class InstanceRegistry implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(InstanceRegistry.name);
  private readonly ttlMs: number;
  private timer?: NodeJS.Timeout;
  private registered = false;
  /** Local time before which this instance reaps nobody (see tick). */
  private reapAfter = 0;
  private beating = false;

  constructor(
    @Optional() @Inject(REDIS) private readonly redis: RedisClient | null,
    @Inject(INSTANCE_ID) private readonly instanceId: string,
    @Inject(Presence) private readonly presence: Presence,
    @Inject(RoomBroker) private readonly broker: RoomBroker,
    private readonly hub: ConnectionHub,
    config: ConfigService<Env, true>,
  ) {
    this.ttlMs = config.get('INSTANCE_TTL', { infer: true }) * 1000;
  }

  onApplicationBootstrap(): void {
    if (!this.redis) return;
    const tick = () => void this.tick();
    tick();
    this.timer = setInterval(tick, Math.max(1000, Math.floor(this.ttlMs / 3)));
    this.timer.unref();
  }

  async beforeApplicationShutdown(): Promise<void> {
    clearInterval(this.timer);
    if (!this.redis || this.redis.status !== 'ready') return;
    // Leaving cleanly: our connections were closed (and left) by the gateway.
    await this.redis
      .multi()
      .zrem(redisKeys.instances, this.instanceId)
      .del(redisKeys.instanceRooms(this.instanceId))
      .exec()
      .catch(() => undefined);
  }

  /** One heartbeat and one reaping pass. */
  async tick(): Promise<void> {
    const redis = this.redis;
    if (!redis) return;
    try {
      const added = await beat.run(redis, [redisKeys.instances], [this.instanceId]);
      if (added === 1 && this.registered) await this.rejoin();
      this.registered = true;
      if (!this.beating) {
        // Just started, or back after our own beats failed (Redis was away): the
        // others could not beat either, so their stale scores prove nothing yet.
        // Give them one TTL to beat again before judging anyone dead.
        this.beating = true;
        this.reapAfter = Date.now() + this.ttlMs;
      }
      if (Date.now() < this.reapAfter) return;
      const gone = await dead.run(redis, [redisKeys.instances], [this.ttlMs]);
      for (const instance of gone) if (instance !== this.instanceId) await this.reap(instance);
    } catch (err) {
      this.beating = false;
      this.logger.debug(`heartbeat failed: ${String(err)}`);
    }
  }

  private async reap(instance: string): Promise<void> {
    const redis = this.redis!;
    const rooms = await redis.smembers(redisKeys.instanceRooms(instance));
    let users = 0;
    for (const roomId of rooms) {
      const gone = await reapRoom.run(
        redis,
        [redisKeys.presenceUsers(roomId), redisKeys.presenceByInstance(roomId)],
        [instance],
      );
      for (const userId of gone) await this.broker.publish(roomId, eventEnvelope(userId, leaveFrame(userId)));
      users += gone.length;
    }
    await redis.del(redisKeys.instanceRooms(instance));
    await redis.zrem(redisKeys.instances, instance);
    this.logger.warn(`instance ${instance} stopped beating: removed its presence (${users} leave(s) announced)`);
  }

  /** Counts this instance's live connections back into presence after it was reaped. */
  private async rejoin(): Promise<void> {
    const live = this.hub.connections().filter((c) => c.present);
    this.logger.warn(`this instance was reaped while away: re-announcing ${live.length} connection(s)`);
    for (const conn of live) await this.presence.join(conn.roomId, conn.userId, joinFrame(conn.userId));
  }
}
