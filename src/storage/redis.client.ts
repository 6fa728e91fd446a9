import { Cluster, Command, Redis, type RedisOptions } from 'ioredis';
import type { Env } from '../config/env.schema.js';
import type { RedisClient } from './storage.tokens.js';

/** How long a command may go unanswered before it fails (SPEC §2: a 503 within 2 s). */
export const COMMAND_TIMEOUT_MS = 1500;

/** The part of ioredis' Command that holds the timer (cleared by ioredis when the command settles). */
type TimedCommand = { _commandTimeoutTimer?: NodeJS.Timeout };

/**
 * Makes `commandTimeout` count Redis' silence, not this process' busyness.
 *
 * ioredis arms one timer per command. When a single turn of the event loop runs
 * longer than the timeout (500 sockets connecting at once, each join fanned out to
 * the room, kept one core busy for 3 s in one turn), the timer fires in the timers
 * phase before the poll phase has read replies already waiting in the socket, and
 * commands Redis answered in a millisecond fail with "Command timed out": sockets
 * get error frames and are closed, and reconnect into the same storm. Deferring the
 * verdict by one `setImmediate` lets the poll phase read what has arrived first; a
 * Redis that really is silent still fails the command after the timeout.
 */
let repliesReadFirst = false;
function readRepliesBeforeTimingOut(): void {
  if (repliesReadFirst) return;
  repliesReadFirst = true;
  Command.prototype.setTimeout = function setTimeout(this: Command, ms: number): void {
    const timed = this as unknown as TimedCommand;
    if (timed._commandTimeoutTimer) return;
    timed._commandTimeoutTimer = globalThis.setTimeout(
      () =>
        setImmediate(() => {
          if (!this.isSettled) this.reject(new Error('Command timed out'));
        }),
      ms,
    );
  };
}

/**
 * Options shared by every connection: fail fast instead of queueing while Redis is
 * away (a 503 within 2 s, never a hang), reconnect forever with a capped backoff.
 */
const FAST_FAIL: RedisOptions = {
  enableOfflineQueue: false,
  maxRetriesPerRequest: 0,
  commandTimeout: COMMAND_TIMEOUT_MS,
  connectTimeout: 2000,
  retryStrategy: (times) => Math.min(100 * times, 2000),
};

export function createRedisClient(env: Env, connectionName: string): RedisClient {
  readRepliesBeforeTimingOut();
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
