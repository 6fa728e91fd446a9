import type { DomainError } from '../common/errors/domain-error.js';

/** Who a verified bearer token speaks for. */
export interface Identity {
  /** The token's `sub`: the Parley user id it may act as. */
  sub: string;
  /** The token carries `"admin": true` (may create users). */
  admin: boolean;
  /** The token's `exp`, in seconds since the epoch. */
  exp: number;
}

/** The outcome of reading a request's bearer token: who it is, or why not. */
export type AuthOutcome = { identity: Identity } | { error: DomainError };

/** Per request, set once by `IdentifyGuard` and read by the throttler and `AuthorizeGuard`. */
const outcomes = new WeakMap<object, AuthOutcome>();

export function setAuthOutcome(req: object, outcome: AuthOutcome): void {
  outcomes.set(req, outcome);
}

export function authOutcomeOf(req: object): AuthOutcome | undefined {
  return outcomes.get(req);
}

/** The verified identity of a request, when auth is on and its token is good. */
export function identityOf(req: object): Identity | undefined {
  const outcome = outcomes.get(req);
  return outcome && 'identity' in outcome ? outcome.identity : undefined;
}
