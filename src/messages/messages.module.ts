import { Module } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import type { Env } from '../config/env.schema.js';
import { RealtimeModule } from '../realtime/realtime.module.js';
import { MemoryRoomBroker, RoomBroker } from '../realtime/room-broker.js';
import { RedisRoomBroker } from '../realtime/redis-room-broker.js';
import { RoomsModule } from '../rooms/rooms.module.js';
import { REDIS, type RedisClient } from '../storage/storage.tokens.js';
import { UsersModule } from '../users/users.module.js';
import { MemoryMessagesRepository } from './memory-messages.repository.js';
import { MessagesController } from './messages.controller.js';
import { MessagesRepository } from './messages.repository.js';
import { MessagesService } from './messages.service.js';
import { RedisMessagesRepository } from './redis-messages.repository.js';

@Module({
  imports: [RealtimeModule, RoomsModule, UsersModule],
  controllers: [MessagesController],
  providers: [
    MessagesService,
    {
      // The store and the broker come as a pair: the Redis send script publishes
      // on the broker's channel; the memory store publishes on the in-process bus.
      provide: MessagesRepository,
      inject: [RoomBroker, REDIS, ConfigService],
      useFactory: (broker: RoomBroker, redis: RedisClient | null, config: ConfigService<Env, true>) => {
        const retention = config.get('MESSAGE_RETENTION', { infer: true });
        const idempotencyTtlSeconds = config.get('IDEMPOTENCY_TTL', { infer: true });
        if (broker instanceof RedisRoomBroker && redis) {
          return new RedisMessagesRepository(redis, {
            retention,
            idempotencyTtlSeconds,
            publishCommand: broker.publishCommand,
          });
        }
        return new MemoryMessagesRepository(broker as MemoryRoomBroker, { retention, idempotencyTtlSeconds });
      },
    },
  ],
  exports: [MessagesService],
})
export class MessagesModule {}
