import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';

/*
 * ApiThrottlerGuard resolves a route's @Throttle / @SkipThrottle once per handler and counts
 * plain numbers without a turn per request (docs/performance.md, change 15). Parley's own routes
 * use neither decorator, so the routes of a small app of their own
 * (test/support/throttle-decorators-app.mjs, the built guard, a real listening server) hold the
 * guard to what @nestjs/throttler documents for them: limits and ttls given as numbers or as
 * (async) functions of the request, and skipped routes. The budget is the client IP's, shared by
 * every route; each test sends from a loopback address of its own (127.0.0.x), so each starts
 * with a whole budget.
 */

const DEFAULT_LIMIT = 5;

interface Answer {
  status: number;
  limit?: string;
  remaining?: string;
  retryAfter?: string;
}

let server: ChildProcess;
let port: number;
let nextClient = 10;

function get(from: string, path: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: `/t/${path}`, localAddress: from, agent: false }, (res) => {
      res.resume();
      res.on('end', () => {
        const h = res.headers;
        const answer: Answer = { status: res.statusCode ?? 0 };
        if (h['x-ratelimit-limit'] !== undefined) answer.limit = String(h['x-ratelimit-limit']);
        if (h['x-ratelimit-remaining'] !== undefined) answer.remaining = String(h['x-ratelimit-remaining']);
        if (h['retry-after'] !== undefined) answer.retryAfter = String(h['retry-after']);
        resolve(answer);
      });
    });
    req.on('error', reject);
    req.end();
  });
}

async function series(from: string, path: string, n: number): Promise<Answer[]> {
  const answers: Answer[] = [];
  for (let i = 0; i < n; i++) answers.push(await get(from, path));
  return answers;
}

const ok = (limit: number, remaining: number): Answer => ({ status: 200, limit: String(limit), remaining: String(remaining) });
const refused: Answer = { status: 429, retryAfter: '60' };

describe('ApiThrottlerGuard with @Throttle / @SkipThrottle (dist/)', () => {
  let client: string;

  beforeAll(async () => {
    if (!existsSync(join(process.cwd(), 'dist', 'main.js'))) {
      throw new Error('dist/ is missing: run `npm run build` before the e2e tests');
    }
    server = spawn(process.execPath, [join('test', 'support', 'throttle-decorators-app.mjs')], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    server.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the throttled app did not start:\n${stderr}`)), 20_000);
      server.once('exit', (code) => reject(new Error(`the throttled app exited (${code}):\n${stderr}`)));
      server.stdout!.once('data', (d: Buffer) => {
        clearTimeout(timer);
        resolve((JSON.parse(d.toString()) as { port: number }).port);
      });
    });
  });

  afterAll(async () => {
    if (server.exitCode !== null) return;
    const exited = new Promise((resolve) => server.once('exit', resolve));
    server.kill('SIGTERM');
    await exited;
  });

  beforeEach(() => {
    client = `127.0.0.${nextClient++}`;
  });

  it('resolves function-valued limit and ttl on each request, then refuses with 429 and Retry-After', async () => {
    const before = (await (await fetch(`http://127.0.0.1:${port}/t/calls`)).json()) as { limitCalls: number };
    expect(await series(client, 'fn', 3)).toEqual([ok(2, 1), ok(2, 0), refused]);
    const after = (await (await fetch(`http://127.0.0.1:${port}/t/calls`)).json()) as { limitCalls: number };
    expect(after.limitCalls - before.limitCalls).toBe(3);
  });

  it('applies a numeric @Throttle limit to its route', async () => {
    expect(await series(client, 'fixed', 4)).toEqual([ok(3, 2), ok(3, 1), ok(3, 0), refused]);
  });

  it('uses the module limit on an undecorated route', async () => {
    const answers = await series(client, 'default', DEFAULT_LIMIT + 1);
    expect(answers).toEqual([...Array.from({ length: DEFAULT_LIMIT }, (_, i) => ok(DEFAULT_LIMIT, DEFAULT_LIMIT - 1 - i)), refused]);
  });

  it('neither counts nor reports a skipped route', async () => {
    expect(await series(client, 'skipped', DEFAULT_LIMIT + 2)).toEqual(
      Array.from({ length: DEFAULT_LIMIT + 2 }, () => ({ status: 200 })),
    );
    expect(await get(client, 'default')).toEqual(ok(DEFAULT_LIMIT, DEFAULT_LIMIT - 1));
  });

  it('counts every route against the one budget of the client, each route with its own limit', async () => {
    expect(await series(client, 'default', 2)).toEqual([ok(DEFAULT_LIMIT, 4), ok(DEFAULT_LIMIT, 3)]);
    // Two hits already: the route limited to 3 has one left, then refuses.
    expect(await series(client, 'fixed', 2)).toEqual([ok(3, 0), refused]);
  });
});
