#!/usr/bin/env node
// Join storm: N sockets open at once on one room of one server (Parley or the baseline),
// on a private redis-server. Each connection must get its history frame and stay open;
// prints per round how long the storm took, history latency and every error or close.
// See bench/README.md.
//
//   node bench/join-storm.mjs [parley|baseline] [sockets=500] [rounds=3] [main=dist/main.js]
//
// The server is pinned to CPU 1 where `taskset` exists. All traffic goes to 127.0.0.1;
// each round is bounded (20 s per socket, 4 s of watching for late errors and closes),
// and only the processes started here are stopped, by their PID.

import { spawn, spawnSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { WebSocket } from 'ws';
import { freePort, sleep, startRedis } from './support.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const [kind = 'parley', nArg = '500', roundsArg = '3', mainArg = join(ROOT, 'dist', 'main.js')] = process.argv.slice(2);
const N = Number(nArg);
const ROUNDS = Number(roundsArg);
if (!['parley', 'baseline'].includes(kind) || !(N > 0 && N <= 5000) || !(ROUNDS > 0 && ROUNDS <= 20)) {
  console.error('usage: node bench/join-storm.mjs [parley|baseline] [sockets 1-5000] [rounds 1-20] [main.js]');
  process.exit(2);
}

async function waitFor(check, what, ms = 20_000) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await sleep(100);
  }
  throw new Error(`${what} not ready within ${ms} ms`);
}

const pin = !spawnSync('taskset', ['--version']).error;
const redis = await startRedis();
const port = await freePort();
const entry = kind === 'parley' ? resolve(mainArg) : join(ROOT, 'bench', 'baseline-server.mjs');
const [cmd, args] = pin ? ['taskset', ['-c', '1', process.execPath, entry]] : [process.execPath, [entry]];
const server = spawn(cmd, args, {
  cwd: ROOT,
  env: {
    PATH: process.env.PATH,
    NODE_ENV: 'production',
    HOST: '127.0.0.1',
    PORT: String(port),
    REDIS_URL: redis.url,
    LOG_LEVEL: 'warn',
    RATE_LIMIT_LIMIT: '100000000',
    WS_RATE_LIMIT: '1000000',
  },
  stdio: ['ignore', 'inherit', 'inherit'],
});
const base = `http://127.0.0.1:${port}`;
const open = [];

async function create(path, body) {
  const res = await fetch(`${base}/api/v1${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (res.status !== 200) throw new Error(`POST ${path}: ${res.status} ${await res.text()}`);
  return (await res.json()).id;
}

/** Opens one socket; resolves with the time to its history frame, or an error description. */
function join1(roomId, userId) {
  return new Promise((res) => {
    const t0 = performance.now();
    const ws = new WebSocket(`ws://127.0.0.1:${port}/api/v1/ws/${roomId}/${userId}`);
    open.push(ws);
    const timer = setTimeout(() => res({ error: 'no history frame within 20 s' }), 20_000);
    ws.on('message', (data) => {
      const text = data.toString();
      if (text.startsWith('{"type":"history"')) {
        ws.gotHistory = true;
        clearTimeout(timer);
        res({ ms: performance.now() - t0 });
      } else if (text.startsWith('{"type":"error"')) {
        if (ws.gotHistory) ws.lateError = text;
        else {
          clearTimeout(timer);
          res({ error: text });
        }
      }
    });
    ws.on('unexpected-response', (_req, r) => {
      clearTimeout(timer);
      res({ error: `upgrade answered ${r.statusCode}` });
    });
    ws.on('error', (err) => {
      clearTimeout(timer);
      res({ error: err.message });
    });
  });
}

try {
  await waitFor(async () => (await fetch(`${base}/health`)).ok, `${kind} server`);
  const users = [];
  for (let i = 0; i < N; i++) users.push(await create('/users', { username: `storm${i}` }));
  const roomId = await create('/rooms', { name: 'storm' });
  console.log(`${kind}: ${N} sockets join one room at once, ${ROUNDS} round(s)${pin ? ', server on CPU 1' : ''}`);
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = performance.now();
    const results = await Promise.all(users.map((u) => join1(roomId, u)));
    const took = performance.now() - t0;
    await sleep(4000);
    const ms = results.filter((x) => x.ms !== undefined).map((x) => x.ms).sort((a, b) => a - b);
    const errors = results.filter((x) => x.error);
    const late = open.filter((ws) => ws.lateError).length;
    const closed = open.filter((ws) => ws.readyState !== WebSocket.OPEN).length;
    console.log(
      `round ${r + 1}: ${ms.length}/${N} got history in ${took.toFixed(0)} ms ` +
        `(p50 ${ms[ms.length >> 1]?.toFixed(0) ?? '-'} ms, max ${ms.at(-1)?.toFixed(0) ?? '-'} ms); ` +
        `errors ${errors.length}, error frames after history ${late}, closed ${closed}`,
    );
    if (errors.length) console.log(`  first error: ${errors[0].error}`);
    for (const ws of open) ws.terminate();
    open.length = 0;
    await sleep(1500);
  }
} finally {
  for (const ws of open) ws.terminate();
  server.kill();
  await redis.stop();
}
