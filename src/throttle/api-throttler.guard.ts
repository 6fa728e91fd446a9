import { type ExecutionContext, Injectable } from '@nestjs/common';
import { ThrottlerGuard, type ThrottlerRequest } from '@nestjs/throttler';
import { identityOf } from '../auth/identity.js';
import { API_THROTTLER } from './upgrade-limiter.js';

/** The budget one request was just counted against (the tighter one is reported). */
interface Counted {
  limit: number;
  remaining: number;
  reset: number;
}

const counted = new WeakMap<object, Counted>();

/**
 * One budget per client IP shared by every `/api/v1` route (the key is the
 * tracker alone, not the route; `req.ip` is Fastify's, which honours TRUST_PROXY
 * and nothing else). With authentication on, a request with a verified token
 * also counts against its `sub`'s budget (the `sub` throttler, same limits):
 * a user cannot hide behind a shared NAT, nor one IP starve every user behind it.
 *
 * Headers stay unsuffixed whatever the throttler: X-RateLimit-Limit/Remaining/Reset
 * report the tighter of the budgets, Retry-After the one that refused.
 */
@Injectable()
export class ApiThrottlerGuard extends ThrottlerGuard {
  /**
   * HTTP only. Global guards also run on gateway messages, where there is no
   * client IP: frames have their own per-connection budget (WS_RATE_LIMIT), and
   * the upgrade is counted against this budget by the WebSocket adapter.
   */
  protected override async shouldSkip(context: ExecutionContext): Promise<boolean> {
    return context.getType() !== 'http' || super.shouldSkip(context);
  }

  protected override generateKey(_context: ExecutionContext, tracker: string, name: string): string {
    return `${name}:${tracker}`;
  }

  protected override getTracker(req: Record<string, unknown>): Promise<string> {
    return Promise.resolve(String(req.ip));
  }

  protected override async handleRequest(props: ThrottlerRequest): Promise<boolean> {
    const { context, limit, ttl, throttler, blockDuration, getTracker, generateKey } = props;
    const { req, res } = this.getRequestResponse(context);
    const tracker = await getTracker(req, context);
    const key = generateKey(context, tracker, throttler.name ?? API_THROTTLER);
    const r = await this.storageService.increment(key, ttl, limit, blockDuration, throttler.name ?? API_THROTTLER);
    const before = counted.get(req);
    if (r.isBlocked) {
      this.setResponseHeader(res, 'Retry-After', r.timeToBlockExpire);
      // An earlier budget already set the headers for this request: they now say this one is spent.
      if (before) this.report(res, req, { limit, remaining: 0, reset: Math.max(before.reset, r.timeToExpire) });
      await this.throwThrottlingException(context, { limit, ttl, key, tracker, ...r });
    }
    const now: Counted = { limit, remaining: Math.max(0, limit - r.totalHits), reset: r.timeToExpire };
    const tighter =
      !before || now.remaining < before.remaining || (now.remaining === before.remaining && now.reset > before.reset);
    if (tighter) this.report(res, req, now);
    return true;
  }

  private report(res: Record<string, unknown>, req: object, c: Counted): void {
    counted.set(req, c);
    this.setResponseHeader(res, `${this.headerPrefix}-Limit`, c.limit);
    this.setResponseHeader(res, `${this.headerPrefix}-Remaining`, c.remaining);
    this.setResponseHeader(res, `${this.headerPrefix}-Reset`, c.reset);
  }
}

/** The per-`sub` throttler's tracker: the verified token's subject. */
export function subTracker(req: Record<string, unknown>): string {
  return identityOf(req)?.sub ?? '';
}

/** The per-`sub` throttler applies only to requests with a verified token. */
export function hasIdentity(context: ExecutionContext): boolean {
  if (context.getType() !== 'http') return false;
  return identityOf(context.switchToHttp().getRequest<object>()) !== undefined;
}
