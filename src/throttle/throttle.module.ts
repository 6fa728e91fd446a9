import { type ExecutionContext, Module } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { ThrottlerModule, ThrottlerStorageService } from '@nestjs/throttler';
import { AuthModule } from '../auth/auth.module.js';
import { AuthService } from '../auth/auth.service.js';
import type { Env } from '../config/env.schema.js';
import { REDIS, type RedisClient, STORE_KIND, type StoreKind } from '../storage/storage.tokens.js';
import { hasIdentity, ipTracker, subTracker } from './api-throttler.guard.js';
import { RedisThrottlerStorage } from './redis-throttler.storage.js';
import { API_THROTTLER, SUB_THROTTLER, UpgradeLimiter } from './upgrade-limiter.js';

/**
 * The throttler configuration and storage. `ApiThrottlerGuard` itself is on every
 * `/api/v1` controller (`ApiController`), between the auth guards.
 */
@Module({
  imports: [
    ThrottlerModule.forRootAsync({
      imports: [AuthModule],
      inject: [ConfigService, STORE_KIND, REDIS, AuthService],
      useFactory: (config: ConfigService<Env, true>, kind: StoreKind, redis: RedisClient | null, auth: AuthService) => ({
        throttlers: [
          {
            // Per client IP, shared by every /api/v1 route and the WebSocket upgrade.
            name: API_THROTTLER,
            ttl: config.get('RATE_LIMIT_TTL', { infer: true }) * 1000,
            limit: config.get('RATE_LIMIT_LIMIT', { infer: true }),
            getTracker: ipTracker,
          },
          // With auth on: the same budget again per verified token `sub`, skipped for a request without
          // one. With auth off no request has one, so the throttler is not there to be skipped on each.
          ...(auth.enabled
            ? [
                {
                  name: SUB_THROTTLER,
                  ttl: config.get('RATE_LIMIT_TTL', { infer: true }) * 1000,
                  limit: config.get('RATE_LIMIT_LIMIT', { infer: true }),
                  getTracker: subTracker,
                  skipIf: (context: ExecutionContext) => !hasIdentity(context),
                },
              ]
            : []),
        ],
        storage: kind === 'redis' && redis ? new RedisThrottlerStorage(redis) : new ThrottlerStorageService(),
        errorMessage: 'Too Many Requests',
      }),
    }),
  ],
  providers: [UpgradeLimiter],
  exports: [UpgradeLimiter],
})
export class ThrottleModule {}
