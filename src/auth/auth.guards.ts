import { type CanActivate, type ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { FastifyRequest } from 'fastify';
import { DomainError } from '../common/errors/domain-error.js';
import { AUTH_RULE, type AuthRule } from './auth.decorators.js';
import { AuthService } from './auth.service.js';
import { type AuthOutcome, authOutcomeOf, setAuthOutcome } from './identity.js';

async function identify(auth: AuthService, req: FastifyRequest): Promise<AuthOutcome> {
  try {
    return { identity: await auth.authenticateHeader(req.headers.authorization) };
  } catch (err) {
    if (err instanceof DomainError) return { error: err };
    throw err;
  }
}

/**
 * First API guard (only on `/api/v1` controllers, see `ApiController`; /health, /metrics
 * and /docs stay open): reads the bearer token of a request and records
 * who it is (or why not) on the request. It never refuses, so the throttler after
 * it counts every request against the IP budget, and verified ones against their
 * `sub` too; `AuthorizeGuard` refuses after that.
 */
@Injectable()
export class IdentifyGuard implements CanActivate {
  constructor(private readonly auth: AuthService) {}

  // Synchronous when auth is off: Nest awaits only a guard that answers a promise.
  canActivate(context: ExecutionContext): boolean | Promise<boolean> {
    if (!this.auth.enabled) return true;
    return this.record(context.switchToHttp().getRequest<FastifyRequest>());
  }

  private async record(req: FastifyRequest): Promise<boolean> {
    setAuthOutcome(req, await identify(this.auth, req));
    return true;
  }
}

/**
 * Last API guard (after the throttler): an `/api/v1` request without a valid
 * token is a 401, and the route's rule (`@RequireAdmin`, `@ActsAsUser`) a 403.
 */
@Injectable()
export class AuthorizeGuard implements CanActivate {
  constructor(
    private readonly auth: AuthService,
    private readonly reflector: Reflector,
  ) {}

  // Synchronous when auth is off: Nest awaits only a guard that answers a promise.
  canActivate(context: ExecutionContext): boolean | Promise<boolean> {
    if (!this.auth.enabled) return true;
    return this.authorize(context);
  }

  private async authorize(context: ExecutionContext): Promise<boolean> {
    const req = context.switchToHttp().getRequest<FastifyRequest>();
    // Fail closed: identified here if IdentifyGuard did not run.
    const outcome = authOutcomeOf(req) ?? (await identify(this.auth, req));
    if ('error' in outcome) throw outcome.error;
    const { identity } = outcome;
    const rule = this.reflector.getAllAndOverride<AuthRule | undefined>(AUTH_RULE, [
      context.getHandler(),
      context.getClass(),
    ]);
    if (rule?.admin) this.auth.assertAdmin(identity);
    if (rule?.actsAsBodyField) {
      const body = req.body;
      const named = typeof body === 'object' && body !== null ? (body as Record<string, unknown>)[rule.actsAsBodyField] : undefined;
      // A missing or non-string field is the validation's 400, not ours.
      if (typeof named === 'string') this.auth.assertActsAs(identity, named);
    }
    return true;
  }
}
