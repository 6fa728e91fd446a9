import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

interface Param {
  source: string;
  data?: string;
  type: string;
  pipes: string[];
}
interface Described {
  name: string;
  path?: string;
  guards: string[];
  pipes: string[];
  handlers: Record<string, Param[]>;
}
interface Probe {
  controllers: Described[];
  gateway: Described;
  rootProviders: string[];
}

/**
 * Where the API's guards and validation pipe are attached, read from the built app
 * (test/support/enhancers-probe.mjs). The guards are on each /api/v1 controller
 * (`ApiController`), not global: global ones would also run around every socket message.
 * The validation pipe is on each DTO parameter (`ValidBody`, `ValidQuery`) and nowhere
 * else: a pipe costs a promise chain per request even on a parameter it has nothing to do with.
 */
describe('API guards and pipes (dist/)', () => {
  let probe: Probe;

  beforeAll(() => {
    const main = join(process.cwd(), 'dist', 'main.js');
    if (!existsSync(main)) throw new Error(`${main} is missing: run \`npm run build\` before the e2e tests`);
    const run = spawnSync(process.execPath, [join('test', 'support', 'enhancers-probe.mjs')], {
      encoding: 'utf8',
      timeout: 20_000,
    });
    if (run.status !== 0) throw new Error(`enhancers-probe failed (${run.status}):\n${run.stderr}`);
    probe = JSON.parse(run.stdout) as Probe;
  });

  it('finds every controller of the application', () => {
    expect(probe.controllers.map((c) => c.path)).toEqual(['health', 'metrics', 'rooms', 'rooms/:room_id/messages', 'users']);
  });

  it('puts identify, throttle, authorize (in that order) on every /api/v1 controller, and no controller-wide pipe', () => {
    const api = probe.controllers.filter((c) => c.path !== 'health' && c.path !== 'metrics');
    expect(api.map(({ name, guards, pipes }) => ({ name, guards, pipes }))).toEqual(
      ['RoomsController', 'MessagesController', 'UsersController'].map((name) => ({
        name,
        guards: ['IdentifyGuard', 'ApiThrottlerGuard', 'AuthorizeGuard'],
        pipes: [],
      })),
    );
  });

  it('validates exactly the DTO parameters, and the message routes check their input without a pipe', () => {
    const validated = (source: string, type: string): Param => ({ source, type, pipes: ['ApiValidationPipe'] });
    const plain = (source: string, type: string, data?: string): Param => ({ source, ...(data ? { data } : {}), type, pipes: [] });
    expect(Object.fromEntries(probe.controllers.map((c) => [c.name, c.handlers]))).toEqual({
      HealthController: {},
      MetricsController: {},
      RoomsController: {
        create: [validated('body', 'CreateRoomDto')],
        list: [validated('query', 'ListQueryDto')],
        get: [plain('param', 'String', 'room_id')],
      },
      MessagesController: {
        send: [plain('param', 'String', 'room_id'), plain('body', 'Object')],
        list: [plain('param', 'String', 'room_id'), plain('query', 'Object')],
      },
      UsersController: {
        create: [validated('body', 'CreateUserDto')],
        list: [validated('query', 'ListQueryDto')],
        get: [plain('param', 'String', 'user_id')],
      },
    });
    // A DTO parameter added later without ValidBody / ValidQuery fails here too.
    for (const c of probe.controllers) {
      for (const params of Object.values(c.handlers)) {
        for (const p of params) expect({ type: p.type, validated: p.pipes.includes('ApiValidationPipe') }).toEqual({ type: p.type, validated: p.type.endsWith('Dto') });
      }
    }
  });

  it('leaves /health, /metrics and the WebSocket gateway without them, and registers none globally', () => {
    const open = probe.controllers.filter((c) => c.path === 'health' || c.path === 'metrics');
    for (const d of [...open, probe.gateway]) expect({ name: d.name, guards: d.guards, pipes: d.pipes }).toEqual({ name: d.name, guards: [], pipes: [] });
    expect(probe.rootProviders).toEqual(['APP_FILTER']);
  });
});
