import { Inject, Injectable, Module, type OnApplicationShutdown } from '@nestjs/common';
import { INSTANCE_ID, REDIS, type RedisClient } from '../storage/storage.tokens.js';
import { ConnectionHub } from './connection-hub.js';
import { InstanceRegistry } from './instance-registry.js';
import { MemoryPresence, Presence, RedisPresence } from './presence.js';
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
      inject: [REDIS],
      useFactory: (redis: RedisClient | null) => (redis ? new RedisRoomBroker(redis) : new MemoryRoomBroker()),
    },
    {
      provide: Presence,
      inject: [RoomBroker, REDIS, INSTANCE_ID],
      useFactory: (broker: RoomBroker, redis: RedisClient | null, instanceId: string) =>
        broker instanceof RedisRoomBroker && redis
          ? new RedisPresence(redis, instanceId, broker.publishCommand)
          : new MemoryPresence(broker as MemoryRoomBroker),
    },
    ConnectionHub,
    InstanceRegistry,
    BrokerLifecycle,
  ],
  exports: [RoomBroker, Presence, ConnectionHub],
})
export class RealtimeModule {}
