#!/usr/bin/env node
// Parley benchmark: Parley (`node dist/main.js`) against a minimal hand-written baseline
// (bench/baseline-server.mjs) on a private redis-server. See bench/README.md.
//
//   npm run bench                    full run (3 pairs per scenario, ~5 s per measurement)
//   BENCH_QUICK=1 npm run bench      smoke run (1 pair, short, fewer sockets; < 1 minute)
//
// Other env: BENCH_PAIRS=n, BENCH_SECONDS=s (measurement length), BENCH_WARM_S=s (warm-up before each
// measurement, default 5), BENCH_SCENARIOS=rest,fanout,
// rooms,saturation,idle (subset, in that order), BENCH_SERVERS=parley,baseline (subset),
// BENCH_PROF_DIR=dir (run Parley with --cpu-prof into dir/parley; BENCH_PROF_SERVERS=parley,baseline
// profiles the baseline too), BENCH_SAT_SENDERS=n, BENCH_NODE_FLAGS='--trace-gc ...' (extra node
// flags for both servers, for experiments), BENCH_SERVER_LOG_DIR=dir (each server run's whole
// stdout+stderr to dir/<n>-<server>-<scenario>.log), BENCH_ALLOC_DIR=dir (fan-out scenarios and the
// saturated REST POST/GET: sample every allocation of the measured window, garbage included,
// through the inspector into dir/<n>-<server>-<scenario>[-post|-get].heapprofile; summarise with
// bench/alloc-summary.mjs),
// BENCH_PARLEY_DIST=dir (measure that build of Parley instead of dist/, e.g. to compare two builds),
// BENCH_PARLEY_MAIN=script / BENCH_BASELINE_MAIN=script (another server script in Parley's / the
// baseline's place, e.g. bench/nest-floor-server.mjs: NestJS + Fastify serving the baseline's handlers),
// BENCH_REUSE=1 (one server start per pair for all scenarios; the default with BENCH_QUICK=1,
// otherwise every scenario run gets fresh servers), BENCH_INTERLEAVE=0 (one server's whole run,
// then the other's, instead of the two taking turns in slices), BENCH_SLICES=n (slices per server
// in each measured window, default 10).
//
// The servers under test run pinned to CPU 1 (`taskset -c 1`); this load generator and
// redis-server run on CPU 0. All traffic goes to 127.0.0.1. Every loop is bounded in
// count and in time; only processes started here are stopped, by their PID.

import { spawn, spawnSync } from 'node:child_process';
import { cpSync, createWriteStream, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { WebSocket } from 'ws';
import { freePort, redisCmd, sleep, startRedis as startPrivateRedis, stopProcess } from './support.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
/** The Parley build under test: dist/, or another build to compare (BENCH_PARLEY_DIST, e.g. one from `tsc --outDir`). */
const DIST = process.env.BENCH_PARLEY_DIST ? resolve(process.env.BENCH_PARLEY_DIST) : join(ROOT, 'dist');
/** Parley runs from a private snapshot of dist/ (taken at start), so a rebuild during the run cannot break it. */
const SNAPSHOT = join(ROOT, 'bench', `.dist-snapshot-${process.pid}`);
/** Another server script in Parley's place (BENCH_PARLEY_MAIN, e.g. bench/nest-floor-server.mjs): no snapshot, no build. */
const PARLEY_SCRIPT = process.env.BENCH_PARLEY_MAIN ? resolve(process.env.BENCH_PARLEY_MAIN) : '';
const MAIN = PARLEY_SCRIPT || join(SNAPSHOT, 'main.js');
/** The comparison server: the baseline, or another server script in its place (BENCH_BASELINE_MAIN). */
const BASELINE = process.env.BENCH_BASELINE_MAIN
  ? resolve(process.env.BENCH_BASELINE_MAIN)
  : join(ROOT, 'bench', 'baseline-server.mjs');

const envInt = (name, dflt) => {
  const v = process.env[name];
  if (v === undefined || v.trim() === '') return dflt;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number (got ${v})`);
  return n;
};

const QUICK = process.env.BENCH_QUICK === '1';
const PAIRS = Math.floor(envInt('BENCH_PAIRS', QUICK ? 1 : 3));
const SECONDS = envInt('BENCH_SECONDS', QUICK ? 1 : 5);
const ALL_SCENARIOS = ['rest', 'fanout', 'rooms', 'saturation', 'idle'];
const SCENARIOS = (process.env.BENCH_SCENARIOS || ALL_SCENARIOS.join(','))
  .split(',')
  .map((s) => s.trim())
  .filter((s) => s !== '');
const SERVERS = (process.env.BENCH_SERVERS || 'parley,baseline').split(',').map((s) => s.trim());
const PROF_DIR = process.env.BENCH_PROF_DIR || '';
/** Which servers run with --cpu-prof when BENCH_PROF_DIR is set (profiles go to <dir>/<server>/). */
const PROF_SERVERS = (process.env.BENCH_PROF_SERVERS || 'parley').split(',').map((s) => s.trim());
/** Extra node flags for both servers under test (experiments: --trace-gc, --trace-opt, ...). */
const NODE_FLAGS = (process.env.BENCH_NODE_FLAGS ?? '').split(/\s+/).filter((f) => f !== '');
const SERVER_LOG_DIR = process.env.BENCH_SERVER_LOG_DIR || '';
const ALLOC_DIR = process.env.BENCH_ALLOC_DIR || '';
/** Bytes between two allocation samples with BENCH_ALLOC_DIR (V8's default is 32 KiB). */
const ALLOC_INTERVAL = 4096;
let serverRuns = 0;
let allocRuns = 0;
/**
 * BENCH_INTERLEAVE=1 (default): both servers of a pair run at once and take turns in
 * slices of each measured window (sliceOrder); 0: one server's whole run, then the other's.
 */
const INTERLEAVE = (process.env.BENCH_INTERLEAVE ?? '1') === '1';
/** Slices per server per measured window (BENCH_SLICES; 1 without interleaving). */
const SLICES = Math.max(1, Math.floor(envInt('BENCH_SLICES', INTERLEAVE ? (QUICK ? 2 : 10) : 1)));
const REUSE = (process.env.BENCH_REUSE ?? (QUICK ? '1' : '0')) === '1';
/** Other CPU load (% of one core) above which a run counts as disturbed. */
const MAX_BG = envInt('BENCH_MAX_BG', 25);
/** Before each run, wait up to this long for other load to drop below MAX_BG. */
const QUIET_WAIT_S = Number(process.env.BENCH_QUIET_WAIT ?? (QUICK ? 0 : 20));
/** A disturbed run is repeated up to this many times (the least disturbed attempt is kept). */
const RETRIES = Number(process.env.BENCH_RETRIES ?? (QUICK ? 0 : 2));
/**
 * Time each scenario may spend on quiet waits and repeated runs, and a cap on the
 * elapsed time after which there are none at all: the whole bench stays bounded.
 */
const SCENARIO_EXTRA_MS = envInt('BENCH_RETRY_BUDGET_S', 35) * 1000;
const EXTRA_CUTOFF_MS = 8 * 60_000;
const BENCH_START = performance.now();
const extraSpent = new Map();
const extraLeft = (s) =>
  performance.now() - BENCH_START < EXTRA_CUTOFF_MS && (extraSpent.get(s) ?? 0) < SCENARIO_EXTRA_MS;
const spendExtra = (s, ms) => extraSpent.set(s, (extraSpent.get(s) ?? 0) + ms);
for (const s of SCENARIOS) if (!ALL_SCENARIOS.includes(s)) throw new Error(`unknown scenario ${s}`);
for (const s of SERVERS) if (s !== 'parley' && s !== 'baseline') throw new Error(`unknown server ${s}`);

const C = {
  ms: SECONDS * 1000,
  warmMs: envInt('BENCH_WARM_S', QUICK ? 0.3 : 5) * 1000,
  drainMs: QUICK ? 5000 : 10000,
  restConcurrency: 32,
  /** Offered load of the fixed-rate REST runs: below either server's saturation, the same for both. */
  restRate: envInt('BENCH_REST_RATE', 3000),
  fanSockets: QUICK ? 100 : 500,
  fanUsers: QUICK ? 20 : 100,
  fanRate: 50,
  roomsN: QUICK ? 20 : 100,
  roomsSockets: 10,
  roomsRate: QUICK ? 100 : 500,
  satSockets: QUICK ? 100 : 200,
  satSenders: Math.floor(envInt('BENCH_SAT_SENDERS', 32)),
  idleN: QUICK ? 500 : 5000,
  idlePerRoom: 50,
  settleMs: QUICK ? 500 : 2000,
};

// ------------------------------------------------------------------------------ process setup

const CLK_TCK = (() => {
  const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
  const n = Number(r.stdout?.trim());
  return Number.isFinite(n) && n > 0 ? n : 100;
})();
const NCPU = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
const HAS_TASKSET = !spawnSync('taskset', ['--version']).error;
const PIN = HAS_TASKSET && NCPU >= 2;
const notes = [];

function openFileLimit() {
  try {
    const m = /Max open files\s+(\S+)\s+(\S+)/.exec(readFileSync('/proc/self/limits', 'utf8'));
    const n = (s) => (s === 'unlimited' ? Infinity : Number(s));
    return m ? { soft: n(m[1]), hard: n(m[2]) } : { soft: 1024, hard: 1024 };
  } catch {
    return { soft: 1024, hard: 1024 };
  }
}

// 5,000 idle sockets: both ends live in different processes (server and this one), each
// needs ~N descriptors plus slack; raise the soft limit by re-executing under bash.
{
  const need = C.idleN + 2000;
  const { soft, hard } = openFileLimit();
  if (soft < Math.max(need, 12000) && process.env.BENCH_REEXEC !== '1' && hard >= need) {
    const target = Math.min(hard, 65535);
    const r = spawnSync(
      'bash',
      ['-c', `ulimit -n ${target} && exec "$0" "$@"`, process.execPath, ...process.argv.slice(1)],
      { stdio: 'inherit', env: { ...process.env, BENCH_REEXEC: '1' } },
    );
    process.exit(r.status ?? 1);
  }
  if (soft < need) {
    const scaled = Math.max(100, Math.floor((soft - 1000) / 100) * 100);
    notes.push(`open-file limit ${soft} < ${need}: idle scenario scaled down from ${C.idleN} to ${scaled} sockets`);
    C.idleN = scaled;
  }
}

if (PIN) {
  // The load generator (all its threads) on CPU 0; servers under test go to CPU 1.
  spawnSync('taskset', ['-a', '-p', '-c', '0', String(process.pid)], { stdio: 'ignore' });
} else {
  notes.push(HAS_TASKSET ? `only ${NCPU} CPU: no pinning` : 'taskset not found: no pinning');
}

/** Processes started here, by PID, so that an abort stops exactly those. */
const started = new Set();
const cleanups = [];
function emergencyCleanup() {
  for (const child of started) {
    try {
      process.kill(child.pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  for (const fn of cleanups) {
    try {
      fn();
    } catch {
      /* best effort */
    }
  }
}
process.on('SIGINT', () => {
  emergencyCleanup();
  process.exit(130);
});
process.on('SIGTERM', () => {
  emergencyCleanup();
  process.exit(143);
});
// Whole-run watchdog: nothing may hang forever.
const WATCHDOG_MS = (QUICK ? 5 : 30) * 60_000 + PAIRS * 60_000;
setTimeout(() => {
  console.error(`bench: watchdog (${WATCHDOG_MS / 60000} min) expired, aborting`);
  emergencyCleanup();
  process.exit(2);
}, WATCHDOG_MS).unref();

// ------------------------------------------------------------------------------ helpers

/**
 * utime + stime of a process in µs (all its threads), from /proc/<pid>/stat; with `tid`, of that one
 * thread (/proc/<pid>/task/<tid>/stat; the main thread's tid is the pid). Counted in clock ticks: the
 * kernel charges a whole tick (10 ms) to whatever runs when it fires, so a short window is coarse.
 */
function tickCpuUs(pid, tid) {
  const s = readFileSync(tid === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`, 'utf8');
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1e6) / CLK_TCK;
}

