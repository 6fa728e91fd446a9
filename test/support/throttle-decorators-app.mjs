// A small Nest app of its own whose routes carry @Throttle / @SkipThrottle, guarded by the built
// ApiThrottlerGuard (dist/), counting in process. Run by test/e2e/throttle-decorators.e2e-spec.ts in
// its own process: @nestjs/throttler is CommonJS requiring ESM, which Node loads and Jest's module
// runtime does not. Listens on 127.0.0.1, a port of its own choosing, printed as `{"port": n}`.
import 'reflect-metadata';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Controller, Get, Module, UseGuards } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { SkipThrottle, Throttle, ThrottlerModule, ThrottlerStorageService } from '@nestjs/throttler';

const dist = (file) => import(pathToFileURL(join(process.cwd(), 'dist', file)).href);
const { ApiThrottlerGuard, ipTracker } = await dist('throttle/api-throttler.guard.js');
const { API_THROTTLER } = await dist('throttle/upgrade-limiter.js');

const DEFAULT_LIMIT = 5;
let limitCalls = 0;

class ThrottledController {
  byDefault() {
    return { ok: true };
  }
  fixed() {
    return { ok: true };
  }
  resolved() {
    return { ok: true };
  }
  skipped() {
    return { ok: true };
  }
  calls() {
    return { limitCalls };
  }
}

// Decorators applied by hand (plain JavaScript has no decorator syntax).
const routes = {
  byDefault: [Get('default')],
  fixed: [Get('fixed'), Throttle({ [API_THROTTLER]: { limit: 3, ttl: 60_000 } })],
  resolved: [
    Get('fn'),
    Throttle({
      [API_THROTTLER]: {
        limit: () => {
          limitCalls++;
          return 2;
        },
        ttl: async () => 60_000,
      },
    }),
  ],
  skipped: [Get('skipped'), SkipThrottle({ [API_THROTTLER]: true })],
  calls: [Get('calls'), SkipThrottle({ [API_THROTTLER]: true })],
};
const proto = ThrottledController.prototype;
for (const [method, decorators] of Object.entries(routes)) {
  const descriptor = Object.getOwnPropertyDescriptor(proto, method);
  for (const decorate of decorators) decorate(proto, method, descriptor);
}
UseGuards(ApiThrottlerGuard)(ThrottledController);
Controller('t')(ThrottledController);

class ThrottledModule {}
Module({
  imports: [
    ThrottlerModule.forRoot({
      throttlers: [{ name: API_THROTTLER, ttl: 60_000, limit: DEFAULT_LIMIT, getTracker: ipTracker }],
      storage: new ThrottlerStorageService(),
      errorMessage: 'Too Many Requests',
    }),
  ],
  controllers: [ThrottledController],
})(ThrottledModule);

const app = await NestFactory.create(ThrottledModule, new FastifyAdapter(), { logger: false });
await app.listen(0, '127.0.0.1');
process.stdout.write(`${JSON.stringify({ port: app.getHttpServer().address().port })}\n`);
process.once('SIGTERM', () => void app.close().then(() => process.exit(0)));
