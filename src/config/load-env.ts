import { existsSync, readFileSync } from 'node:fs';
import { parseEnv } from 'node:util';
import { type Env, validateEnv } from './env.schema.js';

/**
 * The environment as the server sees it: `.env` (if present in the working
 * directory) under the real environment, under explicit overrides; validated.
 */
export function loadEnv(overrides: Record<string, string | undefined> = {}, envFile = '.env'): Env {
  const fromFile = existsSync(envFile) ? parseEnv(readFileSync(envFile, 'utf8')) : {};
  return validateEnv({ ...fromFile, ...process.env, ...overrides });
}
