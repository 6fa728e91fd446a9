import { Module } from '@nestjs/common';
import { REDIS, type RedisClient, STORE_KIND, type StoreKind } from '../storage/storage.tokens.js';
import { MemoryRoomsRepository } from './memory-rooms.repository.js';
import { RedisRoomsRepository } from './redis-rooms.repository.js';
import { RoomsController } from './rooms.controller.js';
import { RoomsRepository } from './rooms.repository.js';
import { RoomsService } from './rooms.service.js';

@Module({
  controllers: [RoomsController],
  providers: [
    RoomsService,
    {
      provide: RoomsRepository,
      inject: [STORE_KIND, REDIS],
      useFactory: (kind: StoreKind, redis: RedisClient | null) =>
        kind === 'redis' && redis ? new RedisRoomsRepository(redis) : new MemoryRoomsRepository(),
    },
  ],
  exports: [RoomsService],
})
export class RoomsModule {}