/** Whether the kernel has /proc/<pid>/task/<tid>/schedstat (CONFIG_SCHED_INFO): CPU time in ns. */
const SCHEDSTAT = existsSync(`/proc/${process.pid}/task/${process.pid}/schedstat`);

/** Time on CPU in µs of one thread, exactly (the scheduler's own count, user and kernel together). */
const threadRunUs = (pid, tid) => Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ', 1)[0]) / 1000;

/**
 * CPU time of a process in µs, all its threads or one (`tid`), from the scheduler's
 * exact run time (/proc/<pid>/task/<tid>/schedstat, ns) where the kernel has it, else
 * from the ticks of /proc/<pid>/stat. With ticks, one 0.5 s slice of 100-room traffic
 * (≈50 ms of server CPU) was off by up to a tick, 20 %; the run time has no such step.
 * A thread that ends between two readings takes its time with it (Node's and V8's
 * helper threads live as long as the process).
 */
function cpuUs(pid, tid) {
  if (!SCHEDSTAT) return tickCpuUs(pid, tid);
  if (tid !== undefined) return threadRunUs(pid, tid);
  let us = 0;
  for (const t of readdirSync(`/proc/${pid}/task`)) {
    try {
      us += threadRunUs(pid, t);
    } catch {
      // the thread ended while we read
    }
  }
  return us;
}

/**
 * CPU µs of the server under test, all threads and its main thread alone (the rest is V8's helper
 * threads: parallel GC and the optimising compiler). (utime and stime are not shown apart: the
 * kernel charges them by the tick, and their split moved by 2x between runs of the same server.)
 */
const serverCpu = (pid) => ({ all: cpuUs(pid), main: cpuUs(pid, pid) });
const cpuSince = (pid, c0) => {
  const c = serverCpu(pid);
  return { all: c.all - c0.all, main: c.main - c0.main };
};

/** Resident set size in bytes, from /proc/<pid>/status VmRSS. */
function rssBytes(pid) {
  const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
}

/** Busy CPU time of the whole machine in µs (all CPUs), from /proc/stat. */
function systemBusyUs() {
  const f = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0].trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal
  return ((f[0] + f[1] + f[2] + f[5] + f[6] + (f[7] || 0)) * 1e6) / CLK_TCK;
}

/**
 * CPU used by everything except the server under test, this load generator and our
 * redis-server during a measurement, in % of one core: other work on the machine
 * that competes with the benchmark (a noise indicator; should be near 0).
 */
function cpuMeter(srvPid) {
  // Ticks, as /proc/stat counts the machine's busy time.
  const ours = () => (srvPid === process.pid ? 0 : tickCpuUs(srvPid)) + (REDIS_PID ? tickCpuUs(REDIS_PID) : 0);
  const s0 = systemBusyUs();
  const o0 = ours();
  const l0 = process.cpuUsage();
  const t0 = performance.now();
  return () => {
    const lg = process.cpuUsage(l0);
    const other = systemBusyUs() - s0 - (ours() - o0) - (lg.user + lg.system);
    return Math.max(0, (other / 1000 / (performance.now() - t0)) * 100);
  };
}
let REDIS_PID = 0;

/**
 * Measurement windows on CLOCK_MONOTONIC (µs), the clock of V8's .cpuprofile
 * timestamps: with BENCH_PROF_DIR they are written to <dir>/windows.json so that
 * bench/profile-summary.mjs can count only the samples taken while measuring.
 */
const windows = [];
let currentScenario = '';
const monoUs = () => Number(process.hrtime.bigint() / 1000n);
function markWindow(name, startUs) {
  if (!PROF_DIR) return;
  windows.push({ name: `${currentScenario}${name ? `:${name}` : ''}`, startUs, endUs: monoUs() });
  mkdirSync(PROF_DIR, { recursive: true });
  writeFileSync(join(PROF_DIR, 'windows.json'), JSON.stringify(windows, null, 1));
}

