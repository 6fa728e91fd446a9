import { Logger } from '@nestjs/common';
import { createApp } from './bootstrap.js';
import { ConfigError } from './config/env.schema.js';
import { loadEnv } from './config/load-env.js';
import { INSTANCE_ID, STORE_KIND } from './storage/storage.tokens.js';

async function main(): Promise<void> {
  const env = loadEnv();
  const app = await createApp(env);
  const logger = new Logger('Parley');

  // Graceful shutdown: stop accepting, close sockets with 1001, finish in-flight
  // requests, exit 0 — forced after SHUTDOWN_TIMEOUT seconds at the latest.
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.log(`${signal} received: shutting down (at most ${env.SHUTDOWN_TIMEOUT} s)`);
    setTimeout(() => {
      logger.warn('Shutdown timeout reached: exiting now');
      process.exit(0);
    }, env.SHUTDOWN_TIMEOUT * 1000).unref();
    app.close().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error(`Error during shutdown: ${String(err)}`);
        process.exit(0);
      },
    );
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));

  await app.listen(env.PORT, env.HOST);
  const store = app.get<string>(STORE_KIND);
  const where = env.REDIS_CLUSTER_NODES ? ` cluster ${env.REDIS_CLUSTER_NODES}` : store === 'redis' ? ' (REDIS_URL)' : '';
  logger.log(
    `Parley listening on http://${env.HOST}:${env.PORT} (API /api/v1, WebSocket /api/v1/ws, docs /docs) | ` +
      `instance ${app.get<string>(INSTANCE_ID)} | store ${store}${where} | ` +
      `rate limit ${env.RATE_LIMIT_LIMIT}/${env.RATE_LIMIT_TTL}s per IP | ws ${env.WS_RATE_LIMIT} frames/${env.WS_RATE_TTL}s | ` +
      `body ${env.BODY_LIMIT} B | ws payload ${env.WS_MAX_PAYLOAD} B | message ${env.MESSAGE_MAX_LENGTH} chars | ` +
      `retention ${env.MESSAGE_RETENTION} | history ${env.HISTORY_LIMIT}`,
  );
}

main().catch((err: unknown) => {
  if (err instanceof ConfigError) {
    process.stderr.write(`${err.message}\n`);
  } else {
    process.stderr.write(`Parley failed to start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  }
  process.exit(1);
});
