import { type ExecutionContext, Injectable } from '@nestjs/common';
import {
  type ThrottlerGenerateKeyFunction,
  type ThrottlerGetTrackerFunction,
  ThrottlerGuard,
  type ThrottlerOptions,
} from '@nestjs/throttler';
import { identityOf } from '../auth/identity.js';
import { API_THROTTLER } from './upgrade-limiter.js';

/** The budget one request was just counted against (the tighter one is reported). */
interface Counted {
  limit: number;
  remaining: number;
  reset: number;
}

type Resolvable<T> = T | ((context: ExecutionContext) => T | Promise<T>);

/** What the rate-limit headers of one answer report so far. */
interface Reported {
  last?: Counted;
}

/** A budget's numbers, as counted for one request. */
interface Budget {
  ttl: number;
  limit: number;
  blockDuration: number;
}

/** One throttler as it applies to one route: decorators and defaults resolved once. */
interface RoutePlan {
  throttler: ThrottlerOptions;
  /** The throttler's name (API_THROTTLER when it has none). */
  name: string;
  skip: boolean;
  skipIf?: (context: ExecutionContext) => boolean;
  limit: Resolvable<number>;
  ttl: Resolvable<number>;
  blockDuration?: Resolvable<number>;
  /** The budget when all three are plain numbers (the usual case): no resolving per request. */
  fixed?: Budget;
  getTracker: ThrottlerGetTrackerFunction;
  generateKey: ThrottlerGenerateKeyFunction;
}

// The metadata keys of @SkipThrottle() / @Throttle() (not exported by @nestjs/throttler).
const META = {
  skip: 'THROTTLER:SKIP',
  limit: 'THROTTLER:LIMIT',
  ttl: 'THROTTLER:TTL',
  blockDuration: 'THROTTLER:BLOCK_DURATION',
  tracker: 'THROTTLER:TRACKER',
  keyGenerator: 'THROTTLER:KEY_GENERATOR',
} as const;

/**
 * The rate-limit headers (ThrottlerGuard's `X-RateLimit` prefix), as constants in lower case: Fastify
 * stores and sends header names lower-cased, and a name built per request (ThrottlerGuard's template
 * strings) costs a new string, its lower-cased copy and a string-table lookup, on every answer.
 */
const HEADER = {
  limit: 'x-ratelimit-limit',
  remaining: 'x-ratelimit-remaining',
  reset: 'x-ratelimit-reset',
  retryAfter: 'retry-after',
} as const;

