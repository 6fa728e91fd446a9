import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.js';

const INSTALL_HINT =
  'redis-server was not found on PATH. The integration and e2e tests run against a real Redis 7: ' +
  'install it with `sudo apt-get install -y redis-server` (Debian/Ubuntu) or `brew install redis` (macOS).';

export interface RedisServer {
  port: number;
  url: string;
  pid: number;
  /** Stops this server (by its PID) and removes its directory. */
  stop(): Promise<void>;
  /** Stops the process but keeps its directory and port, for outage tests. */
  kill(): Promise<void>;
  /** Starts it again on the same port with the same data directory. */
  restart(): Promise<void>;
}

function waitForExit(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
  });
}

async function waitForPing(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const r = spawnSync('redis-cli', ['-h', '127.0.0.1', '-p', String(port), 'PING'], { encoding: 'utf8' });
    if (r.stdout?.trim() === 'PONG') return;
    await new Promise((res) => setTimeout(res, 50));
  }
  throw new Error(`redis-server on port ${port} did not answer PING within ${timeoutMs} ms`);
}

/**
 * Starts a private `redis-server` on a free loopback port, with append-only
 * persistence in a temporary directory. Extra arguments are passed through
 * (e.g. `['--cluster-enabled', 'yes']`).
 */
export async function startRedis(extraArgs: string[] = []): Promise<RedisServer> {
  if (spawnSync('redis-server', ['--version']).error) throw new Error(INSTALL_HINT);
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'parley-redis-'));
  let child: ChildProcess;
  const launch = async () => {
    child = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'yes',
        '--appendfsync', 'everysec', ...extraArgs],
      { stdio: 'ignore' },
    );
    await waitForPing(port, 10_000);
  };
  const kill = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await waitForExit(child);
    }
  };
  await launch();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    get pid() {
      return child.pid ?? -1;
    },
    kill,
    restart: launch,
    async stop() {
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
