/**
 * `npm run token -- --sub <user_id> [--admin] [--ttl 1h]`: prints a development
 * JWT signed with AUTH_JWT_SECRET from the environment or `.env`.
 */
import { existsSync, readFileSync } from 'node:fs';
import { parseEnv } from 'node:util';
import { parseJwtKey } from '../auth/jwt-key.js';
import { ConfigError, validateEnv } from '../config/env.schema.js';
import { mintToken, parseTokenArgs, USAGE, UsageError } from './mint-token.js';

const AUTH_VARIABLES = ['AUTH_JWT_SECRET', 'AUTH_JWT_PUBLIC_KEY', 'AUTH_JWT_ISSUER', 'AUTH_JWT_AUDIENCE', 'AUTH_CLOCK_SKEW'];

function fail(message: string, code: number): never {
  process.stderr.write(`token: ${message}\n`);
  process.exit(code);
}

async function main(): Promise<void> {
  let request;
  try {
    request = parseTokenArgs(process.argv.slice(2));
  } catch (err) {
    if (err instanceof UsageError) fail(`${err.message}\n\n${USAGE}`, 2);
    throw err;
  }
  if (request === null) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }

  // The server's own sources, in its order (.env under the environment), but only the
  // auth variables: the rest of the server's configuration does not matter here.
  const fromFile = existsSync('.env') ? parseEnv(readFileSync('.env', 'utf8')) : {};
  const merged: Record<string, string | undefined> = { ...fromFile, ...process.env };
  const raw = Object.fromEntries(AUTH_VARIABLES.map((k) => [k, merged[k]]));
  let env;
  try {
    env = validateEnv(raw);
  } catch (err) {
    if (err instanceof ConfigError) fail(err.message, 1);
    throw err;
  }
  const key = parseJwtKey(env);
  if (key === null) {
    fail('AUTH_JWT_SECRET is not set (in the environment or .env): authentication is off, so no token is needed', 1);
  }
  if (key.alg !== 'HS256') {
    fail(
      `AUTH_JWT_PUBLIC_KEY is set (${key.alg}): tokens are signed by your identity system with its private key, ` +
        'which this server never holds. This development CLI mints tokens from AUTH_JWT_SECRET only.',
      1,
    );
  }
  const token = await mintToken(request, { key, issuer: env.AUTH_JWT_ISSUER, audience: env.AUTH_JWT_AUDIENCE });
  process.stdout.write(`${token}\n`);
  const expires = new Date((Math.floor(Date.now() / 1000) + request.ttl) * 1000).toISOString();
  process.stderr.write(`token for sub ${JSON.stringify(request.sub)}${request.admin ? ' (admin)' : ''}, expires ${expires}\n`);
}

main().catch((err: unknown) => fail(err instanceof Error ? (err.stack ?? err.message) : String(err), 1));
