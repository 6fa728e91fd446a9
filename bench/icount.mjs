#!/usr/bin/env node
// Instructions per request, counted by valgrind's callgrind: a measure of a server's
// user-space work that does not move with the machine's load (CPU time on this shared
// VM moves by up to ±40% between runs). Kernel time (socket system calls) is not
// counted, and neither is Redis: only the server process, all of its threads (V8's GC
// and compiler threads included).
//
//   node bench/icount.mjs [--servers parley,baseline] [--ops post,get,fanout,rooms] [--requests 2000] [--in-flight 8]
//
// Ops: `post` (POST a message), `get` (GET 50 messages): instructions per request;
// `fanout` (one room x --sockets sockets, 200) and `rooms` (--rooms rooms x 10 sockets,
// 20): instructions per delivery, messages sent over the sockets one at a time per room
// (the next once every socket of the room has the previous one), --messages per room.
//
// For each server: starts it under `valgrind --tool=callgrind --instr-atstart=no` on
// its own redis-server, creates a room and a user, sends warm-up requests (JIT), then
// switches instrumentation on (`callgrind_control -i on`), sends exactly N requests of
// one kind (--in-flight, 8 by default, keep-alive), switches it off and reads the instruction total
// from a dump. Prints Ir/request per server and op, and the ratio Parley / baseline.
// Slow (the server runs ~50x slower under valgrind): a few minutes per run.

import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WebSocket } from 'ws';
import { freePort, redisCmd, sleep, startRedis } from './support.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1] : dflt;
};
const SERVERS = opt('servers', 'parley,baseline').split(',');
const OPS = opt('ops', 'post,get').split(',');
const N = Number(opt('requests', '2000'));
const WARMUP = Number(opt('warmup', '3000'));
/** Requests in flight (keep-alive connections) for `post`/`get`: 1 shows per-request costs that batching hides. */
const IN_FLIGHT = Number(opt('in-flight', '8'));
const SOCKETS = Number(opt('sockets', '200'));
const ROOMS = Number(opt('rooms', '20'));
const MESSAGES = Number(opt('messages', '0')); // 0: per op default
/** Another build of Parley to count (e.g. one compiled with `tsc --outDir .dist-x`). */
const PARLEY_MAIN = opt('parley-main', join(ROOT, 'dist', 'main.js'));
/** Keep the callgrind dumps (for callgrind_annotate) in this directory. */
const KEEP = opt('keep', '');
/** Simulate the caches too (`--cache-sim=yes`): also prints cache misses per unit. Slower. */
const CACHE_SIM = args.includes('--cache-sim');

for (const tool of ['valgrind', 'callgrind_control', 'redis-server']) {
  if (spawnSync(tool, ['--version']).error) {
    console.error(`${tool} is missing (apt-get install valgrind redis-server)`);
    process.exit(2);
  }
}
if (!existsSync(PARLEY_MAIN)) {
  console.error(`${PARLEY_MAIN} is missing: run npm run build first`);
  process.exit(2);
}

const agent = new http.Agent({ keepAlive: true, maxSockets: IN_FLIGHT });

function request(port, method, path, body) {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method,
        path,
        agent,
        headers: data ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) } : {},
      },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode, text: Buffer.concat(chunks).toString() }));
      },
    );
    req.setTimeout(120_000, () => req.destroy(new Error(`${method} ${path}: no answer in 120 s`)));
    req.on('error', reject);
    req.end(data);
  });
}

