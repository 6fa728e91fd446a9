import { isIP } from 'node:net';
import { plainToInstance, Transform } from 'class-transformer';
import {
  IsIn,
  IsInt,
  IsOptional,
  IsString,
  Max,
  Min,
  validateSync,
  ValidationError,
} from 'class-validator';
import { JwtKeyError, parseJwtKey } from '../auth/jwt-key.js';

/**
 * The single list of configuration variables. `.env.example` and the README's
 * configuration table mirror it (a test keeps the three in step).
 */

const toInt = ({ value }: { value: unknown }) =>
  typeof value === 'string' && /^-?[0-9]+$/.test(value.trim()) ? Number(value.trim()) : value;
const blankToUndefined = ({ value }: { value: unknown }) =>
  typeof value === 'string' && value.trim() === '' ? undefined : value;

export class Env {
  @IsIn(['development', 'production', 'test'])
  NODE_ENV: 'development' | 'production' | 'test' = 'development';

  @IsString()
  HOST = '0.0.0.0';

  @Transform(toInt) @IsInt() @Min(0) @Max(65535)
  PORT = 8000;

  @Transform(blankToUndefined) @IsOptional() @IsIn(['redis', 'memory'])
  STORE?: 'redis' | 'memory';

  @Transform(blankToUndefined) @IsOptional() @IsString()
  REDIS_URL?: string;

  @Transform(blankToUndefined) @IsOptional() @IsString()
  REDIS_CLUSTER_NODES?: string;

  @Transform(toInt) @IsInt() @Min(1024) @Max(64 * 1024 * 1024)
  BODY_LIMIT = 64 * 1024;

  /** Seconds a client has to send a whole request, headers and body. */
  @Transform(toInt) @IsInt() @Min(1) @Max(3600)
  REQUEST_TIMEOUT = 30;

  @Transform(toInt) @IsInt() @Min(1) @Max(1_000_000)
  MESSAGE_MAX_LENGTH = 4000;

  @Transform(toInt) @IsInt() @Min(1) @Max(10_000_000)
  MESSAGE_RETENTION = 10_000;

  @Transform(toInt) @IsInt() @Min(0) @Max(1000)
  HISTORY_LIMIT = 50;

  @Transform(toInt) @IsInt() @Min(1) @Max(86_400)
  RATE_LIMIT_TTL = 60;

  @Transform(toInt) @IsInt() @Min(1) @Max(100_000_000)
  RATE_LIMIT_LIMIT = 1000;

  @Transform(blankToUndefined) @IsOptional() @IsString()
  TRUST_PROXY?: string;

  @IsString()
  CORS_ORIGINS = '*';

