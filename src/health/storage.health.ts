import { Inject, Injectable, Optional } from '@nestjs/common';
import { HealthIndicatorService } from '@nestjs/terminus';
import { REDIS, type RedisClient } from '../storage/storage.tokens.js';

/** Terminus indicator: the store answers (a Redis PING; the memory store always does). */
@Injectable()
export class StorageHealthIndicator {
  constructor(
    private readonly indicators: HealthIndicatorService,
    @Optional() @Inject(REDIS) private readonly redis: RedisClient | null,
  ) {}

  async check(key = 'storage') {
    const indicator = this.indicators.check(key);
    if (!this.redis) return indicator.up({ store: 'memory' });
    try {
      await this.redis.ping();
      return indicator.up({ store: 'redis' });
    } catch {
      return indicator.down({ store: 'redis', message: 'Storage unavailable' });
    }
  }
}
