import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

interface Described {
  name: string;
  path?: string;
  guards: string[];
  pipes: string[];
}
interface Probe {
  controllers: Described[];
  gateway: Described;
  rootProviders: string[];
}

/**
 * Where the API's guards and validation pipe are attached, read from the built app
 * (test/support/enhancers-probe.mjs). They are on each /api/v1 controller
 * (`ApiController`), not global: global ones would also run around every socket message.
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

  it('puts identify, throttle, authorize (in that order) and the validation pipe on every /api/v1 controller', () => {
    const api = probe.controllers.filter((c) => c.path !== 'health' && c.path !== 'metrics');
    expect(api.map(({ name, guards, pipes }) => ({ name, guards, pipes }))).toEqual(
      ['RoomsController', 'MessagesController', 'UsersController'].map((name) => ({
        name,
        guards: ['IdentifyGuard', 'ApiThrottlerGuard', 'AuthorizeGuard'],
        pipes: ['ApiValidationPipe'],
      })),
    );
  });

  it('leaves /health, /metrics and the WebSocket gateway without them, and registers none globally', () => {
    const open = probe.controllers.filter((c) => c.path === 'health' || c.path === 'metrics');
    for (const d of [...open, probe.gateway]) expect({ name: d.name, guards: d.guards, pipes: d.pipes }).toEqual({ name: d.name, guards: [], pipes: [] });
    expect(probe.rootProviders).toEqual(['APP_FILTER']);
  });
});