/** Other CPU load over `ms` (% of one core) while no server is running. */
async function otherLoad(ms = 1000) {
  const m = cpuMeter(process.pid);
  await sleep(ms);
  return m();
}

/** Waits (bounded) until the rest of the machine is quiet enough to measure. */
async function waitQuiet(s) {
  if (QUIET_WAIT_S <= 0 || !extraLeft(s)) return;
  const t0 = performance.now();
  const deadline = t0 + Math.min(QUIET_WAIT_S * 1000, SCENARIO_EXTRA_MS - (extraSpent.get(s) ?? 0));
  let bg = await otherLoad(500);
  if (bg <= MAX_BG) return;
  while (bg > MAX_BG && performance.now() < deadline) bg = await otherLoad(1000);
  const waited = performance.now() - t0;
  spendExtra(s, waited - 500);
  if (bg > MAX_BG) {
    console.log(`  (machine still busy: other CPU ${bg.toFixed(0)}% after ${(waited / 1000).toFixed(0)} s; measuring anyway)`);
  }
}

/** The most other-CPU a run saw (0 when it has no such figure). */
const disturbance = (r) =>
  r ? Math.max(0, ...Object.entries(r).filter(([k]) => k.endsWith('bg_pct')).map(([, v]) => v)) : Infinity;

function pinned(cpu, cmd, args) {
  return PIN ? ['taskset', ['-c', String(cpu), cmd, ...args]] : [cmd, args];
}

async function stopChild(child, graceMs) {
  await stopProcess(child, graceMs);
  started.delete(child);
}

/** The bench's redis-server, pinned with the load generator; stopped and its dir removed on an abort too. */
async function startRedis() {
  const redis = await startPrivateRedis({
    wrap: (cmd, args) => pinned(0, cmd, args),
    extraArgs: ['--maxclients', '20000', '--loglevel', 'warning'],
    onSpawn: (child, dir) => {
      started.add(child);
      cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    },
  });
  REDIS_PID = redis.pid;
  return {
    ...redis,
    async stop() {
      await redis.stop();
      started.delete(redis.child);
    },
  };
}

// ------------------------------------------------------------------------------ servers under test

async function startServer(kind, redis, { inspect = false, label = '' } = {}) {
  const port = await freePort();
  const env = {
    PATH: process.env.PATH ?? '',
    NODE_ENV: 'production',
    HOST: '127.0.0.1',
    PORT: String(port),
    REDIS_URL: redis.url,
    LOG_LEVEL: 'error',
    RATE_LIMIT_LIMIT: '100000000',
    WS_RATE_LIMIT: '1000000',
    HISTORY_LIMIT: '50',
  };
  const flags = [...NODE_FLAGS, ...(inspect ? ['--inspect=127.0.0.1:0'] : [])];
  if (PROF_DIR && PROF_SERVERS.includes(kind)) flags.push('--cpu-prof', `--cpu-prof-dir=${join(PROF_DIR, kind)}`);
  const nodeArgs = [...flags, kind === 'parley' ? MAIN : BASELINE];
  const [cmd, args] = pinned(1, process.execPath, nodeArgs);
  const child = spawn(cmd, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  started.add(child);
  let out = '';
  const keep = (d) => {
    out += d.toString();
    if (out.length > 20000) out = out.slice(-10000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  if (SERVER_LOG_DIR) {
    mkdirSync(SERVER_LOG_DIR, { recursive: true });
    const log = createWriteStream(join(SERVER_LOG_DIR, `${++serverRuns}-${kind}-${label}.log`));
    child.stdout.pipe(log);
    child.stderr.pipe(log);
  }
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${kind} exited during start-up (${child.exitCode}):\n${out}`);
    try {
      const r = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(1000) });
      if (r.status === 200) break;
    } catch {
      /* not up yet */
    }
    if (Date.now() > deadline) {
      await stopChild(child, 1000);
      throw new Error(`${kind} did not answer /health within 30 s:\n${out}`);
    }
    await sleep(100);
  }
  let inspectorUrl;
  if (inspect) {
    const m = /ws:\/\/127\.0\.0\.1:\d+\/[0-9a-f-]+/.exec(out);
    if (!m) throw new Error(`${kind}: no inspector URL in its output:\n${out}`);
    inspectorUrl = m[0];
  }
  return {
    kind,
    label,
    port,
    pid: child.pid,
    inspectorUrl,
    output: () => out,
    stop: () => stopChild(child, PROF_DIR && PROF_SERVERS.includes(kind) ? 20_000 : 8000),
  };
}

async function api(port, method, path, body) {
  const r = await fetch(`http://127.0.0.1:${port}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await r.text();
  if (r.status !== 200) throw new Error(`${method} ${path} -> ${r.status} ${text}`);
  return JSON.parse(text);
}

async function inBatches(n, concurrency, fn) {
  const out = new Array(n);
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      out[i] = await fn(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, concurrency) }, worker));
  return out;
}

const runTag = () => randomBytes(4).toString('hex');

async function createRooms(port, n) {
  return inBatches(n, 16, (i) => api(port, 'POST', '/api/v1/rooms', { name: `bench room ${i}` }));
}

async function createUsers(port, n) {
  const tag = runTag();
  return inBatches(n, 16, (i) => api(port, 'POST', '/api/v1/users', { username: `b${tag}_${i}` }));
}

// ------------------------------------------------------------------------------ HTTP load loop

/**
 * Fixed-concurrency keep-alive HTTP/1.1 load: `concurrency` raw TCP connections, each
 * with one request in flight, sending the same pre-built request until `durationMs`
 * has passed or `maxRequests` were issued. Responses must carry Content-Length.
 * With `rate` (requests/s over all connections) each connection sends on a fixed
 * schedule instead of as soon as its answer came (staggered; a late answer sends the
 * next request at once, so the offered rate is kept unless the server saturates).
 */
function httpLoad(port, request, { concurrency, durationMs, maxRequests, rate = 0 }) {
  return new Promise((resolve) => {
    const start = performance.now();
    let issued = 0;
    let ok = 0;
    let bad = 0;
    let errors = 0;
    let stop = false;
    let open = concurrency;
    const sockets = [];
    const timer = setTimeout(() => (stop = true), durationMs);
    const hard = setTimeout(() => {
      errors++;
      for (const s of sockets) s.destroy();
    }, durationMs + 15_000);
    const finished = () => {
      if (--open > 0) return;
      clearTimeout(timer);
      clearTimeout(hard);
      resolve({ ok, bad, errors, elapsedMs: performance.now() - start });
    };
    for (let i = 0; i < concurrency; i++) {
      const s = net.connect(port, '127.0.0.1');
      sockets.push(s);
      s.setNoDelay(true);
      let buf = null;
      const interval = rate > 0 ? (concurrency / rate) * 1000 : 0;
      let due = start + (interval * i) / concurrency;
      const send = () => {
        if (stop || issued >= maxRequests) {
          s.destroy();
          return;
        }
        issued++;
        s.write(request);
      };
      const next = () => {
        if (interval === 0) return send();
        const wait = due - performance.now();
        due += interval;
        if (wait <= 0) send();
        else setTimeout(send, wait);
      };
      s.on('connect', next);
      s.on('data', (chunk) => {
        buf = buf ? Buffer.concat([buf, chunk]) : chunk;
        for (;;) {
          const he = buf.indexOf('\r\n\r\n');
          if (he < 0) return;
          const head = buf.toString('latin1', 0, he);
          const m = /\r\ncontent-length:\s*(\d+)/i.exec(head);
          if (!m) {
            errors++;
            s.destroy();
            return;
          }
          const total = he + 4 + Number(m[1]);
          if (buf.length < total) return;
          if (head.startsWith('HTTP/1.1 200')) ok++;
          else bad++;
          buf = buf.length === total ? null : buf.subarray(total);
          next();
          if (!buf) return;
        }
      });
      s.on('error', () => errors++);
      s.once('close', finished);
    }
  });
}

// ------------------------------------------------------------------------------ WebSocket client