async function load(port, count, make) {
  let next = 0;
  let bad = 0;
  const worker = async () => {
    while (next < count) {
      next++;
      const [method, path, body] = make();
      const r = await request(port, method, path, body);
      if (r.status !== 200) bad++;
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  if (bad > 0) throw new Error(`${bad} of ${count} requests were not 200`);
}

/**
 * Runs a callgrind_control command. Valgrind reads it only when the server runs, and
 * an idle server sleeps in epoll: a GET /health every 20 ms wakes it until the command
 * is done (a handful of those cheap requests lands in the window: well under 0.5%).
 */
async function control(pid, port, cmd) {
  // vgdb names its pipes after $HOST, which the server has as its bind address.
  const env = { ...process.env, HOST: '127.0.0.1' };
  const c = spawn('callgrind_control', [...cmd, String(pid)], { env, stdio: 'ignore' });
  let done = false;
  const exited = new Promise((r) => c.once('exit', () => r((done = true))));
  while (!done) {
    await Promise.race([request(port, 'GET', '/health').catch(() => undefined), exited]);
    await sleep(20);
  }
}

/** Opens a socket to `room` as `user`; resolves once its history frame is in. */
function openSocket(port, room, user) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/api/v1/ws/${room}/${user}`, { perMessageDeflate: false });
    ws.messages = 0;
    ws.waiters = [];
    ws.on('message', (data) => {
      const text = data.toString();
      if (text.startsWith('{"type":"history"')) return resolve(ws);
      if (text.startsWith('{"type":"error"')) throw new Error(`error frame: ${text}`);
      if (!text.startsWith('{"id":')) return; // presence
      ws.messages++;
      ws.waiters = ws.waiters.filter((w) => (w.count <= ws.messages ? (w.resolve(), false) : true));
    });
    ws.once('error', reject);
    ws.once('close', (code) => reject(new Error(`socket closed (${code}) before its history frame`)));
  });
}

const received = (ws, count) =>
  ws.messages >= count ? undefined : new Promise((resolve) => ws.waiters.push({ count, resolve }));

/**
 * A WebSocket workload: `rooms` rooms x `perRoom` sockets. Each `run(n)` sends n messages
 * per room, one at a time per room (all rooms at once), and resolves with the deliveries.
 */
async function socketLoad(port, rooms, perRoom, tag) {
  const users = [];
  for (let i = 0; i < perRoom; i++) {
    users.push(JSON.parse((await request(port, 'POST', '/api/v1/users', { username: `${tag}${port}u${i}` })).text).id);
  }
  const byRoom = [];
  for (let r = 0; r < rooms; r++) {
    const room = JSON.parse((await request(port, 'POST', '/api/v1/rooms', { name: `icount ${r}` })).text).id;
    const sockets = [];
    for (const user of users) sockets.push(await openSocket(port, room, user));
    byRoom.push(sockets);
  }
  let sent = 0;
  return {
    async run(n) {
      const base = sent;
      await Promise.all(
        byRoom.map(async (sockets) => {
          for (let i = 0; i < n; i++) {
            sockets[i % sockets.length].send(JSON.stringify({ type: 'text', content: `icount ${base + i}` }));
            await Promise.all(sockets.map((ws) => received(ws, base + i + 1)));
          }
        }),
      );
      sent += n;
      return n * rooms * perRoom;
    },
    close() {
      for (const sockets of byRoom) for (const ws of sockets) ws.terminate();
    },
  };
}

/** Functions of V8's compilers (TurboFan, Maglev, the bytecode generator) and their zone allocator. */
const COMPILER = /v8::internal::(compiler|maglev|turboshaft|interpreter|baseline)::|v8::internal::Zone|CompilationJob|v8::internal::Compiler::/;

/** Instructions in the dumps of `dir`: all of them, and without the compilers' (see COMPILER). */
function countIr(dir) {
  let total = 0;
  let compiler = 0;
  /** The main (JavaScript) thread alone, compilers excluded: GC and compiler helper threads vary most between runs. */
  let main = 0;
  /** Every event's total (Ir, and with --cache-sim the cache events: I1mr, D1mr, DLmr, …). */
  const events = {};
  for (const f of readdirSync(dir)) {
    if (!f.startsWith('cg.')) continue;
    const file = join(dir, f);
    const text = readFileSync(file, 'utf8');
    const names = /^events: (.+)$/m.exec(text)?.[1].trim().split(/\s+/) ?? ['Ir'];
    const values = /^totals: (.+)$/m.exec(text)?.[1].trim().split(/\s+/).map(Number) ?? [];
    names.forEach((name, i) => (events[name] = (events[name] ?? 0) + (values[i] ?? 0)));
    total += values[0] ?? 0;
    const isMain = /-0*1$/.test(f);
    if (isMain) main += values[0] ?? 0;
    const annotated = spawnSync('callgrind_annotate', ['--inclusive=no', '--threshold=100', file], {
      encoding: 'utf8',
      maxBuffer: 256 * 1024 * 1024,
    }).stdout;
    for (const line of annotated.split('\n')) {
      const row = /^\s*([\d,]+) \(/.exec(line);
      if (row && !line.includes('PROGRAM TOTALS') && COMPILER.test(line)) {
        const n = Number(row[1].replaceAll(',', ''));
        compiler += n;
        if (isMain) main -= n;
      }
    }
  }
  return { total, compiler, main, events };
}

async function measure(server, redisUrl) {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), `icount-${server}-`));
  const main = server === 'parley' ? PARLEY_MAIN : join(ROOT, 'bench', 'baseline-server.mjs');
  const env = {
    PATH: process.env.PATH,
    NODE_ENV: 'production',
    HOST: '127.0.0.1',
    PORT: String(port),
    REDIS_URL: redisUrl,
    LOG_LEVEL: 'error',
    RATE_LIMIT_LIMIT: '100000000',
    WS_RATE_LIMIT: '1000000',
    HISTORY_LIMIT: '50',
  };
  const child = spawn(
    'valgrind',
    [
      '--tool=callgrind',
      '--instr-atstart=no',
      '--smc-check=all-non-file',
      // One dump per thread (cg.<pid>-01 is the main thread): the main thread's count is the steadiest.
      '--separate-threads=yes',
      ...(CACHE_SIM ? ['--cache-sim=yes'] : []),
      `--callgrind-out-file=${join(dir, 'cg.%p')}`,
      process.execPath,
      main,
    ],
    { cwd: ROOT, env, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  try {
    const deadline = Date.now() + 300_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`${server} exited during start:\n${err}`);
      const ok = await request(port, 'GET', '/health').then(
        (r) => r.status === 200,
        () => false,
      );
      if (ok) break;
      if (Date.now() > deadline) throw new Error(`${server} did not start within 300 s`);
      await sleep(500);
    }
    const room = JSON.parse((await request(port, 'POST', '/api/v1/rooms', { name: 'icount' })).text).id;
    const user = JSON.parse((await request(port, 'POST', '/api/v1/users', { username: `ic${port}` })).text).id;
    const make = {
      post: () => ['POST', `/api/v1/rooms/${room}/messages`, { user_id: user, content: 'hello from icount' }],
      get: () => ['GET', `/api/v1/rooms/${room}/messages?limit=50`],
    };
    // `get` reads a full page of 50 whichever ops run before it (with `--ops get` alone the room was empty).
    await load(port, 50, make.post);
    const page = JSON.parse((await request(port, ...make.get())).text);
    if (!Array.isArray(page) || page.length !== 50) throw new Error(`${server}: GET ?limit=50 gave ${page.length} messages, not 50`);
    const result = {};
    for (const op of OPS) {
      let work;
      let close = () => undefined;
      let unit = 'request';
      if (op === 'post' || op === 'get') {
        await load(port, WARMUP, make[op]);
        work = async () => (await load(port, N, make[op]), N);
      } else {
        const sockets = op === 'fanout' ? await socketLoad(port, 1, SOCKETS, 'f') : await socketLoad(port, ROOMS, 10, 'r');
        const messages = MESSAGES || (op === 'fanout' ? 200 : 100);
        await sockets.run(messages);
        work = () => sockets.run(messages);
        close = () => sockets.close();
        unit = 'delivery';
      }
      await sleep(500);
      await control(child.pid, port, ['-z']);
      await control(child.pid, port, ['-i', 'on']);
      const units = await work();
      await control(child.pid, port, ['-i', 'off']);
      close();
      for (const f of readdirSync(dir)) rmSync(join(dir, f));
      await control(child.pid, port, ['-d']);
      const { total, compiler, main, events } = countIr(dir);
      result[op] = { all: total / units, run: (total - compiler) / units, main: main / units };
      if (KEEP) {
        // Copied, not renamed: KEEP may be on another file system.
        mkdirSync(KEEP, { recursive: true });
        for (const f of readdirSync(dir)) copyFileSync(join(dir, f), join(KEEP, `${server}-${op}-${f}`));
      }
      console.log(
        `${server} ${op}: ${Math.round(result[op].run)} Ir/${unit} without the compilers ` +
          `(${Math.round(result[op].all)} with them, ${((compiler / total) * 100).toFixed(0)}% compiling; ` +
          `main thread ${Math.round(result[op].main)}; ${units} ${unit === 'request' ? 'requests' : 'deliveries'})`,
      );
      if (CACHE_SIM) {
        const per = (name) => (events[name] ?? 0) / units;
        console.log(
          `${server} ${op} cache misses/${unit} (all threads, compilers included): ` +
            `I1 ${per('I1mr').toFixed(0)}, D1 ${(per('D1mr') + per('D1mw')).toFixed(0)}, ` +
            `last level ${(per('ILmr') + per('DLmr') + per('DLmw')).toFixed(1)}`,
        );
      }
      await sleep(1000);
    }
    return result;
  } finally {
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    await new Promise((r) => (child.exitCode !== null || child.signalCode !== null ? r() : child.once('exit', r)));
    clearTimeout(timer);
    rmSync(dir, { recursive: true, force: true });
    for (const f of readdirSync('/tmp')) if (f.startsWith('vgdb-pipe-') && f.includes(`-${child.pid}-`)) rmSync(join('/tmp', f));
  }
}

const redis = await startRedis();
try {
  const results = {};
  for (const s of SERVERS) {
    await redisCmd(redis.port, 'FLUSHALL');
    results[s] = await measure(s, redis.url);
  }
  if (results.parley && results.baseline) {
    for (const op of OPS) {
      const [p, b] = [results.parley[op], results.baseline[op]];
      console.log(`P/B ${op}: ${(p.run / b.run).toFixed(2)} without the compilers (${(p.all / b.all).toFixed(2)} with them; main thread ${(p.main / b.main).toFixed(2)})`);
    }
  }
} finally {
  await redis.stop();
  agent.destroy();
}