const resolve = async (context: ExecutionContext, value: Resolvable<number>): Promise<number> =>
  typeof value === 'function' ? Number(await value(context)) : value;

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
  private readonly plans = new WeakMap<object, RoutePlan[]>();

  /**
   * HTTP only (it is on the `/api/v1` controllers, see `ApiController`). Socket frames
   * have their own per-connection budget (WS_RATE_LIMIT), and the upgrade is counted
   * against this budget by the WebSocket adapter.
   *
   * The same decisions as ThrottlerGuard.canActivate, but the route's
   * @SkipThrottle / @Throttle metadata is read once per handler, not five
   * reflector lookups per throttler on every request, and the budgets are counted
   * one after the other by promise callbacks, not by three nested async layers per
   * budget (ThrottlerGuard's canActivate, handleRequest and the storage's increment):
   * with one budget, the answer is one callback after the storage's reply.
   */
  override canActivate(context: ExecutionContext): Promise<boolean> {
    const http = context.switchToHttp();
    const req = http.getRequest<Record<string, unknown>>();
    const res = http.getResponse<Record<string, unknown>>();
    const reported: Reported = {};
    let counting: Promise<boolean> | undefined;
    for (const plan of this.planFor(context)) {
      if (plan.skip || plan.skipIf?.(context)) continue;
      counting =
        counting === undefined
          ? this.count(plan, context, req, res, reported)
          : counting.then(() => this.count(plan, context, req, res, reported));
    }
    return counting ?? Promise.resolve(true);
  }

  /** One budget: its numbers, then the tracker (both usually plain values, used without a turn). */
  private count(
    plan: RoutePlan,
    context: ExecutionContext,
    req: Record<string, unknown>,
    res: Record<string, unknown>,
    reported: Reported,
  ): Promise<boolean> {
    const budget = plan.fixed;
    if (budget === undefined) {
      // @Throttle with functions: resolved per request.
      const { ttl, limit, blockDuration = ttl } = plan;
      return Promise.all([resolve(context, ttl), resolve(context, limit), resolve(context, blockDuration)]).then(
        ([t, l, b]) => this.count({ ...plan, fixed: { ttl: t, limit: l, blockDuration: b } }, context, req, res, reported),
      );
    }
    // The trackers are synchronous (ipTracker, subTracker): no await, no extra turn per request.
    const tracked = plan.getTracker(req, context);
    return typeof tracked === 'string'
      ? this.hit(plan, budget, context, res, reported, tracked)
      : tracked.then((tracker) => this.hit(plan, budget, context, res, reported, tracker));
  }

  /** The storage round trip, then the rate-limit headers (the tighter budget's) or the 429. */
  private hit(
    plan: RoutePlan,
    { ttl, limit, blockDuration }: Budget,
    context: ExecutionContext,
    res: Record<string, unknown>,
    reported: Reported,
    tracker: string,
  ): Promise<boolean> {
    const key = plan.generateKey(context, tracker, plan.name);
    return this.storageService.increment(key, ttl, limit, blockDuration, plan.name).then((r) => {
      const before = reported.last;
      if (r.isBlocked) {
        this.setResponseHeader(res, HEADER.retryAfter, r.timeToBlockExpire);
        // An earlier budget already set the headers for this request: they now say this one is spent.
        if (before) this.report(res, { limit, remaining: 0, reset: Math.max(before.reset, r.timeToExpire) });
        return this.throwThrottlingException(context, { limit, ttl, key, tracker, ...r }).then(() => false);
      }
      const now: Counted = { limit, remaining: Math.max(0, limit - r.totalHits), reset: r.timeToExpire };
      const tighter =
        !before || now.remaining < before.remaining || (now.remaining === before.remaining && now.reset > before.reset);
      if (tighter) {
        reported.last = now;
        this.report(res, now);
      }
      return true;
    });
  }

  private planFor(context: ExecutionContext): RoutePlan[] {
    const handler = context.getHandler();
    const cached = this.plans.get(handler);
    if (cached) return cached;
    const targets = [handler, context.getClass()];
    const meta = <T>(key: string, name: string) => this.reflector.getAllAndOverride<T | undefined>(key + name, targets);
    const plans = this.throttlers.map((throttler): RoutePlan => {
      const name = throttler.name ?? API_THROTTLER;
      const plan: RoutePlan = {
        throttler,
        name,
        skip: meta<boolean>(META.skip, name) === true,
        skipIf: throttler.skipIf ?? this.commonOptions.skipIf,
        limit: meta<Resolvable<number>>(META.limit, name) ?? throttler.limit,
        ttl: meta<Resolvable<number>>(META.ttl, name) ?? throttler.ttl,
        blockDuration: meta<Resolvable<number>>(META.blockDuration, name) ?? throttler.blockDuration,
        getTracker:
          meta<ThrottlerGetTrackerFunction>(META.tracker, name) ?? throttler.getTracker ?? this.commonOptions.getTracker!,
        generateKey:
          meta<ThrottlerGenerateKeyFunction>(META.keyGenerator, name) ??
          throttler.generateKey ??
          this.commonOptions.generateKey!,
      };
      const { ttl, limit, blockDuration = ttl } = plan;
      if (typeof ttl === 'number' && typeof limit === 'number' && typeof blockDuration === 'number') {
        plan.fixed = { ttl, limit, blockDuration };
      }
      return plan;
    });
    this.plans.set(handler, plans);
    return plans;
  }

  protected override generateKey(_context: ExecutionContext, tracker: string, name: string): string {
    return `${name}:${tracker}`;
  }

  /** For a throttler without its own tracker (ThrottlerGuard's default would trust X-Forwarded-For). */
  protected override getTracker(req: Record<string, unknown>): Promise<string> {
    return Promise.resolve(ipTracker(req));
  }

  private report(res: Record<string, unknown>, c: Counted): void {
    this.setResponseHeader(res, HEADER.limit, c.limit);
    this.setResponseHeader(res, HEADER.remaining, c.remaining);
    this.setResponseHeader(res, HEADER.reset, c.reset);
  }
}

/** The per-IP throttler's tracker: Fastify's `req.ip`, which honours TRUST_PROXY and nothing else. */
export function ipTracker(req: Record<string, unknown>): string {
  return String(req.ip);
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
