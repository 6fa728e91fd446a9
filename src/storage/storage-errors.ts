import { Logger } from '@nestjs/common';
import { DomainError } from '../common/errors/domain-error.js';

// Reply errors that mean "Redis cannot serve right now", not "our command is wrong".
const TRANSIENT_REPLY = /^(LOADING|CLUSTERDOWN|TRYAGAIN|MASTERDOWN|READONLY|BUSY|NOREPLICAS)\b/;

const logger = new Logger('Storage');

/** Redis failures seen by the application since start (read by the metrics). */
export const storageFailures = { count: 0 };
let lastLogged = '';
let lastLoggedAt = 0;

/** Says why storage is unavailable, once per distinct cause every 10 s (not once per request). */
function report(err: Error): void {
  storageFailures.count++;
  const now = Date.now();
  if (err.message === lastLogged && now - lastLoggedAt < 10_000) return;
  lastLogged = err.message;
  lastLoggedAt = now;
  logger.warn(`Redis unavailable: ${err.message}`);
}

/**
 * Maps a failure of the Redis client to the domain: connection loss, timeouts and
 * transient replies become `StorageUnavailable` (503 / error frame); anything else
 * is a bug and is rethrown as is (500, logged).
 */
export function toStorageError(err: unknown): Error {
  if (err instanceof DomainError) return err;
  if (err instanceof Error) {
    if (err.name === 'ReplyError' && !TRANSIENT_REPLY.test(err.message)) return err;
    report(err);
    return DomainError.storageUnavailable();
  }
  return new Error(String(err));
}

/** `promise.catch(rethrowStorage)`: rethrows through `toStorageError`. */
export function rethrowStorage(err: unknown): never {
  throw toStorageError(err);
}
