import { type ExecutionContext, Injectable } from '@nestjs/common';
import { ThrottlerGuard } from '@nestjs/throttler';

/**
 * One budget per client IP shared by every `/api/v1` route: the key is the
 * tracker alone, not the route. `req.ip` is Fastify's, which honours
 * TRUST_PROXY and nothing else.
 */
@Injectable()
export class ApiThrottlerGuard extends ThrottlerGuard {
  protected override generateKey(_context: ExecutionContext, tracker: string, name: string): string {
    return `${name}:${tracker}`;
  }

  protected override getTracker(req: Record<string, unknown>): Promise<string> {
    return Promise.resolve(String(req.ip));
  }
}
