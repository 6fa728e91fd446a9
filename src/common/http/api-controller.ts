import { applyDecorators, Body, Controller, Query, UseGuards } from '@nestjs/common';
import { AuthorizeGuard, IdentifyGuard } from '../../auth/auth.guards.js';
import { ApiThrottlerGuard } from '../../throttle/api-throttler.guard.js';
import { createValidationPipe } from './validation.pipe.js';

const validation = createValidationPipe();

/**
 * A REST controller under `/api/v1`, with the API's guards: `IdentifyGuard` (reads a
 * bearer token, never refuses), `ApiThrottlerGuard` (the per-IP budget, and the `sub`'s
 * with a verified token: 429), `AuthorizeGuard` (401/403 when auth is on), in that order.
 *
 * Deliberately not global (`APP_GUARD`): Nest also runs global guards around every
 * WebSocket message handler, where none of them applies (frames have their own
 * per-connection budget in the adapter), and each socket message then paid for three
 * guard calls. Every `/api/v1` controller uses this decorator instead of `@Controller`
 * (`test/e2e/enhancers.e2e-spec.ts` checks).
 */
export function ApiController(path: string): ClassDecorator {
  return applyDecorators(Controller(path), UseGuards(IdentifyGuard, ApiThrottlerGuard, AuthorizeGuard));
}

/**
 * A request body validated against its DTO class by the API's validation pipe
 * (class-validator, whitelisted; a failure is a 400 naming the field). The pipe sits on
 * the DTO parameters only, not on a whole controller: a pipe on a parameter costs a
 * promise chain per request even where it has nothing to do (an id from the path).
 * `test/e2e/enhancers.e2e-spec.ts` checks that every DTO parameter has it.
 */
export const ValidBody = (): ParameterDecorator => Body(validation);

/** A query validated against its DTO class, as `ValidBody`. */
export const ValidQuery = (): ParameterDecorator => Query(validation);
