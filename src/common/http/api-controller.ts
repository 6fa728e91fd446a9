import { applyDecorators, Controller, UseGuards, UsePipes } from '@nestjs/common';
import { AuthorizeGuard, IdentifyGuard } from '../../auth/auth.guards.js';
import { ApiThrottlerGuard } from '../../throttle/api-throttler.guard.js';
import { createValidationPipe } from './validation.pipe.js';

const validation = createValidationPipe();

/**
 * A REST controller under `/api/v1`, with the API's guards and validation:
 * `IdentifyGuard` (reads a bearer token, never refuses), `ApiThrottlerGuard` (the per-IP
 * budget, and the `sub`'s with a verified token: 429), `AuthorizeGuard` (401/403 when
 * auth is on), in that order, then the validation pipe on every parameter.
 *
 * Deliberately not global (`APP_GUARD`, `useGlobalPipes`): Nest also runs global guards
 * and pipes around every WebSocket message handler, where none of them applies (frames
 * have their own per-connection budget in the adapter, and `routeFrame` checks their
 * shape), and each socket message then paid for three guard calls and a pipe pass
 * (about a fifth of the server's allocations per message). Every `/api/v1` controller
 * uses this decorator instead of `@Controller` (`test/e2e/enhancers.e2e-spec.ts` checks).
 */
export function ApiController(path: string): ClassDecorator {
  return applyDecorators(Controller(path), UseGuards(IdentifyGuard, ApiThrottlerGuard, AuthorizeGuard), UsePipes(validation));
}