const CONTENT_KEY = Buffer.from('"content":"');
const HIST_BINS = 1_000_000; // 10 µs bins, 10 s
/** Measurement state of the sockets to one server: latency histogram, frame and close counts. */
const newMeter = () => ({
  hist: new Uint32Array(HIST_BINS),
  over: [],
  samples: 0,
  errorFrames: 0,
  otherFrames: 0,
  lastFrameAt: 0,
  unexpectedCloses: 0,
  reset() {
    this.hist.fill(0);
    this.over = [];
    this.samples = 0;
    this.errorFrames = 0;
    this.otherFrames = 0;
  },
  record(ms) {
    const b = Math.floor(ms * 100);
    if (b >= 0 && b < HIST_BINS) this.hist[b]++;
    else this.over.push(ms);
    this.samples++;
  },
  pct(p) {
    if (this.samples === 0) return NaN;
    const rank = Math.ceil((p / 100) * this.samples);
    let acc = 0;
    for (let i = 0; i < HIST_BINS; i++) {
      acc += this.hist[i];
      if (acc >= rank) return (i + 0.5) / 100;
    }
    const sorted = [...this.over].sort((a, b) => a - b);
    return sorted[Math.min(sorted.length - 1, rank - acc - 1)];
  },
});

/**
 * A minimal WebSocket client on a raw TCP socket (RFC 6455): far cheaper per frame
 * than a full client, so the load generator keeps up with the server under test.
 * Sends masked text frames (zero mask key); parses unfragmented server frames.
 */
class Client {
  constructor(port, path, room, meter) {
    this.m = meter;
    this.port = port;
    this.path = path;
    this.room = room;
    this.recv = 0; // message frames received while measuring
    this.lastId = '';
    this.orderErrors = 0;
    this.history = false;
    this.senderIdx = -1;
    this.onAck = null;
    this.closed = false;
    this.closeCode = 0;
    this.rest = null;
  }

  connect(timeoutMs = 15_000) {
    return new Promise((resolve, reject) => {
      const s = net.connect(this.port, '127.0.0.1');
      this.socket = s;
      s.setNoDelay(true);
      let upgraded = false;
      let head = null;
      const timer = setTimeout(() => {
        s.destroy();
        reject(new Error(`connect ${this.path}: no history frame within ${timeoutMs} ms`));
      }, timeoutMs);
      this.onHistory = () => {
        clearTimeout(timer);
        resolve(this);
      };
      s.on('connect', () => {
        s.write(
          `GET ${this.path} HTTP/1.1\r\nHost: 127.0.0.1:${this.port}\r\nUpgrade: websocket\r\n` +
            `Connection: Upgrade\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\n` +
            'Sec-WebSocket-Version: 13\r\n\r\n',
        );
      });
      s.on('data', (chunk) => {
        if (upgraded) return this.onData(chunk);
        head = head ? Buffer.concat([head, chunk]) : chunk;
        const he = head.indexOf('\r\n\r\n');
        if (he < 0) return;
        if (!head.toString('latin1', 0, 12).startsWith('HTTP/1.1 101')) {
          clearTimeout(timer);
          s.destroy();
          return reject(new Error(`upgrade refused: ${head.toString('latin1', 0, he).split('\r\n')[0]}`));
        }
        upgraded = true;
        if (head.length > he + 4) this.onData(head.subarray(he + 4));
        head = null;
      });
      s.on('error', () => undefined);
      s.on('close', () => {
        if (!this.closed && this.history && !this.closing) this.m.unexpectedCloses++;
        this.closed = true;
        clearTimeout(timer);
        if (!this.history) reject(new Error(`connection ${this.path} closed before its history frame (${this.closeCode})`));
      });
    });
  }

  onData(chunk) {
    let buf = this.rest ? Buffer.concat([this.rest, chunk]) : chunk;
    let off = 0;
    for (;;) {
      if (buf.length - off < 2) break;
      const b0 = buf[off];
      const b1 = buf[off + 1];
      let len = b1 & 0x7f;
      let hdr = 2;
      if (len === 126) {
        if (buf.length - off < 4) break;
        len = buf.readUInt16BE(off + 2);
        hdr = 4;
      } else if (len === 127) {
        if (buf.length - off < 10) break;
        len = Number(buf.readBigUInt64BE(off + 2));
        hdr = 10;
      }
      if (b1 & 0x80) hdr += 4;
      if (buf.length - off < hdr + len) break;
      const payload = buf.subarray(off + hdr, off + hdr + len);
      off += hdr + len;
      const opcode = b0 & 0x0f;
      if (opcode === 1) this.onText(payload);
      else if (opcode === 8) {
        this.closeCode = len >= 2 ? payload.readUInt16BE(0) : 1005;
        this.socket.end();
      } else if (opcode === 9) this.writeFrame(0x8a, Buffer.from(payload));
    }
    this.rest = off < buf.length ? buf.subarray(off) : null;
  }

  onText(p) {
    this.m.lastFrameAt = performance.now();
    // A stored message frame starts with {"id":"
    if (p[2] === 0x69 && p[3] === 0x64 && p[1] === 0x22) {
      const idEnd = p.indexOf(0x22, 7);
      const id = p.toString('latin1', 7, idEnd);
      if (id <= this.lastId) this.orderErrors++;
      this.lastId = id;
      this.recv++;
      const c = p.indexOf(CONTENT_KEY, idEnd);
      if (c < 0) return;
      const cs = c + CONTENT_KEY.length;
      const bar = p.indexOf(0x7c, cs);
      if (bar < 0) return;
      this.m.record(performance.now() - Number(p.toString('latin1', cs, bar)));
      if (this.senderIdx >= 0 && this.onAck) {
        const tag = Number(p.toString('latin1', bar + 1, p.indexOf(0x22, bar)));
        if (tag === this.senderIdx) this.onAck();
      }
      return;
    }
    if (p.toString('latin1', 0, 17) === '{"type":"history"') {
      this.history = true;
      this.onHistory?.();
    } else if (p.toString('latin1', 0, 15) === '{"type":"error"') {
      this.m.errorFrames++;
    } else {
      this.m.otherFrames++;
    }
  }

  writeFrame(opcodeByte, payload) {
    if (this.closed) return;
    const len = payload.length;
    let hdr;
    if (len < 126) {
      hdr = Buffer.alloc(6);
      hdr[1] = 0x80 | len;
    } else if (len < 65536) {
      hdr = Buffer.alloc(8);
      hdr[1] = 0x80 | 126;
      hdr.writeUInt16BE(len, 2);
    } else {
      hdr = Buffer.alloc(14);
      hdr[1] = 0x80 | 127;
      hdr.writeBigUInt64BE(BigInt(len), 2);
    }
    hdr[0] = opcodeByte; // the mask key stays 0: the payload goes out as is
    this.socket.write(Buffer.concat([hdr, payload]));
  }

  sendText(text) {
    this.writeFrame(0x81, Buffer.from(text));
  }

  close() {
    if (this.closed) return;
    this.closing = true;
    const code = Buffer.alloc(2);
    code.writeUInt16BE(1000, 0);
    this.writeFrame(0x88, code);
    this.socket.end();
    setTimeout(() => this.socket.destroy(), 2000).unref();
  }
}

const wsPath = (roomId, userId) => `/api/v1/ws/${encodeURIComponent(roomId)}/${encodeURIComponent(userId)}`;

async function connectAll(port, specs, meter, concurrency = 64) {
  const clients = specs.map((s) => new Client(port, wsPath(s.roomId, s.userId), s.room, meter));
  let failed = 0;
  let firstError = '';
  await inBatches(clients.length, concurrency, (i) =>
    clients[i].connect().catch((e) => {
      failed++;
      firstError ||= e.message;
    }),
  );
  if (failed > 0) throw new Error(`${failed}/${clients.length} sockets failed to open: ${firstError}`);
  return clients;
}

async function closeAll(clients, ms = 5000) {
  for (const c of clients) c.close();
  const deadline = Date.now() + ms;
  while (clients.some((c) => !c.closed) && Date.now() < deadline) await sleep(20);
  for (const c of clients) if (!c.closed) c.socket.destroy();
}

