import {
  type DynamicModule,
  Global,
  Inject,
  Injectable,
  Logger,
  Module,
  type OnApplicationShutdown,
  type OnModuleInit,
  Optional,
} from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { type Env, storeKind } from '../config/env.schema.js';
import { createRedisClient, waitUntilReady } from './redis.client.js';
import { INSTANCE_ID, REDIS, type RedisClient, STORE_KIND, type StoreKind } from './storage.tokens.js';

/** Connects and disconnects the command connection; warns when the store is memory. */
@Injectable()
class StorageLifecycle implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('Storage');

  constructor(
    @Inject(STORE_KIND) private readonly kind: StoreKind,
    @Optional() @Inject(REDIS) private readonly redis: RedisClient | null,
  ) {}

  async onModuleInit(): Promise<void> {
    if (!this.redis) {
      this.logger.warn(
        'Using the embedded in-memory store: nothing survives a restart and instances share nothing. ' +
          'Set REDIS_URL (or REDIS_CLUSTER_NODES) for durable, multi-instance storage.',
      );
      return;
    }
    let lastError = '';
    this.redis.on('error', (err: Error) => {
      // ioredis reconnects by itself; log each distinct failure once, not every retry.
      if (err.message !== lastError) this.logger.error(`Redis: ${err.message}`);
      lastError = err.message;
    });
    this.redis.on('ready', () => {
      if (lastError) this.logger.log('Redis connection restored');
      lastError = '';
    });
    if (!(await waitUntilReady(this.redis, 5000))) {
      this.logger.error('Redis is not reachable yet: serving 503 until it is (reconnecting in the background)');
    }
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.redis && this.kind === 'redis') {
      await this.redis.quit().catch(() => this.redis?.disconnect());
    }
  }
}

@Global()
@Module({})
export class StorageModule {
  static register(env: Env): DynamicModule {
    const kind = storeKind(env);
    return {
      module: StorageModule,
      providers: [
        { provide: STORE_KIND, useValue: kind },
        {
          provide: INSTANCE_ID,
          useValue: `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`,
        },
        {
          provide: REDIS,
          useFactory: () => (kind === 'redis' ? createRedisClient(env, 'parley') : null),
        },
        StorageLifecycle,
      ],
      exports: [STORE_KIND, INSTANCE_ID, REDIS],
    };
  }
}
