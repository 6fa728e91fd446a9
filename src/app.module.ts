import { type DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { ConfigModule } from '@nestjs/config';
import { AuthModule } from './auth/auth.module.js';
import { HttpExceptionFilter } from './common/filters/http-exception.filter.js';
import type { Env } from './config/env.schema.js';
import { GatewayModule } from './gateway/gateway.module.js';
import { HealthModule } from './health/health.module.js';
import { MessagesModule } from './messages/messages.module.js';
import { createRootLogger, loggingModule } from './observability/logging.js';
import { ObservabilityModule } from './observability/observability.module.js';
import { RoomsModule } from './rooms/rooms.module.js';
import { StorageModule } from './storage/storage.module.js';
import { ThrottleModule } from './throttle/throttle.module.js';
import { UsersModule } from './users/users.module.js';

/** Composition root. The validated `Env` is passed in, so tests can start several apps side by side. */
@Module({})
export class AppModule {
  static register(env: Env): DynamicModule {
    const root = createRootLogger(env);
    return {
      module: AppModule,
      imports: [
        loggingModule(root),
        ConfigModule.forRoot({
          isGlobal: true,
          ignoreEnvFile: true,
          ignoreEnvVars: true,
          skipProcessEnv: true,
          load: [() => ({ ...env })],
        }),
        StorageModule.register(env),
        AuthModule,
        ThrottleModule,
        RoomsModule,
        UsersModule,
        MessagesModule,
        GatewayModule,
        HealthModule,
        ObservabilityModule.register(root),
      ],
      providers: [
        { provide: APP_FILTER, useClass: HttpExceptionFilter },
        // No global guards or pipes: the /api/v1 controllers declare theirs (`ApiController`),
        // so that Nest does not also run them around every WebSocket message.
      ],
    };
  }
}
