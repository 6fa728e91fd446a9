import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger as Pino } from 'pino';
import { MetricsService } from './metrics.service.js';
import { ROOT_LOGGER } from './root-logger.token.js';

/**
 * Counts and times every HTTP answer by route template (not raw URL: ids would
 * explode the labels), and writes the access log line: request id, method, route,
 * path (no query string), status, duration. Never a body.
 */
@Injectable()
export class HttpMetrics implements OnModuleInit {
  constructor(
    private readonly adapterHost: HttpAdapterHost,
    private readonly metrics: MetricsService,
    @Inject(ROOT_LOGGER) private readonly logger: Pino,
  ) {}

  onModuleInit(): void {
    const fastify = this.adapterHost.httpAdapter.getInstance<FastifyInstance>();
    fastify.addHook('onResponse', (req: FastifyRequest, reply: FastifyReply, done: () => void) => {
      const route = req.routeOptions?.url ?? 'unmatched';
      // One observation: parley_http_requests_total is read from this histogram's count (MetricsService).
      this.metrics.observeHttp(req.method, route, reply.statusCode, reply.elapsedTime / 1000);
      if (this.logger.isLevelEnabled('info')) {
        const q = req.url.indexOf('?');
        this.logger.info(
          {
            reqId: req.id,
            method: req.method,
            route,
            path: q < 0 ? req.url : req.url.slice(0, q),
            status: reply.statusCode,
            ms: Math.round(reply.elapsedTime * 100) / 100,
          },
          'request',
        );
      }
      done();
    });
  }
}
