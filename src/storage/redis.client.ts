import { Cluster, Command, Redis, type RedisOptions } from 'ioredis';
import type { Env } from '../config/env.schema.js';
import type { RedisClient } from './storage.tokens.js';

/** How long a command may go unanswered before it fails (SPEC §2: a 503 within 2 s). */
export const COMMAND_TIMEOUT_MS = 1500;

/** A command waiting for its reply, linked in the order it was sent (see `failCommandsRedisLeavesUnanswered`). */
type WaitingCommand = Command & {
  _deadline?: number;
  _prevWaiting?: WaitingCommand;
  _nextWaiting?: WaitingCommand;
};

/** How often the unanswered commands are checked: a command fails at most this long after its timeout. */
const SWEEP_INTERVAL_MS = 100;

let oldest: WaitingCommand | undefined;
let newest: WaitingCommand | undefined;
let sweeper: NodeJS.Timeout | undefined;

function link(cmd: WaitingCommand): void {
  if (newest) {
    newest._nextWaiting = cmd;
    cmd._prevWaiting = newest;
  } else oldest = cmd;
  newest = cmd;
}

function unlink(cmd: WaitingCommand): void {
  const { _prevWaiting: prev, _nextWaiting: next } = cmd;
  if (prev) prev._nextWaiting = next;
  else if (oldest === cmd) oldest = next;
  else return; // not linked
  if (next) next._prevWaiting = prev;
  else newest = prev;
  cmd._prevWaiting = cmd._nextWaiting = undefined;
}

/** Fails every command past its deadline. Every command has the same timeout, so the overdue ones are the oldest. */
function sweep(): void {
  const now = performance.now();
  while (oldest && oldest._deadline! <= now) {
    const cmd = oldest;
    unlink(cmd);
    if (!cmd.isSettled) cmd.reject(new Error('Command timed out'));
  }
  if (!oldest && sweeper) {
    clearInterval(sweeper);
    sweeper = undefined;
  }
}

/** Commands waiting for a reply, with a deadline (what the sweeper holds; 0 when all are answered). */
export function waitingCommands(): number {
  let n = 0;
  for (let c = oldest; c; c = c._nextWaiting) n++;
  return n;
}

/**
 * Makes `commandTimeout` count Redis' silence, not this process' busyness, and cost
 * no timer per command.
 *
 * ioredis arms one timer per command. When a single turn of the event loop runs
 * longer than the timeout (500 sockets connecting at once, each join fanned out to
 * the room, kept one core busy for 3 s in one turn), the timer fires in the timers
 * phase before the poll phase has read replies already waiting in the socket, and
 * commands Redis answered in a millisecond fail with "Command timed out": sockets
 * get error frames and are closed, and reconnect into the same storm. The verdict is
 * deferred by one `setImmediate`, so the poll phase reads what has arrived first; a
 * Redis that really is silent still fails the command after the timeout.
 *
 * And a timer per command is a Node timer list made and dropped (a priority-queue
 * insert and removal) for every command at a moderate rate, about 3 % of the
 * server's CPU on the 100-room fan-out. Instead, commands waiting for a reply are
 * linked in the order they were sent (unlinked when they settle), and one interval,
 * running only while some command waits, fails those past their deadline: at most
 * `SWEEP_INTERVAL_MS` after the timeout.
 */
let installed = false;
function failCommandsRedisLeavesUnanswered(): void {
  if (installed) return;
  installed = true;
  const proto = Command.prototype as unknown as {
    setTimeout(this: WaitingCommand, ms: number): void;
    _clearTimers(this: WaitingCommand): void;
  };
  const clearTimers = proto._clearTimers;
  proto.setTimeout = function setTimeout(this: WaitingCommand, ms: number): void {
    if (this._deadline !== undefined) return; // moved between queues: the first deadline stands
    this._deadline = performance.now() + ms;
    link(this);
    sweeper ??= setInterval(() => setImmediate(sweep), SWEEP_INTERVAL_MS).unref();
  };
  // Called by ioredis whenever a command settles (reply, error, timeout).
  proto._clearTimers = function _clearTimers(this: WaitingCommand): void {
    unlink(this);
    clearTimers.call(this);
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
  failCommandsRedisLeavesUnanswered();
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
