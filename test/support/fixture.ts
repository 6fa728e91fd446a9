import { startServer, type TestServer } from './app.js';
import { type RedisCluster, startRedisCluster } from './redis-cluster.js';
import { type RedisServer, startRedis } from './redis-server.js';
import { closeAllSockets } from './ws-client.js';

/** The processes an e2e file (or one describe block) starts; `e2eFixture()` stops them all. */
export interface E2eFixture {
  /** A private `redis-server` (see `startRedis`); fails with an install hint when there is none. */
  startRedis(extraArgs?: string[]): Promise<RedisServer>;
  /** A private Redis Cluster of `masters` nodes (see `startRedisCluster`). */
  startRedisCluster(masters?: number): Promise<RedisCluster>;
  /**
   * The built server (`dist/main.js`) with these variables (see `startServer`). Start
   * servers one at a time: on two cores parallel starts only slow each other down.
   */
  startServer(vars?: Record<string, string | undefined>): Promise<TestServer>;
}

/**
 * Registers an `afterAll` in the calling scope (the file, or the describe block it
 * is called in) and returns a fixture that starts Redis, Redis Clusters and Parley
 * servers on demand. Its `afterAll` first closes every socket still open (all of
 * them, as `closeAllSockets()` does), then stops every server this fixture started,
 * then its Redis servers and clusters in start order: each one by the PID of the
 * process it spawned, never by name. It stops all of them even when one fails to
 * stop, and then fails itself. Call it again in a describe block whose processes
 * should stop when that block ends.
 */
export function e2eFixture(): E2eFixture {
  const servers: TestServer[] = [];
  const stores: (RedisServer | RedisCluster)[] = [];

  afterAll(async () => {
    const failures: unknown[] = [];
    const settle = (stopping: Promise<unknown>) => stopping.catch((err: unknown) => void failures.push(err));
    await settle(closeAllSockets());
    // Servers first, so that none of them sees its Redis vanish.
    await Promise.all(servers.splice(0).map((server) => settle(server.stop())));
    for (const store of stores.splice(0)) await settle(store.stop());
    if (failures.length > 0) throw new AggregateError(failures, 'e2eFixture: stopping what it started failed');
  });

  return {
    async startRedis(extraArgs = []) {
      const redis = await startRedis(extraArgs);
      stores.push(redis);
      return redis;
    },
    async startRedisCluster(masters = 3) {
      const cluster = await startRedisCluster(masters);
      stores.push(cluster);
      return cluster;
    },
    async startServer(vars = {}) {
      const server = await startServer(vars);
      servers.push(server);
      return server;
    },
  };
}
