import { ConfigError, parseTrustProxy, storeKind, validateEnv } from '../../src/config/env.schema.js';

/** Runs `fn`, expecting a ConfigError; answers its message. */
function configErrorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('expected a ConfigError, nothing was thrown');
}

describe(validateEnv.name, () => {
  it('fills every default of the spec when nothing is set', () => {
    const env = validateEnv({});
    expect(env).toMatchObject({
      NODE_ENV: 'development',
      HOST: '0.0.0.0',
      PORT: 8000,
      BODY_LIMIT: 64 * 1024,
      MESSAGE_MAX_LENGTH: 4000,
      MESSAGE_RETENTION: 10_000,
      HISTORY_LIMIT: 50,
      CORS_ORIGINS: '*',
      WS_MAX_PAYLOAD: 64 * 1024,
      WS_MAX_BUFFERED: 1024 * 1024,
      WS_RATE_LIMIT: 30,
      WS_RATE_TTL: 10,
      WS_PING_INTERVAL: 30,
      IDEMPOTENCY_TTL: 3600,
      SHUTDOWN_TIMEOUT: 10,
      REQUEST_TIMEOUT: 30,
      METRICS_EVENT_LOOP_RESOLUTION_MS: 100,
    });
    expect(env.REDIS_URL).toBeUndefined();
    expect(env.TRUST_PROXY).toBeUndefined();
    expect(storeKind(env)).toBe('memory');
  });

  it('parses numbers from decimal strings, surrounding whitespace allowed', () => {
    const env = validateEnv({ PORT: ' 8080 ', MESSAGE_MAX_LENGTH: '10', RATE_LIMIT_LIMIT: '5', RATE_LIMIT_TTL: '2' });
    expect(env.PORT).toBe(8080);
    expect(env.MESSAGE_MAX_LENGTH).toBe(10);
    expect(env.RATE_LIMIT_LIMIT).toBe(5);
    expect(env.RATE_LIMIT_TTL).toBe(2);
  });

  it('treats blank values as unset', () => {
    const env = validateEnv({ PORT: '', MESSAGE_MAX_LENGTH: '   ', REDIS_URL: '', TRUST_PROXY: ' ', STORE: '' });
    expect(env.PORT).toBe(8000);
    expect(env.MESSAGE_MAX_LENGTH).toBe(4000);
    expect(env.REDIS_URL).toBeUndefined();
    expect(env.TRUST_PROXY).toBeUndefined();
    expect(env.STORE).toBeUndefined();
  });

  it('ignores variables it does not know', () => {
    const env = validateEnv({ PATH: '/bin', SOMETHING_ELSE: 'x' }) as unknown as Record<string, unknown>;
    expect(env.PATH).toBeUndefined();
    expect(env.SOMETHING_ELSE).toBeUndefined();
  });

  it.each([
    ['PORT', 'abc'],
    ['PORT', '-1'],
    ['PORT', '65536'],
    ['PORT', '80.5'],
    ['PORT', '1e3'],
    ['PORT', '0x50'],
    ['MESSAGE_MAX_LENGTH', '0'],
    ['MESSAGE_MAX_LENGTH', 'many'],
    ['MESSAGE_RETENTION', '0'],
    ['HISTORY_LIMIT', '-1'],
    ['HISTORY_LIMIT', '1001'],
    ['BODY_LIMIT', '64k'],
    ['BODY_LIMIT', '10'],
    ['RATE_LIMIT_TTL', '0'],
    ['RATE_LIMIT_LIMIT', '0'],
    ['RATE_LIMIT_LIMIT', 'lots'],
    ['WS_MAX_PAYLOAD', '1.5'],
    ['IDEMPOTENCY_TTL', '0'],
    ['SHUTDOWN_TIMEOUT', 'soon'],
    ['REQUEST_TIMEOUT', '0'],
    ['REQUEST_TIMEOUT', '3601'],
    ['METRICS_EVENT_LOOP_RESOLUTION_MS', '0'],
    ['METRICS_EVENT_LOOP_RESOLUTION_MS', '10001'],
    ['NODE_ENV', 'staging'],
    ['LOG_LEVEL', 'verbose'],
    ['STORE', 'postgres'],
    ['TRUST_PROXY', '*'],
    ['TRUST_PROXY', 'true'],
    ['TRUST_PROXY', 'localhost'],
    ['TRUST_PROXY', '10.0.0.0/33'],
  ])('refuses %s=%j with a ConfigError naming the variable', (name, value) => {
    expect(configErrorOf(() => validateEnv({ [name]: value }))).toContain(name);
  });

  it('names every bad variable at once', () => {
    const message = configErrorOf(() => validateEnv({ PORT: 'abc', MESSAGE_MAX_LENGTH: '0' }));
    expect(message).toContain('PORT');
    expect(message).toContain('MESSAGE_MAX_LENGTH');
  });

  it('refuses REDIS_URL and REDIS_CLUSTER_NODES together', () => {
    const message = configErrorOf(() =>
      validateEnv({ REDIS_URL: 'redis://127.0.0.1:6379', REDIS_CLUSTER_NODES: '127.0.0.1:7000' }),
    );
    expect(message).toContain('REDIS_URL');
    expect(message).toContain('REDIS_CLUSTER_NODES');
  });

  it.each(['127.0.0.1', '127.0.0.1:', 'a:1,b', 'a:1;b:2'])('refuses REDIS_CLUSTER_NODES=%j', (nodes) => {
    expect(configErrorOf(() => validateEnv({ REDIS_CLUSTER_NODES: nodes }))).toContain('REDIS_CLUSTER_NODES');
  });

  it('accepts REDIS_CLUSTER_NODES as host:port pairs and selects redis', () => {
    const env = validateEnv({ REDIS_CLUSTER_NODES: '10.0.0.1:7000,redis-2:7001' });
    expect(storeKind(env)).toBe('redis');
  });

  it('refuses STORE=redis without a Redis address', () => {
    expect(configErrorOf(() => validateEnv({ STORE: 'redis' }))).toContain('STORE');
  });

  it('refuses NODE_ENV=production without Redis and without STORE=memory', () => {
    const message = configErrorOf(() => validateEnv({ NODE_ENV: 'production' }));
    expect(message).toContain('NODE_ENV');
    expect(message).toContain('STORE=memory');
  });

  it('accepts NODE_ENV=production with STORE=memory or with Redis', () => {
    expect(storeKind(validateEnv({ NODE_ENV: 'production', STORE: 'memory' }))).toBe('memory');
    expect(storeKind(validateEnv({ NODE_ENV: 'production', REDIS_URL: 'redis://r:6379' }))).toBe('redis');
  });

  it('lets STORE override the choice made by REDIS_URL', () => {
    expect(storeKind(validateEnv({ REDIS_URL: 'redis://r:6379' }))).toBe('redis');
    expect(storeKind(validateEnv({ REDIS_URL: 'redis://r:6379', STORE: 'memory' }))).toBe('memory');
  });

  it('keeps a valid TRUST_PROXY', () => {
    expect(validateEnv({ TRUST_PROXY: '127.0.0.1,10.0.0.0/8' }).TRUST_PROXY).toBe('127.0.0.1,10.0.0.0/8');
  });
});

