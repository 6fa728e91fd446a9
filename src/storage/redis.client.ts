import { Cluster, Redis, type RedisOptions } from 'ioredis';
import type { Env } from '../config/env.schema.js';
import type { RedisClient } from './storage.tokens.js';

/**
 * Options shared by every connection: fail fast instead of queueing while Redis is
 * away (a 503 within 2 s, never a hang), reconnect forever with a capped backoff.
 */
const FAST_FAIL: RedisOptions = {
  enableOfflineQueue: false,
  maxRetriesPerRequest: 0,
  commandTimeout: 1500,
  connectTimeout: 2000,
  retryStrategy: (times) => Math.min(100 * times, 2000),
};

export function createRedisClient(env: Env, connectionName: string): RedisClient {
  if (env.REDIS_CLUSTER_NODES) {
    const nodes = env.REDIS_CLUSTER_NODES.split(',').map((hp) => {
      const i = hp.lastIndexOf(':');
      return { host: hp.slice(0, i), port: Number(hp.slice(i + 1)) };
    });
    return new Cluster(nodes, {
      enableOfflineQueue: false,
      clusterRetryStrategy: (times) => Math.min(100 * times, 2000),
      redisOptions: { ...FAST_FAIL, connectionName },
    });
  }
  return new Redis(env.REDIS_URL ?? 'redis://127.0.0.1:6379', { ...FAST_FAIL, connectionName });
}

/** Resolves once the client is ready, or after `timeoutMs` (the server starts degraded). */
export function waitUntilReady(client: RedisClient, timeoutMs: number): Promise<boolean> {
  if (client.status === 'ready') return Promise.resolve(true);
  return new Promise((resolve) => {
    const done = (ok: boolean) => {
      clearTimeout(timer);
      client.off('ready', onReady);
      resolve(ok);
    };
    const onReady = () => done(true);
    const timer = setTimeout(() => done(false), timeoutMs);
    client.on('ready', onReady);
  });
}
