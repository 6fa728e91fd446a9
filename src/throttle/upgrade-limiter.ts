import { Inject, Injectable } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { ThrottlerStorage } from '@nestjs/throttler';
import type { Env } from '../config/env.schema.js';

export const API_THROTTLER = 'default';
/** The per-`sub` budget of authenticated requests (auth on only). */
export const SUB_THROTTLER = 'sub';

export interface UpgradeVerdict {
  allowed: boolean;
  /** Seconds until the client may try again, when refused. */
  retryAfter: number;
}

/**
 * Counts a WebSocket upgrade against the client IP's REST budget: same storage,
 * same key (`<throttler>:<ip>`, as `ApiThrottlerGuard` builds it), same limits.
 */
@Injectable()
export class UpgradeLimiter {
  private readonly ttlMs: number;
  private readonly limit: number;

  constructor(
    @Inject(ThrottlerStorage) private readonly storage: ThrottlerStorage,
    config: ConfigService<Env, true>,
  ) {
    this.ttlMs = config.get('RATE_LIMIT_TTL', { infer: true }) * 1000;
    this.limit = config.get('RATE_LIMIT_LIMIT', { infer: true });
  }

  async consume(ip: string): Promise<UpgradeVerdict> {
    const r = await this.storage.increment(`${API_THROTTLER}:${ip}`, this.ttlMs, this.limit, this.ttlMs, API_THROTTLER);
    return r.isBlocked ? { allowed: false, retryAfter: r.timeToBlockExpire } : { allowed: true, retryAfter: 0 };
  }
}
