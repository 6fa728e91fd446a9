import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/**
 * Loopback ports for the servers the tests start.
 *
 * Asking the OS for port 0 and handing the number to a child process races: between
 * the probe closing and the child binding, another Jest worker (or any outbound
 * connection, which draws its source port from the same ephemeral range) can take
 * it. The child then fails with EADDRINUSE while the health check is answered by
 * somebody else's server. So ports come from below the kernel's ephemeral range, in
 * a block of its own for each Jest worker, and each candidate is still probed.
 */

const BLOCK = 2000;
const FIRST = 12_000;
/** Redis Cluster's bus listens on port + 10000; the blocks keep that below the ephemeral range too. */
export const CLUSTER_BUS_OFFSET = 10_000;

function ephemeralLow(): number {
  try {
    const [low] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    return Number.isInteger(low) ? low : 32_768;
  } catch {
    return 32_768;
  }
}

const worker = Math.max(1, Number(process.env.JEST_WORKER_ID ?? 1));
const blocks = Math.max(1, Math.floor((ephemeralLow() - CLUSTER_BUS_OFFSET - FIRST) / BLOCK));
const blockStart = FIRST + ((worker - 1) % blocks) * BLOCK;
// Test files in one worker run one after another with fresh module state; a random
// start keeps a file from reaching for the ports its predecessor has only just closed.
let cursor = Math.floor(Math.random() * BLOCK);

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/**
 * A free TCP port on 127.0.0.1 from this worker's block. With `clusterBus`, port +
 * 10000 is free as well (a Redis Cluster node needs both).
 */
export async function freePort(opts: { clusterBus?: boolean } = {}): Promise<number> {
  for (let tries = 0; tries < BLOCK; tries++) {
    const port = blockStart + (cursor++ % BLOCK);
    if (!(await bindable(port))) continue;
    if (opts.clusterBus && !(await bindable(port + CLUSTER_BUS_OFFSET))) continue;
    return port;
  }
  throw new Error(`no free loopback port in ${blockStart}-${blockStart + BLOCK - 1}`);
}
