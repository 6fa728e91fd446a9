// Helpers shared by the bench scripts (run.mjs, icount.mjs, join-storm.mjs).

import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** A loopback TCP port that was free a moment ago. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** Resolves true once the child has exited, false if it is still running after `ms`. */
export function waitExit(child, ms) {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve(true);
    const t = setTimeout(() => resolve(false), ms);
    child.once('exit', () => {
      clearTimeout(t);
      resolve(true);
    });
  });
}

/** SIGTERM, then SIGKILL after `graceMs`: only the child given, by its PID. */
export async function stopProcess(child, graceMs) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  if (!(await waitExit(child, graceMs))) {
    child.kill('SIGKILL');
    await waitExit(child, 5000);
  }
}

/** One Redis command over a fresh connection; resolves with the raw first reply line. */
export function redisCmd(port, ...args) {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    let out = '';
    const t = setTimeout(() => {
      s.destroy();
      reject(new Error(`redis ${args[0]} timed out`));
    }, 5000);
    s.on('connect', () => {
      s.write(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(String(a))}\r\n${a}\r\n`).join('')}`);
    });
    s.on('data', (d) => {
      out += d.toString();
      if (out.includes('\r\n')) {
        clearTimeout(t);
        s.destroy();
        resolve(out.slice(0, out.indexOf('\r\n')));
      }
    });
    s.on('error', (e) => {
      clearTimeout(t);
      reject(e);
    });
  });
}

/**
 * A private redis-server on a free loopback port, without persistence, its data dir
 * in $TMPDIR; resolves once it answers PING. `wrap(cmd, args)` may prefix the command
 * (CPU pinning), `onSpawn(child, dir)` registers it for an abort before it is up.
 * `stop()` stops that process and removes the dir.
 */
export async function startRedis({ wrap = (cmd, args) => [cmd, args], extraArgs = [], onSpawn } = {}) {
  if (spawnSync('redis-server', ['--version']).error) {
    throw new Error('redis-server not found on PATH (apt-get install -y redis-server / brew install redis)');
  }
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'parley-bench-redis-'));
  const [cmd, args] = wrap('redis-server', [
    '--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', ...extraArgs,
  ]);
  const child = spawn(cmd, args, { stdio: 'ignore' });
  onSpawn?.(child, dir);
  const stop = async () => {
    await stopProcess(child, 3000);
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      if ((await redisCmd(port, 'PING')) === '+PONG') break;
    } catch {
      /* not up yet */
    }
    if (child.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`redis-server did not answer PING within 10 s (exit code ${child.exitCode})`);
    }
    await sleep(50);
  }
  return { port, url: `redis://127.0.0.1:${port}`, pid: child.pid, child, stop };
}
