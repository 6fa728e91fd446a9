import { Inject, Injectable, Module, type OnApplicationShutdown } from '@nestjs/common';
import { REDIS, type RedisClient, STORE_KIND, type StoreKind } from '../storage/storage.tokens.js';
import { MemoryRoomBroker, RoomBroker } from './room-broker.js';
import { RedisRoomBroker } from './redis-room-broker.js';

@Injectable()
class BrokerLifecycle implements OnApplicationShutdown {
  constructor(@Inject(RoomBroker) private readonly broker: RoomBroker) {}

  async onApplicationShutdown(): Promise<void> {
    if (this.broker instanceof RedisRoomBroker) await this.broker.close();
  }
}

@Module({
  providers: [
    {
      provide: RoomBroker,
      inject: [STORE_KIND, REDIS],
      useFactory: (kind: StoreKind, redis: RedisClient | null) =>
        kind === 'redis' && redis ? new RedisRoomBroker(redis) : new MemoryRoomBroker(),
    },
    BrokerLifecycle,
  ],
  exports: [RoomBroker],
})
export class RealtimeModule {}
