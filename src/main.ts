import { Logger } from '@nestjs/common';
import { createApp } from './bootstrap.js';
import { ConfigError } from './config/env.schema.js';
import { loadEnv } from './config/load-env.js';

async function main(): Promise<void> {
  const env = loadEnv();
  const app = await createApp(env);
  app.enableShutdownHooks(['SIGTERM', 'SIGINT']);
  await app.listen(env.PORT, env.HOST);
  new Logger('Parley').log(`Listening on http://${env.HOST}:${env.PORT} (API /api/v1, docs /docs)`);
}

main().catch((err: unknown) => {
  if (err instanceof ConfigError) {
    process.stderr.write(`${err.message}\n`);
  } else {
    process.stderr.write(`Parley failed to start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  }
  process.exit(1);
});
