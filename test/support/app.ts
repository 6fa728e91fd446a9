import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from './ports.js';

const MAIN = join(process.cwd(), 'dist', 'main.js');

export interface TestServer {
  port: number;
  /** `http://127.0.0.1:<port>` */
  baseUrl: string;
  /** `ws://127.0.0.1:<port>` */
  wsUrl: string;
  pid: number;
  /** Everything the process wrote so far (for failure messages). */
  output(): string;
  /** SIGTERM, then resolves with the exit code. */
  stop(): Promise<number | null>;
  /** SIGKILL: an instance dying without a goodbye. */
  kill(): Promise<void>;
  exited: Promise<number | null>;
}

/**
 * Starts the built server (`dist/main.js`) as its own process on a free loopback
 * port, with exactly the given environment (nothing inherited but PATH), and waits
 * until `/health` answers.
 */
export async function startServer(vars: Record<string, string | undefined> = {}): Promise<TestServer> {
  if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run \`npm run build\` before the e2e tests`);
  const port = await freePort();
  const env: Record<string, string> = { PATH: process.env.PATH ?? '', NODE_ENV: 'test', LOG_LEVEL: 'warn' };
  for (const [k, v] of Object.entries(vars)) if (v !== undefined) env[k] = v;
  env.PORT = String(port);
  env.HOST = '127.0.0.1';
  const child: ChildProcess = spawn(process.execPath, [MAIN], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  let stopping = false;
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code, signal) => {
      // A server that dies on its own shows up later as ECONNREFUSED in some test; say why here.
      if (!stopping) process.stderr.write(`server on port ${port} exited by itself (${signal ?? code}):\n${out}\n`);
      resolve(code);
    }),
  );
  const baseUrl = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode} during start:\n${out}`);
    const ok = await fetch(`${baseUrl}/health`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) break;
    if (Date.now() > deadline) {
      stopping = true;
      child.kill('SIGKILL');
      throw new Error(`server did not become healthy within 15 s:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    port,
    baseUrl,
    wsUrl: `ws://127.0.0.1:${port}`,
    pid: child.pid ?? -1,
    output: () => out,
    exited,
    async stop() {
      stopping = true;
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
    async kill() {
      stopping = true;
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

/** Runs the built server expecting it to refuse to start; resolves with its exit code and output. */
export async function runServerExpectingExit(
  vars: Record<string, string | undefined>,
  timeoutMs = 10_000,
): Promise<{ code: number | null; output: string }> {
  const env: Record<string, string> = { PATH: process.env.PATH ?? '', LOG_LEVEL: 'warn', HOST: '127.0.0.1' };
  for (const [k, v] of Object.entries(vars)) if (v !== undefined) env[k] = v;
  env.PORT ??= String(await freePort());
  const child = spawn(process.execPath, [MAIN], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  clearTimeout(timer);
  return { code, output: out };
}

export interface ApiResponse {
  status: number;
  // Response bodies are checked field by field in the tests.
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  text: string;
  headers: Headers;
}

/** A small JSON client for the API under `/api/v1`. */
export function api(baseUrl: string) {
  const call = async (
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<ApiResponse> => {
    const h: Record<string, string> = { ...headers };
    const init: RequestInit = { method, headers: h };
    if (body !== undefined) {
      init.body = typeof body === 'string' ? body : JSON.stringify(body);
      if (!Object.keys(h).some((k) => k.toLowerCase() === 'content-type')) h['content-type'] = 'application/json';
    }
    const res = await fetch(`${baseUrl}/api/v1${path}`, init);
    const text = await res.text();
    let json: unknown;
    try {
      json = text === '' ? undefined : JSON.parse(text);
    } catch {
      json = text;
    }
    return { status: res.status, body: json, text, headers: res.headers };
  };
  return {
    call,
    get: (path: string, headers?: Record<string, string>) => call('GET', path, undefined, headers),
    post: (path: string, body?: unknown, headers?: Record<string, string>) => call('POST', path, body, headers),
  };
}
