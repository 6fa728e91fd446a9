import { Logger } from '@nestjs/common';
import type { Cluster, Redis } from 'ioredis';
import { redisKeys, roomIdOfChannel } from '../storage/redis-keys.js';
import { rethrowStorage } from '../storage/storage-errors.js';
import { waitUntilReady } from '../storage/redis.client.js';
import { DomainError } from '../common/errors/domain-error.js';
import type { RedisClient } from '../storage/storage.tokens.js';
import { type EnvelopeHandler, RoomBroker } from './room-broker.js';

/**
 * Room fan-out over Redis pub/sub: one subscriber connection per instance,
 * subscribed to the channels of rooms with local connections. On a cluster it
 * uses sharded pub/sub (SSUBSCRIBE/SPUBLISH), so fan-out spreads over the masters.
 * ioredis re-subscribes by itself after a reconnect.
 */
export class RedisRoomBroker extends RoomBroker {
  private readonly logger = new Logger(RedisRoomBroker.name);
  private readonly subscriber: Redis | Cluster;
  private readonly sharded: boolean;
  private handler: EnvelopeHandler = () => undefined;
  private resync: () => void = () => undefined;

  constructor(private readonly redis: RedisClient) {
    super();
    this.sharded = 'nodes' in redis && typeof (redis as Cluster).nodes === 'function';
    // On a cluster, one subscriber per master: a single connection can only
    // SSUBSCRIBE to the slots of its own node.
    this.subscriber = this.sharded
      ? (redis as Cluster).duplicate(undefined, { shardedSubscribers: true })
      : (redis as Redis).duplicate();
    this.subscriber.on('error', (err: Error) => this.logger.debug(`subscriber: ${err.message}`));
    const deliver = (channel: string, message: string) => {
      const roomId = roomIdOfChannel(channel);
      if (roomId !== undefined) this.handler(roomId, message);
    };
    this.subscriber.on(this.sharded ? 'smessage' : 'message', deliver);
    // After a reconnect ioredis re-subscribes by itself; whatever was published
    // while the subscriber was away must be fetched from storage.
    let connectedBefore = false;
    this.subscriber.on('ready', () => {
      if (connectedBefore) this.resync();
      connectedBefore = true;
    });
  }

  get publishCommand(): 'PUBLISH' | 'SPUBLISH' {
    return this.sharded ? 'SPUBLISH' : 'PUBLISH';
  }

  async subscribe(roomId: string): Promise<void> {
    // The subscriber connects lazily and queues nothing while away: wait briefly.
    if (this.subscriber.status !== 'ready' && !(await waitUntilReady(this.subscriber, 1500))) {
      throw DomainError.storageUnavailable();
    }
    const channel = redisKeys.roomChannel(roomId);
    await (this.sharded ? this.subscriber.ssubscribe(channel) : this.subscriber.subscribe(channel)).catch(
      rethrowStorage,
    );
  }

  async unsubscribe(roomId: string): Promise<void> {
    const channel = redisKeys.roomChannel(roomId);
    await (this.sharded ? this.subscriber.sunsubscribe(channel) : this.subscriber.unsubscribe(channel)).catch(
      () => undefined,
    );
  }

  async publish(roomId: string, envelope: string): Promise<void> {
    const channel = redisKeys.roomChannel(roomId);
    await (this.sharded ? this.redis.spublish(channel, envelope) : this.redis.publish(channel, envelope)).catch(
      rethrowStorage,
    );
  }

  onEnvelope(handler: EnvelopeHandler): void {
    this.handler = handler;
  }

  onResync(handler: () => void): void {
    this.resync = handler;
  }

  async close(): Promise<void> {
    await this.subscriber.quit().catch(() => this.subscriber.disconnect());
  }
}