/** Waits until no frame arrived for `quietMs` (bounded by `maxMs`). */
async function quiet(meter, quietMs = 300, maxMs = 20_000) {
  const deadline = performance.now() + maxMs;
  while (performance.now() - meter.lastFrameAt < quietMs && performance.now() < deadline) await sleep(50);
}

const textFrame = (tag) => `{"type":"text","content":"${performance.now().toFixed(3)}|${tag}"}`;

/** Sends `rate` msg/s in total for `ms`, round-robin over rooms and their sockets. */
function sendAtRate(byRoom, rate, ms) {
  const sentPerRoom = new Array(byRoom.length).fill(0);
  const max = Math.ceil((rate * ms) / 1000);
  return new Promise((resolve) => {
    const start = performance.now();
    let sent = 0;
    const iv = setInterval(() => {
      const el = performance.now() - start;
      const target = Math.min(max, Math.floor((el * rate) / 1000) + 1);
      while (sent < target) {
        const r = sent % byRoom.length;
        const room = byRoom[r];
        room[Math.floor(sent / byRoom.length) % room.length].sendText(textFrame(0));
        sentPerRoom[r]++;
        sent++;
      }
      if (sent >= max || el >= ms) {
        clearInterval(iv);
        resolve(sentPerRoom);
      }
    }, 1);
  });
}

/** Waits until every socket got every message sent to its room (bounded). Returns ms waited. */
async function drain(clients, sentPerRoom, maxMs) {
  const t0 = performance.now();
  const deadline = t0 + maxMs;
  while (performance.now() < deadline) {
    if (clients.every((c) => c.recv >= sentPerRoom[c.room] || c.closed)) break;
    await sleep(5);
  }
  return performance.now() - t0;
}

function resetCounters(clients, meter) {
  for (const c of clients) {
    c.recv = 0;
    c.orderErrors = 0;
  }
  meter.reset();
}

function tally(clients, sentPerRoom) {
  let expected = 0;
  let delivered = 0;
  let orderErrors = 0;
  let missing = 0;
  for (const c of clients) {
    const want = sentPerRoom[c.room];
    expected += want;
    delivered += c.recv;
    orderErrors += c.orderErrors;
    if (c.recv < want) missing += want - c.recv;
  }
  return { expected, delivered, missing, orderErrors };
}

// ------------------------------------------------------------------------------ inspector

/**
 * A DevTools-protocol session to the server (started with --inspect on 127.0.0.1), used
 * only by the idle scenario to force full GCs and read the V8 heap, so that garbage
 * left over from start-up or from connecting does not skew the memory figures.
 */
async function inspectorSession(url) {
  const ws = new WebSocket(url, { perMessageDeflate: false });
  await new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('inspector connect timed out')), 10_000);
    ws.once('open', () => (clearTimeout(t), resolve()));
    ws.once('error', (e) => (clearTimeout(t), reject(e)));
  });
  let id = 0;
  const pending = new Map();
  ws.on('message', (data) => {
    const msg = JSON.parse(data.toString());
    const p = pending.get(msg.id);
    if (!p) return;
    pending.delete(msg.id);
    if (msg.error) p.reject(new Error(msg.error.message));
    else p.resolve(msg.result);
  });
  const call = (method, params = {}) =>
    new Promise((resolve, reject) => {
      const myId = ++id;
      const t = setTimeout(() => {
        pending.delete(myId);
        reject(new Error(`inspector ${method} timed out`));
      }, 30_000);
      pending.set(myId, {
        resolve: (v) => (clearTimeout(t), resolve(v)),
        reject: (e) => (clearTimeout(t), reject(e)),
      });
      ws.send(JSON.stringify({ id: myId, method, params }));
    });
  return {
    /** Two full GCs, then the V8 heap bytes in use. */
    async gcAndHeap() {
      await call('HeapProfiler.collectGarbage');
      await call('HeapProfiler.collectGarbage');
      const { usedSize } = await call('Runtime.getHeapUsage');
      return usedSize;
    },
    call,
    close: () => ws.terminate(),
  };
}

/**
 * BENCH_ALLOC_DIR: V8's sampling heap profiler over one measured window, keeping the
 * samples of objects the GC has already collected (by default only live ones stay), so
 * the profile is everything allocated in the window, by allocation site. The sampling
 * itself costs CPU: the figures of such a run are not comparable with other runs.
 */
async function allocSampler(srv, part = '') {
  const insp = await inspectorSession(srv.inspectorUrl);
  await insp.call('HeapProfiler.startSampling', {
    samplingInterval: ALLOC_INTERVAL,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: true,
  });
  return {
    async stop(counts) {
      try {
        const { profile } = await insp.call('HeapProfiler.stopSampling');
        mkdirSync(ALLOC_DIR, { recursive: true });
        const file = join(ALLOC_DIR, `${++allocRuns}-${srv.kind}-${srv.label}${part ? `-${part}` : ''}.heapprofile`);
        writeFileSync(file, JSON.stringify({ ...profile, parleyBench: { ...counts, interval: ALLOC_INTERVAL } }));
      } finally {
        insp.close();
      }
    },
  };
}

// ------------------------------------------------------------------------------ scenarios

/**
 * The measured window of one figure, cut into `SLICES` slices per server. With one server
 * the slices simply follow each other. With both (BENCH_INTERLEAVE, the default) the two
 * servers, both running, take turns slice by slice in the order A B B A A B …, so a change
 * in the machine's speed during the window (on this shared VM the same server's CPU per
 * request moves by up to 2x from one minute to the next) weighs on both alike, and a
 * steady drift cancels out. Each server's figure sums its own slices.
 */
const sliceOrder = (sides, i) => (i % 2 === 0 ? sides : [...sides].reverse());

/**
 * One measured window for every side (`{ srv }`, one per server): `run(side, ms)` does one
 * slice's traffic and resolves with the counts to add up. Around each slice the server's
 * CPU (all threads, main thread) and the other load on the machine are read. Leaves the
 * sums in `side.acc`: `all`, `main` (CPU µs), `bg` (the most other CPU %) and `run`'s counts.
 */
async function measureSlices(sides, window, run) {
  for (const side of sides) side.acc = { all: 0, main: 0, bg: 0 };
  const ms = C.ms / SLICES;
  for (let i = 0; i < SLICES; i++) {
    for (const side of sliceOrder(sides, i)) {
      const { srv, acc } = side;
      const bg = cpuMeter(srv.pid);
      const cpu0 = serverCpu(srv.pid);
      const w0 = monoUs();
      const counts = await run(side, ms);
      const cpu = cpuSince(srv.pid, cpu0);
      markWindow(`${window}@${srv.kind}`, w0);
      acc.bg = Math.max(acc.bg, bg());
      acc.all += cpu.all;
      acc.main += cpu.main;
      for (const [k, v] of Object.entries(counts)) acc[k] = (acc[k] ?? 0) + v;
    }
  }
}

