import { DomainError } from '../errors/domain-error.js';
import { MAX_JSON_DEPTH, nestedDeeperThan, TOO_DEEP } from '../json-depth.js';

export const NOT_A_JSON_OBJECT = 'request body must be a JSON object';

/**
 * A request body that must be a JSON object, handed on as it is: refused if nested
 * deeper than `MAX_JSON_DEPTH`, then if not an object. Every body of the API goes
 * through it: `ApiValidationPipe` calls it before class-validator, and the message send
 * route, whose service checks every field itself (shared with the socket), calls it directly.
 *
 * A function the handler calls, not a pipe: a Nest pipe on a parameter costs a promise
 * chain per request (the parameter's pipe pass), on the busiest route of the API.
 */
export function jsonObjectBody(value: unknown): Record<string, unknown> {
  if (nestedDeeperThan(value, MAX_JSON_DEPTH)) throw DomainError.validation(TOO_DEEP);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw DomainError.validation(NOT_A_JSON_OBJECT);
  }
  return value as Record<string, unknown>;
}
