import { Module } from '@nestjs/common';
import { MessagesModule } from '../messages/messages.module.js';
import { RealtimeModule } from '../realtime/realtime.module.js';
import { RoomsModule } from '../rooms/rooms.module.js';
import { UsersModule } from '../users/users.module.js';
import { ChatGateway } from './chat.gateway.js';

@Module({
  imports: [MessagesModule, RoomsModule, UsersModule, RealtimeModule],
  providers: [ChatGateway],
})
export class GatewayModule {}
