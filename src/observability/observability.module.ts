import { type DynamicModule, Global, Module } from '@nestjs/common';
import type { Logger as Pino } from 'pino';
import { RealtimeModule } from '../realtime/realtime.module.js';
import { HttpMetrics } from './http-metrics.js';
import { MetricsController } from './metrics.controller.js';
import { MetricsService } from './metrics.service.js';
import { ROOT_LOGGER } from './root-logger.token.js';

/** Metrics (`/metrics`) and the access log; global so any module can count into them. */
@Global()
@Module({})
export class ObservabilityModule {
  static register(root: Pino): DynamicModule {
    return {
      module: ObservabilityModule,
      imports: [RealtimeModule],
      controllers: [MetricsController],
      providers: [{ provide: ROOT_LOGGER, useValue: root }, MetricsService, HttpMetrics],
      exports: [MetricsService, ROOT_LOGGER],
    };
  }
}