  @IsIn(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
  LOG_LEVEL = 'info';

  @Transform(toInt) @IsInt() @Min(1024) @Max(64 * 1024 * 1024)
  WS_MAX_PAYLOAD = 64 * 1024;

  @Transform(toInt) @IsInt() @Min(1024) @Max(1024 * 1024 * 1024)
  WS_MAX_BUFFERED = 1024 * 1024;

  @Transform(toInt) @IsInt() @Min(1) @Max(1_000_000)
  WS_RATE_LIMIT = 30;

  @Transform(toInt) @IsInt() @Min(1) @Max(3600)
  WS_RATE_TTL = 10;

  @Transform(toInt) @IsInt() @Min(1) @Max(3600)
  WS_PING_INTERVAL = 30;

  @Transform(toInt) @IsInt() @Min(1) @Max(30 * 86_400)
  IDEMPOTENCY_TTL = 3600;

  @Transform(toInt) @IsInt() @Min(1) @Max(600)
  SHUTDOWN_TIMEOUT = 10;

  /**
   * Milliseconds between the samples of the event-loop-delay histogram behind /metrics'
   * `parley_nodejs_eventloop_lag_*` figures (each the delay beyond this interval). Its timer
   * wakes the process at this rate even when idle.
   */
  @Transform(toInt) @IsInt() @Min(1) @Max(10_000)
  METRICS_EVENT_LOOP_RESOLUTION_MS = 100;

  /** Seconds without a heartbeat after which an instance counts as dead and its presence is removed. */
  @Transform(toInt) @IsInt() @Min(3) @Max(600)
  INSTANCE_TTL = 30;

  /** HS256 shared secret (at least 32 bytes); setting it turns authentication on. Not with AUTH_JWT_PUBLIC_KEY. */
  @Transform(blankToUndefined) @IsOptional() @IsString()
  AUTH_JWT_SECRET?: string;

  /** RS256 (RSA) or ES256 (P-256) public key, PEM; setting it turns authentication on. Not with AUTH_JWT_SECRET. */
  @Transform(blankToUndefined) @IsOptional() @IsString()
  AUTH_JWT_PUBLIC_KEY?: string;

  /** Required `iss` of tokens, when set. */
  @Transform(blankToUndefined) @IsOptional() @IsString()
  AUTH_JWT_ISSUER?: string;

  /** Required `aud` of tokens, when set. */
  @Transform(blankToUndefined) @IsOptional() @IsString()
  AUTH_JWT_AUDIENCE?: string;

  /** Seconds of leeway for token `exp` / `nbf` against clock drift. */
  @Transform(toInt) @IsInt() @Min(0) @Max(300)
  AUTH_CLOCK_SKEW = 30;
}

export type EnvKey = keyof Env;

/** A configuration value that stops the process at boot, naming the variable. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

function describe(errors: ValidationError[]): string {
  return errors
    .map((e) => {
      const shown = e.value === undefined ? '' : ` (got ${JSON.stringify(String(e.value))})`;
      const why = Object.values(e.constraints ?? {}).join('; ');
      return `${e.property}${shown}: ${why}`;
    })
    .join('\n');
}

/** Validates raw environment strings into a typed `Env`; throws `ConfigError` naming each bad variable. */
export function validateEnv(raw: Record<string, unknown>): Env {
  const known = Object.keys(new Env()).concat([
    'STORE',
    'REDIS_URL',
    'REDIS_CLUSTER_NODES',
    'TRUST_PROXY',
    'AUTH_JWT_SECRET',
    'AUTH_JWT_PUBLIC_KEY',
    'AUTH_JWT_ISSUER',
    'AUTH_JWT_AUDIENCE',
  ]);
  const picked: Record<string, unknown> = {};
  for (const key of known) {
    const value = raw[key];
    if (value !== undefined && !(typeof value === 'string' && value.trim() === '')) picked[key] = value;
  }
  const env = plainToInstance(Env, picked, { exposeDefaultValues: true });
  const errors = validateSync(env, { whitelist: true, forbidUnknownValues: true });
  if (errors.length > 0) throw new ConfigError(`Invalid configuration:\n${describe(errors)}`);
  if (env.REDIS_URL && env.REDIS_CLUSTER_NODES) {
    throw new ConfigError('Invalid configuration:\nREDIS_URL and REDIS_CLUSTER_NODES are both set; set only one');
  }
  if (env.REDIS_CLUSTER_NODES && !/^[^,:\s]+:\d+(,[^,:\s]+:\d+)*$/.test(env.REDIS_CLUSTER_NODES)) {
    throw new ConfigError('Invalid configuration:\nREDIS_CLUSTER_NODES must look like host:port,host:port');
  }
  if (env.STORE === 'redis' && !env.REDIS_URL && !env.REDIS_CLUSTER_NODES) {
    throw new ConfigError('Invalid configuration:\nSTORE=redis needs REDIS_URL or REDIS_CLUSTER_NODES');
  }
  if (env.NODE_ENV === 'production' && !env.REDIS_URL && !env.REDIS_CLUSTER_NODES && env.STORE !== 'memory') {
    throw new ConfigError(
      'Invalid configuration:\nNODE_ENV=production without REDIS_URL or REDIS_CLUSTER_NODES: ' +
        'set one, or set STORE=memory to run the single-instance embedded store on purpose',
    );
  }
  if (env.TRUST_PROXY) parseTrustProxy(env.TRUST_PROXY);
  try {
    parseJwtKey(env);
  } catch (err) {
    if (err instanceof JwtKeyError) throw new ConfigError(`Invalid configuration:\n${err.message}`);
    throw err;
  }
  return env;
}

const NAMED_RANGES = new Set(['loopback', 'linklocal', 'uniquelocal']);

/**
 * `TRUST_PROXY` is a comma-separated list of proxy addresses, CIDR ranges or the
 * named ranges `loopback`, `linklocal`, `uniquelocal`. "Trust everything" is refused.
 */
export function parseTrustProxy(value: string): string[] {
  const entries = value.split(',').map((v) => v.trim()).filter((v) => v !== '');
  for (const entry of entries) {
    const [addr, bits, extra] = entry.split('/');
    const family = isIP(addr);
    const maxBits = family === 6 ? 128 : 32;
    const ok =
      NAMED_RANGES.has(entry) ||
      (family !== 0 && extra === undefined &&
        // A /0 range trusts every address: that is the blanket trust this setting refuses.
        (bits === undefined || (/^[0-9]{1,3}$/.test(bits) && Number(bits) >= 1 && Number(bits) <= maxBits)));
    if (!ok) {
      throw new ConfigError(
        `Invalid configuration:\nTRUST_PROXY: ${JSON.stringify(entry)} is not an IP address, CIDR range ` +
          'or one of loopback, linklocal, uniquelocal (trusting every address is not supported)',
      );
    }
  }
  return entries;
}

/** Which store the configuration selects. */
export function storeKind(env: Env): 'redis' | 'memory' {
  if (env.STORE) return env.STORE;
  return env.REDIS_URL || env.REDIS_CLUSTER_NODES ? 'redis' : 'memory';
}
