import { Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { ConfigService } from '@nestjs/config';
import { ThrottlerModule, ThrottlerStorageService } from '@nestjs/throttler';
import type { Env } from '../config/env.schema.js';
import { REDIS, type RedisClient, STORE_KIND, type StoreKind } from '../storage/storage.tokens.js';
import { ApiThrottlerGuard } from './api-throttler.guard.js';
import { RedisThrottlerStorage } from './redis-throttler.storage.js';
import { API_THROTTLER, UpgradeLimiter } from './upgrade-limiter.js';

@Module({
  imports: [
    ThrottlerModule.forRootAsync({
      inject: [ConfigService, STORE_KIND, REDIS],
      useFactory: (config: ConfigService<Env, true>, kind: StoreKind, redis: RedisClient | null) => ({
        throttlers: [
          {
            // 'default' keeps the headers unsuffixed: X-RateLimit-Limit, Retry-After.
            name: API_THROTTLER,
            ttl: config.get('RATE_LIMIT_TTL', { infer: true }) * 1000,
            limit: config.get('RATE_LIMIT_LIMIT', { infer: true }),
          },
        ],
        storage: kind === 'redis' && redis ? new RedisThrottlerStorage(redis) : new ThrottlerStorageService(),
        errorMessage: 'Too Many Requests',
      }),
    }),
  ],
  providers: [{ provide: APP_GUARD, useClass: ApiThrottlerGuard }, UpgradeLimiter],
  exports: [UpgradeLimiter],
})
export class ThrottleModule {}
