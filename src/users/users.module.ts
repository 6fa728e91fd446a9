import { Module } from '@nestjs/common';
import { REDIS, type RedisClient, STORE_KIND, type StoreKind } from '../storage/storage.tokens.js';
import { MemoryUsersRepository } from './memory-users.repository.js';
import { RedisUsersRepository } from './redis-users.repository.js';
import { UsersController } from './users.controller.js';
import { UsersRepository } from './users.repository.js';
import { UsersService } from './users.service.js';

@Module({
  controllers: [UsersController],
  providers: [
    UsersService,
    {
      provide: UsersRepository,
      inject: [STORE_KIND, REDIS],
      useFactory: (kind: StoreKind, redis: RedisClient | null) =>
        kind === 'redis' && redis ? new RedisUsersRepository(redis) : new MemoryUsersRepository(),
    },
  ],
  exports: [UsersService],
})
export class UsersModule {}
