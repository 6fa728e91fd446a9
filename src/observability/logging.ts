import { LoggerModule } from 'nestjs-pino';
import { pino, type Logger as Pino } from 'pino';
import type { Env } from '../config/env.schema.js';

/** The process' root pino logger: JSON lines on stdout, ISO timestamps, level names. */
export function createRootLogger(env: Env): Pino {
  return pino({
    level: env.LOG_LEVEL,
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    // Defence in depth: nothing logs these today, and nothing ever should.
    redact: { paths: ['authorization', 'token', 'content', '*.authorization', '*.token', '*.content'], remove: true },
  });
}

/**
 * nestjs-pino as the application logger (every Nest `Logger` call becomes a JSON
 * line). Its per-request pino-http middleware is not mounted: the access line is
 * written by the `onResponse` hook (`HttpMetrics`), which has the Fastify request
 * id and the route template, and costs one log call instead of a child logger
 * per request.
 */
export function loggingModule(root: Pino) {
  return LoggerModule.forRoot({ pinoHttp: { logger: root, autoLogging: false }, forRoutes: [] });
}
