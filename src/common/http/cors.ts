import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

/** Response headers a browser client may read. */
const EXPOSED_HEADERS = [
  'X-Request-Id',
  'Retry-After',
  'X-RateLimit-Limit',
  'X-RateLimit-Remaining',
  'X-RateLimit-Reset',
  'WWW-Authenticate',
].join(', ');

/** The methods a preflight allows (the API's own). */
const ALLOWED_METHODS = 'GET,HEAD,POST';

/** `vary` on an answer to a listed-origins policy, a preflight, or both. */
const VARY_ORIGIN = 'Origin';
const VARY_REQUEST_HEADERS = 'Access-Control-Request-Headers';
const VARY_BOTH = `${VARY_ORIGIN}, ${VARY_REQUEST_HEADERS}`;

/**
 * `CORS_ORIGINS` as a policy: `undefined` allows any origin (`*` anywhere in the list),
 * otherwise the exact origins listed (compared as strings: case, a trailing slash or the
 * scheme make another origin). The WebSocket upgrade checks `Origin` against the same.
 */
export function corsOrigins(setting: string): ReadonlySet<string> | undefined {
  const origins = setting
    .split(',')
    .map((o) => o.trim())
    .filter((o) => o !== '');
  return origins.includes('*') ? undefined : new Set(origins);
}

/**
 * CORS for every HTTP answer, as `@fastify/cors` answered it (same headers, same values;
 * `test/e2e/cors.e2e-spec.ts` pins every one), in two small pieces instead of a plugin:
 *
 * - `apply()`, called from the server's one `onSend` hook, adds
 *   `Access-Control-Allow-Origin` (`*`, or the request's `Origin` when it is listed),
 *   `Access-Control-Expose-Headers` and, with a list, `Vary: Origin` to every answer that
 *   Fastify sends: successes, 400/404/413/415/429 and preflights alike;
 * - an `OPTIONS *` route answers every `OPTIONS` as a preflight: 204, no body, the allowed
 *   methods, the requested headers reflected, `Vary: Access-Control-Request-Headers`. It is
 *   a plain Fastify route, outside the API's guards, so a preflight is never rate limited.
 *
 * Why not `app.enableCors()`: @fastify/cors runs as a hook of its own on every request,
 * copies its whole options object, reads `req.routeOptions` (an object Fastify builds
 * on each read) twice and sets mixed-case header names: 3.3 µs of a 56 µs POST in A/B
 * runs of the two builds (docs/performance.md, change 14); setting two or three constant
 * headers where the request id is set already costs next to nothing.
 */
export class Cors {
  private readonly origins: ReadonlySet<string> | undefined;

  constructor(setting: string) {
    this.origins = corsOrigins(setting);
  }

  /** The preflight route. Register before the app starts listening. */
  register(fastify: FastifyInstance): void {
    fastify.options('*', (req: FastifyRequest, reply: FastifyReply) => {
      void reply.header('access-control-allow-methods', ALLOWED_METHODS);
      const requested = req.headers['access-control-request-headers'];
      if (requested !== undefined) void reply.header('access-control-allow-headers', requested);
      void reply.code(204).header('content-length', '0').send();
    });
  }

  /** The headers of every answer (from `onSend`, before the headers are written). */
  apply(req: FastifyRequest, reply: FastifyReply): void {
    const preflight = req.method === 'OPTIONS';
    if (this.origins === undefined) {
      void reply.header('access-control-allow-origin', '*');
      if (preflight) void reply.header('vary', VARY_REQUEST_HEADERS);
    } else {
      const origin = req.headers.origin;
      if (origin !== undefined && this.origins.has(origin)) void reply.header('access-control-allow-origin', origin);
      void reply.header('vary', preflight ? VARY_BOTH : VARY_ORIGIN);
    }
    void reply.header('access-control-expose-headers', EXPOSED_HEADERS);
  }
}