describe(parseTrustProxy.name, () => {
  it.each([
    ['127.0.0.1', ['127.0.0.1']],
    [' 10.0.0.0/8 , loopback ', ['10.0.0.0/8', 'loopback']],
    ['::1', ['::1']],
    ['fd00::/8,192.168.1.0/24', ['fd00::/8', '192.168.1.0/24']],
    ['linklocal,uniquelocal', ['linklocal', 'uniquelocal']],
    ['10.1.2.3/32', ['10.1.2.3/32']],
  ])('accepts %j', (value, expected) => {
    expect(parseTrustProxy(value)).toEqual(expected);
  });

  it.each([
    '*',
    'true',
    'all',
    'localhost',
    'proxy.example.com',
    '10.0.0.0/33',
    '::1/129',
    '10.0.0.0/',
    '10.0.0.0/8/1',
    '10.0.0.0/-1',
    '10.0.0',
    '127.0.0.1,*',
  ])('refuses %j with a ConfigError naming TRUST_PROXY', (value) => {
    expect(configErrorOf(() => parseTrustProxy(value))).toContain('TRUST_PROXY');
  });

  it.each(['0.0.0.0/0', '::/0', '10.0.0.1,0.0.0.0/0'])(
    'refuses the blanket range %j, which would trust every address',
    (value) => {
      expect(configErrorOf(() => parseTrustProxy(value))).toContain('TRUST_PROXY');
    },
  );
});
