import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.js';

const INSTALL_HINT =
  'redis-server was not found on PATH. The cluster tests run against a real Redis 7 cluster: ' +
  'install it with `sudo apt-get install -y redis-server` (Debian/Ubuntu) or `brew install redis` (macOS).';

export interface RedisCluster {
  /** `127.0.0.1:p1,127.0.0.1:p2,…`, for REDIS_CLUSTER_NODES. */
  nodes: string;
  /** The masters' ports, in start order. */
  ports: number[];
  /** Stops every node (by its PID) and removes their directories. */
  stop(): Promise<void>;
}

/** Runs `redis-cli -p <port> <args…>` against one node and returns its trimmed output. */
export function redisCli(port: number, ...args: string[]): string {
  const r = spawnSync('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], { encoding: 'utf8' });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`redis-cli -p ${port} ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return r.stdout.trim();
}

function waitForExit(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
  });
}

async function waitUntil(what: string, timeoutMs: number, check: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`${what} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function answers(port: number, args: string[], predicate: (out: string) => boolean): boolean {
  const r = spawnSync('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], { encoding: 'utf8' });
  return r.status === 0 && predicate(r.stdout ?? '');
}

/**
 * Starts `masters` private cluster-enabled `redis-server`s on free loopback ports
 * (append-only, each in its own temporary directory), joins them into one cluster
 * with no replicas and waits until every node reports `cluster_state:ok`.
 */
export async function startRedisCluster(masters = 3): Promise<RedisCluster> {
  if (spawnSync('redis-server', ['--version']).error) throw new Error(INSTALL_HINT);
  const children: ChildProcess[] = [];
  const dirs: string[] = [];
  const ports: number[] = [];
  const stop = async () => {
    for (const child of children) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
    await Promise.all(children.map(waitForExit));
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < masters; i++) {
      const port = await freePort({ clusterBus: true });
      const dir = mkdtempSync(join(tmpdir(), 'parley-redis-cluster-'));
      dirs.push(dir);
      ports.push(port);
      children.push(
        spawn(
          'redis-server',
          ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'yes',
            '--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '5000'],
          { stdio: 'ignore' },
        ),
      );
    }
    for (const port of ports) {
      await waitUntil(`redis-server on port ${port} did not answer PING`, 10_000, () =>
        answers(port, ['PING'], (out) => out.trim() === 'PONG'),
      );
    }
    const create = spawnSync(
      'redis-cli',
      ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes'],
      { encoding: 'utf8', timeout: 30_000 },
    );
    if (create.status !== 0) {
      throw new Error(`redis-cli --cluster create failed (${create.status}):\n${create.stdout}\n${create.stderr}`);
    }
    for (const port of ports) {
      await waitUntil(`node ${port} did not report cluster_state:ok with ${masters} known nodes`, 20_000, () =>
        answers(
          port,
          ['CLUSTER', 'INFO'],
          (out) => /cluster_state:ok/.test(out) && new RegExp(`cluster_known_nodes:${masters}\\b`).test(out),
        ),
      );
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { nodes: ports.map((p) => `127.0.0.1:${p}`).join(','), ports, stop };
}