/** (a) REST: POST a message and GET the last 50, fixed concurrency, keep-alive. */
async function scenarioRest(srvs) {
  const sides = [];
  for (const srv of srvs) {
    const [room] = await createRooms(srv.port, 1);
    const [user] = await createUsers(srv.port, 1);
    const body = JSON.stringify({ content: 'benchmark message', user_id: user.id, type: 'text' });
    const host = `Host: 127.0.0.1:${srv.port}\r\n`;
    const post = Buffer.from(
      `POST /api/v1/rooms/${room.id}/messages HTTP/1.1\r\n${host}Content-Type: application/json\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
    const get = Buffer.from(`GET /api/v1/rooms/${room.id}/messages?limit=50 HTTP/1.1\r\n${host}\r\n`);
    sides.push({ srv, room, reqs: { post, get }, out: {} });
  }
  const opts = { concurrency: C.restConcurrency, maxRequests: 5_000_000 };
  // Saturated (32 in flight, as fast as the server answers), then at a fixed offered rate.
  for (const [name, kind, rate] of [
    ['post', 'post', 0],
    ['get', 'get', 0],
    ['post_fixed', 'post', C.restRate],
    ['get_fixed', 'get', C.restRate],
  ]) {
    for (const side of sides) {
      await httpLoad(side.srv.port, side.reqs[kind], { ...opts, rate, durationMs: C.warmMs });
      side.alloc = ALLOC_DIR && rate === 0 ? await allocSampler(side.srv, name) : undefined;
    }
    await measureSlices(sides, name.replace('_fixed', ':fixed'), async (side, ms) => {
      const r = await httpLoad(side.srv.port, side.reqs[kind], { ...opts, rate, durationMs: ms });
      return { ok: r.ok, bad: r.bad, errors: r.errors, ms: r.elapsedMs };
    });
    for (const { acc, alloc, out } of sides) {
      const n = acc.ok + acc.bad;
      await alloc?.stop({ requests: n });
      out[`${name}_bg_pct`] = acc.bg;
      out[`${name}_rps`] = (acc.ok / acc.ms) * 1000;
      out[`${name}_cpu_us`] = acc.all / n;
      out[`${name}_main_cpu_us`] = acc.main / n;
      out[`${name}_errors`] = acc.bad + acc.errors;
    }
  }
  for (const { srv, room } of sides) {
    const page = await api(srv.port, 'GET', `/api/v1/rooms/${room.id}/messages?limit=50`);
    if (page.length !== 50) throw new Error(`${srv.kind}: GET messages returned ${page.length} messages, expected 50`);
  }
  return sides.map((side) => side.out);
}

/**
 * One fan-out measurement per server: `rooms` rooms x `perRoom` sockets on each.
 * `drive(byRoom, ms)` sends for `ms` and resolves with the messages sent per room; every
 * slice is drained before the next one starts, and CPU is read around sending + drain.
 */
async function fanoutRun(srvs, { rooms, perRoom, users, drive }) {
  const sides = [];
  try {
    for (const srv of srvs) {
      const roomList = await createRooms(srv.port, rooms);
      const userList = await createUsers(srv.port, users);
      const specs = [];
      for (let r = 0; r < rooms; r++) {
        for (let j = 0; j < perRoom; j++) {
          specs.push({ room: r, roomId: roomList[r].id, userId: userList[(r * perRoom + j) % users].id });
        }
      }
      const m = newMeter();
      const side = { srv, m, clients: [], sent: new Array(rooms).fill(0) };
      sides.push(side);
      side.clients = await connectAll(srv.port, specs, m);
      side.byRoom = Array.from({ length: rooms }, () => []);
      for (const c of side.clients) side.byRoom[c.room].push(c);
    }
    for (const side of sides) {
      await quiet(side.m);
      // Warm-up (not measured): same traffic, so both servers run JIT-compiled code.
      resetCounters(side.clients, side.m);
      const warmSent = await drive(side.byRoom, C.warmMs);
      await drain(side.clients, warmSent, C.drainMs);
      await quiet(side.m);
      resetCounters(side.clients, side.m);
      side.alloc = ALLOC_DIR ? await allocSampler(side.srv) : undefined;
    }
    await measureSlices(sides, '', async (side, ms) => {
      const lg0 = process.cpuUsage();
      const t0 = performance.now();
      const sent = await drive(side.byRoom, ms);
      const tSent = performance.now();
      for (let r = 0; r < rooms; r++) side.sent[r] += sent[r];
      await drain(side.clients, side.sent, C.drainMs);
      const lg = process.cpuUsage(lg0);
      return { ms: performance.now() - t0, sendMs: tSent - t0, lg: lg.user + lg.system };
    });
    const results = [];
    for (const { m, clients, sent, acc, alloc } of sides) {
      const t = tally(clients, sent);
      const msgs = sent.reduce((a, b) => a + b, 0);
      await alloc?.stop({ msgs, deliveries: t.delivered });
      results.push({
        msgs,
        deliveries: t.delivered,
        expected: t.expected,
        missing: t.missing,
        order_errors: t.orderErrors,
        error_frames: m.errorFrames,
        closes: m.unexpectedCloses,
        cpu_us_per_delivery: acc.all / Math.max(1, t.delivered),
        main_cpu_us_per_delivery: acc.main / Math.max(1, t.delivered),
        p50_ms: m.pct(50),
        p99_ms: m.pct(99),
        deliveries_per_s: (t.delivered / acc.ms) * 1000,
        msgs_per_s: (msgs / acc.sendMs) * 1000,
        server_core_pct: (acc.all / 1000 / acc.ms) * 100,
        loadgen_core_pct: (acc.lg / 1000 / acc.ms) * 100,
        bg_pct: acc.bg,
      });
    }
    return results;
  } finally {
    for (const side of sides) await closeAll(side.clients);
  }
}

/** (b) one room x 500 sockets, 50 msg/s. */
function scenarioFanout(srvs) {
  return fanoutRun(srvs, {
    rooms: 1,
    perRoom: C.fanSockets,
    users: C.fanUsers,
    drive: (byRoom, ms) => sendAtRate(byRoom, C.fanRate, ms),
  });
}

/** (c) 100 rooms x 10 sockets, 500 msg/s in total. */
function scenarioRooms(srvs) {
  return fanoutRun(srvs, {
    rooms: C.roomsN,
    perRoom: C.roomsSockets,
    users: C.roomsSockets,
    drive: (byRoom, ms) => sendAtRate(byRoom, C.roomsRate, ms),
  });
}

/**
 * Closed loop: `senders` sockets of the room each keep one message in flight and send
 * the next as soon as their own copy comes back (the server's ack is the broadcast).
 */
function saturate(byRoom, senders, ms) {
  const room = byRoom[0];
  const n = Math.min(senders, room.length);
  const max = 10_000_000;
  return new Promise((resolve) => {
    let sent = 0;
    let stop = false;
    let inflight = 0;
    let finished = false;
    const done = () => {
      if (finished) return;
      finished = true;
      for (let i = 0; i < n; i++) room[i].onAck = null;
      for (const c of room) c.senderIdx = -1;
      resolve([sent]);
    };
    for (let i = 0; i < n; i++) {
      const c = room[Math.floor((i * room.length) / n)];
      c.senderIdx = i;
      c.onAck = () => {
        inflight--;
        if (stop || sent >= max || c.closed) {
          if (inflight === 0) done();
          return;
        }
        inflight++;
        sent++;
        c.sendText(textFrame(i));
      };
    }
    setTimeout(() => {
      stop = true;
      // The in-flight ones are counted when they come back (or by the caller's drain).
      if (inflight === 0) done();
      else setTimeout(() => (inflight > 0 ? done() : undefined), C.drainMs).unref();
    }, ms);
    for (let i = 0; i < n; i++) {
      const c = room[Math.floor((i * room.length) / n)];
      inflight++;
      sent++;
      c.sendText(textFrame(i));
    }
  });
}

/** (d) one room x 200 sockets, senders as fast as the server acks. */
function scenarioSaturation(srvs) {
  return fanoutRun(srvs, {
    rooms: 1,
    perRoom: C.satSockets,
    users: C.satSockets,
    drive: (byRoom, ms) => saturate(byRoom, C.satSenders, ms),
  });
}

/** (e) N idle sockets: server RSS (and V8 heap) growth per connection, after forced GCs. */
async function scenarioIdle(srv) {
  const rooms = Math.max(1, Math.ceil(C.idleN / C.idlePerRoom));
  const roomList = await createRooms(srv.port, rooms);
  const userList = await createUsers(srv.port, rooms);
  const spec = (i) => ({ room: i % rooms, roomId: roomList[i % rooms].id, userId: userList[i % rooms].id });
  const insp = await inspectorSession(srv.inspectorUrl);
  try {
    // Warm-up: open and close a few hundred so code paths and pools exist before "before".
    const nWarm = Math.min(500, Math.ceil(C.idleN / 5));
    const meter = newMeter();
    const warm = await connectAll(srv.port, Array.from({ length: nWarm }, (_, i) => spec(i)), meter);
    await closeAll(warm);
    await sleep(C.settleMs);
    const heap0 = await insp.gcAndHeap();
    const rss0 = rssBytes(srv.pid);
    const clients = await connectAll(srv.port, Array.from({ length: C.idleN }, (_, i) => spec(i)), meter);
    try {
      await quiet(meter);
      await sleep(C.settleMs);
      const heap1 = await insp.gcAndHeap();
      const rss1 = rssBytes(srv.pid);
      return {
        sockets: clients.length,
        rss_before_mb: rss0 / 2 ** 20,
        rss_after_mb: rss1 / 2 ** 20,
        bytes_per_conn: (rss1 - rss0) / clients.length,
        heap_per_conn: (heap1 - heap0) / clients.length,
      };
    } finally {
      await closeAll(clients, 10_000);
    }
  } finally {
    insp.close();
  }
}

const SCENARIO = {
  rest: { title: '(a) REST', run: scenarioRest, paired: true },
  fanout: {
    title: `(b) 1 room x ${C.fanSockets} sockets, ${C.fanRate} msg/s`,
    run: scenarioFanout,
    paired: true,
  },
  rooms: {
    title: `(c) ${C.roomsN} rooms x ${C.roomsSockets} sockets, ${C.roomsRate} msg/s total`,
    run: scenarioRooms,
    paired: true,
  },
  saturation: {
    title: `(d) 1 room x ${C.satSockets} sockets, saturation (${C.satSenders} senders, 1 in flight each)`,
    run: scenarioSaturation,
    paired: true,
  },
  // A memory figure: each server on its own (run(srvs) takes one server at a time).
  idle: { title: `(e) ${C.idleN} idle sockets`, run: async ([srv]) => [await scenarioIdle(srv)], inspect: true },
};

/** The idle scenario forces GCs through the inspector; with BENCH_ALLOC_DIR the fan-out ones sample allocations. */
const needsInspector = (s) => SCENARIO[s].inspect === true || ALLOC_DIR !== '';

/** Figures shown per scenario: [key, label, digits, target ({max} or {min}) on the Parley/baseline ratio]. */
const FIGURES = {
  rest: [
    ['post_rps', 'POST message req/s', 0],
    ['post_cpu_us', 'POST message CPU µs/req', 1, { max: 1.3 }],
    ['post_main_cpu_us', '… of it on the main thread', 1],
    ['get_rps', 'GET 50 messages req/s', 0],
    ['get_cpu_us', 'GET 50 messages CPU µs/req', 1, { max: 1.3 }],
    ['get_main_cpu_us', '… of it on the main thread', 1],
    ['post_fixed_rps', `POST at ${C.restRate}/s offered: req/s`, 0],
    ['post_fixed_cpu_us', `POST at ${C.restRate}/s offered: CPU µs/req`, 1],
    ['get_fixed_rps', `GET at ${C.restRate}/s offered: req/s`, 0],
    ['get_fixed_cpu_us', `GET at ${C.restRate}/s offered: CPU µs/req`, 1],
    ['post_bg_pct', 'other CPU on machine % (POST)', 0],
    ['get_bg_pct', 'other CPU on machine % (GET)', 0],
    ['post_fixed_bg_pct', 'other CPU on machine % (POST, fixed rate)', 0],
    ['get_fixed_bg_pct', 'other CPU on machine % (GET, fixed rate)', 0],
  ],
  fanout: [
    ['cpu_us_per_delivery', 'CPU µs/delivery', 2, { max: 1.0 }],
    ['main_cpu_us_per_delivery', '… of it on the main thread', 2],
    ['p50_ms', 'latency p50 ms', 2],
    ['p99_ms', 'latency p99 ms', 2, { max: 1.2 }],
    ['deliveries_per_s', 'deliveries/s', 0],
    ['bg_pct', 'other CPU on machine %', 0],
  ],
  rooms: [
    ['cpu_us_per_delivery', 'CPU µs/delivery', 2, { max: 1.1 }],
    ['main_cpu_us_per_delivery', '… of it on the main thread', 2],
    ['p50_ms', 'latency p50 ms', 2],
    ['p99_ms', 'latency p99 ms', 2],
    ['deliveries_per_s', 'deliveries/s', 0],
    ['bg_pct', 'other CPU on machine %', 0],
  ],
  saturation: [
    ['deliveries_per_s', 'deliveries/s', 0, { min: 1.0 }],
    ['msgs_per_s', 'messages/s', 0],
    ['cpu_us_per_delivery', 'CPU µs/delivery', 2],
    ['server_core_pct', 'server core %', 0],
    ['loadgen_core_pct', 'load generator core %', 0],
    ['p50_ms', 'latency p50 ms', 2],
    ['p99_ms', 'latency p99 ms', 2],
    ['bg_pct', 'other CPU on machine %', 0],
  ],
  idle: [
    ['bytes_per_conn', 'RSS bytes/connection', 0, { max: 1.0 }],
    ['heap_per_conn', 'V8 heap bytes/connection', 0],
    ['rss_before_mb', 'RSS before MB', 1],
    ['rss_after_mb', 'RSS after MB', 1],
  ],
};

// ------------------------------------------------------------------------------ report

function median(xs) {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

const fmt = (x, digits) => (Number.isFinite(x) ? x.toFixed(digits) : '-');

function table(rows) {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => String(r[i]).length)));
  return rows
    .map((r, ri) =>
      r
        .map((cell, i) => (i === 0 ? String(cell).padEnd(widths[i]) : String(cell).padStart(widths[i])))
        .join('  ')
        .concat(ri === 0 ? `\n${widths.map((w) => '-'.repeat(w)).join('  ')}` : ''),
    )
    .join('\n');
}

function report(results) {
  const rows = [['scenario / figure', 'Parley', 'baseline', 'P/B', 'target', 'verdict']];
  const checks = [];
  for (const s of SCENARIOS) {
    const res = results[s];
    if (!res) continue;
    rows.push([SCENARIO[s].title, '', '', '', '', '']);
    for (const [key, label, digits, target] of FIGURES[s]) {
      const p = median(res.parley.map((r) => r?.[key]));
      const b = median(res.baseline.map((r) => r?.[key]));
      const ratios = [];
      for (let i = 0; i < PAIRS; i++) {
        const pr = res.parley[i]?.[key];
        const br = res.baseline[i]?.[key];
        if (Number.isFinite(pr) && Number.isFinite(br) && br !== 0) ratios.push(pr / br);
      }
      const ratio = median(ratios);
      let tgt = '';
      let verdict = '';
      if (target) {
        tgt = target.max !== undefined ? `<= ${target.max.toFixed(2)}` : `>= ${target.min.toFixed(2)}`;
        if (Number.isFinite(ratio)) {
          const pass = target.max !== undefined ? ratio <= target.max : ratio >= target.min;
          verdict = pass ? 'ok' : 'MISS';
          checks.push({ scenario: s, label, ratio, tgt, pass });
        } else verdict = 'n/a';
      }
      rows.push([`  ${label}`, fmt(p, digits), fmt(b, digits), fmt(ratio, 2), tgt, verdict]);
    }
    if (s !== 'rest' && s !== 'idle') {
      for (const kind of ['parley', 'baseline']) {
        const runs = res[kind].filter(Boolean);
        if (runs.length === 0) continue;
        const sum = (k) => runs.reduce((a, r) => a + (r[k] ?? 0), 0);
        rows.push([
          `  ${kind} integrity (all pairs)`,
          `loss ${sum('missing')}/${sum('expected')}`,
          `order errors ${sum('order_errors')}`,
          `error frames ${sum('error_frames')}`,
          `closes ${sum('closes')}`,
          sum('missing') === 0 && sum('order_errors') === 0 ? 'ok' : 'FAIL',
        ]);
      }
    }
    if (s === 'rest') {
      for (const kind of ['parley', 'baseline']) {
        const runs = res[kind].filter(Boolean);
        const errs = runs.reduce((a, r) => a + r.post_errors + r.get_errors + r.post_fixed_errors + r.get_fixed_errors, 0);
        rows.push([`  ${kind} non-200 / socket errors`, String(errs), '', '', '', errs === 0 ? 'ok' : 'FAIL']);
      }
    }
  }
  return { text: table(rows), checks };
}

// ------------------------------------------------------------------------------ main

async function main() {
  if (SERVERS.includes('parley') && PARLEY_SCRIPT) {
    console.log(`Parley's place: ${relative(ROOT, PARLEY_SCRIPT)}; the baseline's place: ${relative(ROOT, BASELINE)}`);
  } else if (SERVERS.includes('parley')) {
    if (!existsSync(join(DIST, 'main.js'))) {
      if (process.env.BENCH_PARLEY_DIST) throw new Error(`${join(DIST, 'main.js')} is missing (BENCH_PARLEY_DIST)`);
      console.log('dist/main.js missing: running npm run build');
      const r = spawnSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'inherit' });
      if (r.status !== 0) throw new Error('npm run build failed');
    }
    cleanups.push(() => rmSync(SNAPSHOT, { recursive: true, force: true }));
    cpSync(DIST, SNAPSHOT, { recursive: true });
    console.log(`Parley: snapshot of ${relative(ROOT, DIST)}/ built ${statSync(join(DIST, 'main.js')).mtime.toISOString()}`);
    if (process.env.BENCH_BASELINE_MAIN) console.log(`the baseline's place: ${relative(ROOT, BASELINE)}`);
  }
  const cpuModel = os.cpus()[0]?.model ?? 'unknown';
  console.log(`Parley benchmark ${new Date().toISOString()}${QUICK ? '  [QUICK smoke run]' : ''}`);
  console.log(
    `node ${process.version}, ${NCPU} CPU (${cpuModel}), CLK_TCK ${CLK_TCK}, ` +
      `server CPU from ${SCHEDSTAT ? 'the scheduler\'s run time (schedstat, ns)' : 'clock ticks (/proc/<pid>/stat)'}, ` +
      `${PIN ? 'server pinned to CPU 1, load generator + redis to CPU 0' : 'no pinning'}`,
  );
  console.log(
    `pairs ${PAIRS}, measurement ${SECONDS} s after ${C.warmMs / 1000} s warm-up, scenarios ${SCENARIOS.join(',')}, servers ${SERVERS.join(',')}` +
      `${REUSE ? ', one server start per pair for all scenarios' : ', fresh server per scenario run'}`,
  );
  console.log(`load average at start: ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  for (const n of notes) console.log(`note: ${n}`);
  const redis = await startRedis();
  console.log(`redis-server pid ${redis.pid} on port ${redis.port} (no persistence)`);
  const results = {};
  for (const s of SCENARIOS) results[s] = { parley: [], baseline: [] };
  // Sessions: the servers started together, and the scenarios they run. A fresh start per
  // scenario run (default), or with REUSE one start per pair for every scenario. With
  // INTERLEAVE both servers of a pair run at once and take turns slice by slice (see
  // sliceOrder); otherwise one runs its whole measurement, then the other. Within a pair
  // the server that goes first alternates.
  const orderOf = (pair) => (pair % 2 === 0 ? ['parley', 'baseline'] : ['baseline', 'parley']).filter((k) => SERVERS.includes(k));
  const together = INTERLEAVE && SERVERS.length === 2;
  const sessions = [];
  const addPair = (pair, scenarios) => {
    if (together && scenarios.some((s) => SCENARIO[s].paired)) sessions.push({ pair, kinds: orderOf(pair), scenarios });
    else for (const kind of orderOf(pair)) sessions.push({ pair, kinds: [kind], scenarios });
  };
  for (const s of REUSE ? [SCENARIOS] : SCENARIOS.map((x) => [x])) {
    for (let pair = 0; pair < PAIRS; pair++) addPair(pair, s);
  }
  /** One scenario on the session's servers: together when it is a paired one, else one after the other. */
  const runScenario = async (s, srvs, pair) => {
    currentScenario = s;
    const out = new Map();
    for (const group of SCENARIO[s].paired ? [srvs] : srvs.map((x) => [x])) {
      const t0 = performance.now();
      try {
        const rs = await SCENARIO[s].run(group);
        const seconds = (performance.now() - t0) / 1000;
        group.forEach((srv, i) => out.set(srv.kind, { ...rs[i], seconds }));
      } catch (err) {
        console.log(`[${s}] pair ${pair + 1}/${PAIRS} ${group.map((g) => g.kind).join('+')}: FAILED ${err.message}`);
        for (const srv of group) {
          const text = srv.output().trim();
          if (text) console.log(`${srv.kind}:\n${text.split('\n').slice(-15).join('\n')}`);
        }
      }
    }
    return out;
  };
  const show = (s, pair, kind, r, suffix = '') => {
    const brief = FIGURES[s]
      .map(([key, label, digits]) => `${label} ${fmt(r[key], digits)}`)
      .concat(r.missing !== undefined ? [`loss ${r.missing}/${r.expected}`, `order errors ${r.order_errors}`] : [])
      .join(', ');
    console.log(`[${s}] pair ${pair + 1}/${PAIRS} ${kind} (${r.seconds.toFixed(1)} s)${suffix}: ${brief}`);
  };
  const startAll = async (kinds, scenarios) => {
    const srvs = [];
    try {
      for (const kind of kinds) {
        srvs.push(
          await startServer(kind, redis, { inspect: scenarios.some(needsInspector), label: scenarios.join('+') }),
        );
      }
    } catch (err) {
      for (const srv of srvs) await srv.stop();
      throw err;
    }
    return srvs;
  };
  try {
    for (const { pair, kinds, scenarios } of sessions) {
      if (!REUSE) {
        // Fresh servers per run: a disturbed run is repeated on fresh servers.
        const s = scenarios[0];
        let best;
        let bestBg = Infinity;
        for (let attempt = 0; attempt <= RETRIES; attempt++) {
          await waitQuiet(s);
          const tAttempt = performance.now();
          await redisCmd(redis.port, 'FLUSHALL');
          const srvs = await startAll(kinds, scenarios);
          let out;
          try {
            out = await runScenario(s, srvs, pair);
          } finally {
            for (const srv of srvs) await srv.stop();
          }
          const complete = kinds.every((k) => out.has(k));
          const bg = complete ? Math.max(...kinds.map((k) => disturbance(out.get(k)))) : Infinity;
          if (complete && (!best || bg < bestBg)) [best, bestBg] = [out, bg];
          for (const kind of kinds) if (out.has(kind)) show(s, pair, kind, out.get(kind), attempt > 0 ? ` [attempt ${attempt + 1}]` : '');
          if (attempt > 0) spendExtra(s, performance.now() - tAttempt);
          const retry = bg > MAX_BG && attempt < RETRIES && extraLeft(s);
          if (!retry) {
            if (!best) best = out;
            break;
          }
          console.log(`  (other CPU ${bg === Infinity ? '?' : bg.toFixed(0)}% > ${MAX_BG}%: repeating this run)`);
        }
        for (const kind of kinds) results[s][kind][pair] = best.get(kind);
        continue;
      }
      await redisCmd(redis.port, 'FLUSHALL');
      const srvs = await startAll(kinds, scenarios);
      try {
        for (const s of scenarios) {
          const out = await runScenario(s, srvs, pair);
          for (const kind of kinds) {
            results[s][kind][pair] = out.get(kind);
            if (out.has(kind)) show(s, pair, kind, out.get(kind));
          }
        }
      } finally {
        for (const srv of srvs) await srv.stop();
      }
    }
  } finally {
    await redis.stop();
    rmSync(SNAPSHOT, { recursive: true, force: true });
  }
  const { text, checks } = report(results);
  console.log('');
  console.log(`load average at end: ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  console.log('Medians over pairs; P/B = median of the per-pair ratios Parley/baseline.');
  console.log(text);
  if (checks.length) {
    const missed = checks.filter((c) => !c.pass);
    console.log('');
    console.log(
      missed.length === 0
        ? `All ${checks.length} targets met.`
        : `Targets missed (${missed.length}/${checks.length}): ` +
            missed.map((c) => `${c.scenario} ${c.label.trim()} ${c.ratio.toFixed(2)} (target ${c.tgt})`).join('; '),
    );
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(`bench failed: ${err.stack ?? err.message}`);
    emergencyCleanup();
    process.exit(1);
  },
);
