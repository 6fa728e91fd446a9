import type { IncomingHttpHeaders } from 'node:http';
import WebSocket, { type RawData } from 'ws';
import { api } from './app.js';

/** A received text frame, parsed. Fields are checked one by one in the tests. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Frame = Record<string, any>;

export interface CloseInfo {
  code: number;
  reason: string;
}

export interface ConnectOptions {
  /** Sent as the `Origin` header (a browser page's origin). */
  origin?: string;
  headers?: Record<string, string>;
  /** `false` leaves pings unanswered (the `ws` client answers them by default). */
  autoPong?: boolean;
  /** How long the upgrade may take (ms, default 3000). */
  timeoutMs?: number;
}

const DEFAULT_WAIT_MS = 3000;
const MAX_WAIT_MS = 5000;

/** The upgrade was answered with plain HTTP instead of 101. */
export class UpgradeRefusedError extends Error {
  constructor(
    readonly status: number,
    readonly headers: IncomingHttpHeaders,
    readonly body: string,
  ) {
    super(`upgrade refused with HTTP ${status}: ${body}`);
    this.name = 'UpgradeRefusedError';
  }

  /** The body parsed as JSON (undefined when it is not JSON). */
  get json(): unknown {
    try {
      return JSON.parse(this.body);
    } catch {
      return undefined;
    }
  }
}

/** Every socket opened by `connectWs` and not yet closed, for `closeAllSockets()`. */
const live = new Set<TestSocket>();

/**
 * A `ws` client that records every text frame it receives, in order, and its close.
 * `next`, `nextOfType` and `waitFor` read the recording with a cursor (frames they
 * pass over are consumed); `frames` always holds everything.
 */
export class TestSocket {
  /** Every received frame, parsed, in arrival order. */
  readonly frames: Frame[] = [];
  /** The same frames as received text. */
  readonly texts: string[] = [];
  /** Set once the socket is closed. */
  closeInfo: CloseInfo | undefined;
  /** Resolves when the socket closes, with the code and reason the client saw. */
  readonly closed: Promise<CloseInfo>;
  private cursor = 0;
  private readonly wakers = new Set<() => void>();
  private readonly ignored: ((f: Frame) => boolean)[] = [];

  constructor(readonly ws: WebSocket) {
    this.closed = new Promise<CloseInfo>((resolve) => {
      ws.on('close', (code: number, reason: Buffer) => {
        this.closeInfo = { code, reason: reason.toString() };
        live.delete(this);
        resolve(this.closeInfo);
        this.wake();
      });
    });
    ws.on('message', (data: RawData, isBinary: boolean) => {
      const text = Buffer.isBuffer(data)
        ? data.toString()
        : Array.isArray(data)
          ? Buffer.concat(data).toString()
          : Buffer.from(data).toString();
      this.texts.push(text);
      let frame: Frame;
      try {
        const parsed: unknown = JSON.parse(text);
        frame = typeof parsed === 'object' && parsed !== null ? (parsed as Frame) : { unparsable: text };
      } catch {
        frame = { unparsable: text };
      }
      if (isBinary) frame = { binary: text };
      this.frames.push(frame);
      this.wake();
    });
    // Errors surface as a close (1006) or a rejected connect; never as an unhandled event.
    ws.on('error', () => undefined);
  }

  get isOpen(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  /**
   * From now on next / nextOfType / waitFor / expectNoFrame pass over frames matching
   * `predicate` (they stay in `frames`). For frames a test tolerates but does not expect.
   */
  ignore(predicate: (f: Frame) => boolean): void {
    this.ignored.push(predicate);
  }

  /** Frames received but not yet read with next / nextOfType / waitFor (ignored ones left out). */
  unread(): Frame[] {
    return this.frames.slice(this.cursor).filter((f) => !this.isIgnored(f));
  }

  private isIgnored(frame: Frame): boolean {
    return this.ignored.some((p) => p(frame));
  }

  /** The next unread frame. */
  next(timeoutMs = DEFAULT_WAIT_MS): Promise<Frame> {
    return this.waitFor(() => true, timeoutMs, 'any frame');
  }

  /** The next unread frame of this `type`; unread frames of other types before it are passed over. */
  nextOfType(type: string, timeoutMs = DEFAULT_WAIT_MS): Promise<Frame> {
    return this.waitFor((f) => f.type === type, timeoutMs, `a frame of type ${JSON.stringify(type)}`);
  }

  /** The next unread frame matching `predicate`; unread frames before it are passed over. */
  async waitFor(predicate: (f: Frame) => boolean, timeoutMs = DEFAULT_WAIT_MS, what = 'a matching frame'): Promise<Frame> {
    const deadline = Date.now() + Math.min(timeoutMs, MAX_WAIT_MS);
    for (;;) {
      while (this.cursor < this.frames.length) {
        const frame = this.frames[this.cursor++];
        if (!this.isIgnored(frame) && predicate(frame)) return frame;
      }
      if (this.closeInfo) {
        throw new Error(`socket closed (${this.describeClose()}) while waiting for ${what}; ${this.describeFrames()}`);
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no ${what} within ${timeoutMs} ms; ${this.describeFrames()}`);
      await this.sleepUntilWoken(left);
    }
  }

  /** Resolves once any frame received so far or later matches, read or not; does not move the read cursor. */
  async received(predicate: (f: Frame) => boolean, timeoutMs = DEFAULT_WAIT_MS, what = 'a matching frame'): Promise<Frame> {
    const deadline = Date.now() + Math.min(timeoutMs, MAX_WAIT_MS);
    let checked = 0;
    for (;;) {
      for (; checked < this.frames.length; checked++) if (predicate(this.frames[checked])) return this.frames[checked];
      if (this.closeInfo) {
        throw new Error(`socket closed (${this.describeClose()}) before receiving ${what}; ${this.describeFrames()}`);
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no ${what} within ${timeoutMs} ms; ${this.describeFrames()}`);
      await this.sleepUntilWoken(left);
    }
  }

  /** Fails if any unread frame is there or arrives within `ms`. */
  async expectNoFrame(ms = 300): Promise<void> {
    await new Promise((r) => setTimeout(r, ms));
    const extra = this.unread();
    if (extra.length > 0) throw new Error(`expected no frame, got ${JSON.stringify(extra)}`);
  }

  /** Sends a text frame: an object as JSON, a string as is. Resolves once written. */
  send(frame: unknown): Promise<void> {
    const text = typeof frame === 'string' ? frame : JSON.stringify(frame);
    return new Promise((resolve, reject) => this.ws.send(text, (err) => (err ? reject(err) : resolve())));
  }

  /** Sends a binary frame. */
  sendBinary(data: Buffer): Promise<void> {
    return new Promise((resolve, reject) =>
      this.ws.send(data, { binary: true }, (err) => (err ? reject(err) : resolve())),
    );
  }

  /** Closes (1000) and waits for the close; terminates a socket that does not finish closing in 2 s. */
  async close(): Promise<CloseInfo> {
    if (this.closeInfo) return this.closeInfo;
    if (this.ws.readyState === WebSocket.OPEN) this.ws.close(1000);
    else if (this.ws.readyState !== WebSocket.CLOSING) this.ws.terminate();
    const timer = setTimeout(() => this.ws.terminate(), 2000);
    try {
      return await this.closed;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Resolves with the close, failing if it does not come within `timeoutMs`. */
  async closedWithin(timeoutMs = DEFAULT_WAIT_MS): Promise<CloseInfo> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`socket still open after ${timeoutMs} ms; ${this.describeFrames()}`)),
        Math.min(timeoutMs, MAX_WAIT_MS),
      );
    });
    try {
      return await Promise.race([this.closed, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  private wake(): void {
    for (const w of [...this.wakers]) w();
  }

  private sleepUntilWoken(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wakers.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wakers.add(done);
    });
  }

  private describeClose(): string {
    return this.closeInfo ? `code ${this.closeInfo.code}, reason ${JSON.stringify(this.closeInfo.reason)}` : 'open';
  }

  private describeFrames(): string {
    const shown = this.texts.slice(-5).map((t) => {
      const history = summariseHistory(t);
      if (history) return history;
      return t.length > 300 ? `${t.slice(0, 300)}…` : t;
    });
    return `${this.frames.length} frame(s) received (${this.describeClose()}), last: ${shown.join(' | ') || '(none)'}`;
  }
}

/** A history frame as its size and first/last ids (the whole frame is too long for a failure message). */
function summariseHistory(text: string): string | undefined {
  if (!text.startsWith('{"type":"history"')) return undefined;
  try {
    const ids = (JSON.parse(text) as Frame).messages.map((m: Frame) => m.id as string);
    return `{"type":"history"} with ${ids.length} message(s)${ids.length ? `, ${ids[0]} .. ${ids[ids.length - 1]}` : ''}`;
  } catch {
    return undefined;
  }
}

/**
 * Opens a socket and resolves once it is open. A socket the server accepts and then
 * closes (4404) still resolves: its close is on `closed`. An upgrade answered with
 * plain HTTP rejects with `UpgradeRefusedError` (status, headers, body).
 */
export function connectWs(url: string, options: ConnectOptions = {}): Promise<TestSocket> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.origin !== undefined) headers.Origin = options.origin;
  const timeoutMs = Math.min(options.timeoutMs ?? DEFAULT_WAIT_MS, MAX_WAIT_MS);
  const ws = new WebSocket(url, { headers, autoPong: options.autoPong ?? true, handshakeTimeout: timeoutMs });
  const socket = new TestSocket(ws);
  live.add(socket);
  return new Promise<TestSocket>((resolve, reject) => {
    let settled = false;
    const fail = (err: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      live.delete(socket);
      ws.terminate();
      reject(err);
    };
    const timer = setTimeout(() => fail(new Error(`${url}: not open within ${timeoutMs} ms`)), timeoutMs + 500);
    ws.once('open', () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(socket);
    });
    ws.once('unexpected-response', (req, res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('error', () => undefined);
      res.on('end', () => {
        req.destroy();
        fail(new UpgradeRefusedError(res.statusCode ?? 0, res.headers, body));
      });
    });
    ws.once('error', (err: Error) => fail(err));
    ws.once('close', (code: number) => fail(new Error(`${url}: closed (${code}) before opening`)));
  });
}

/** Expects the upgrade to be refused with plain HTTP; resolves with the refusal. */
export async function expectUpgradeRefused(url: string, options: ConnectOptions = {}): Promise<UpgradeRefusedError> {
  let socket: TestSocket;
  try {
    socket = await connectWs(url, options);
  } catch (err) {
    if (err instanceof UpgradeRefusedError) return err;
    throw err;
  }
  await socket.close();
  throw new Error(`${url}: expected the upgrade to be refused, but the socket opened`);
}

/** Closes every socket that `connectWs` opened and that is still open. */
export async function closeAllSockets(): Promise<void> {
  await Promise.all([...live].map((s) => s.close()));
}

/** `ws://…/api/v1/ws/{room_id}/{user_id}`, with `?since=` when given. */
export function roomWsUrl(wsUrl: string, roomId: string, userId: string, since?: string): string {
  const base = `${wsUrl}/api/v1/ws/${encodeURIComponent(roomId)}/${encodeURIComponent(userId)}`;
  return since === undefined ? base : `${base}?since=${encodeURIComponent(since)}`;
}

/** Sorted keys, to compare exact key sets. */
export function keysOf(value: object): string[] {
  return Object.keys(value).sort();
}

export const MESSAGE_KEYS = ['content', 'created_at', 'id', 'room_id', 'type', 'user_id'];
export const RFC3339_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** REST set-up for the socket suites: rooms, users and messages through the public API. */
export function chatRest(baseUrl: string) {
  const client = api(baseUrl);
  let n = 0;
  const expectOk = <T>(what: string, r: { status: number; text: string; body: T }): T => {
    if (r.status !== 200) throw new Error(`${what} answered ${r.status}: ${r.text}`);
    return r.body;
  };
  return {
    client,
    async room(name = 'Room'): Promise<{ id: string; name: string; created_at: string }> {
      return expectOk('POST /rooms', await client.post('/rooms', { name }));
    },
    async user(prefix = 'u'): Promise<{ id: string; username: string; created_at: string }> {
      const username = `${prefix}_${process.pid}_${Date.now().toString(36)}_${(n++).toString(36)}`.slice(0, 32);
      return expectOk('POST /users', await client.post('/users', { username }));
    },
    async post(roomId: string, body: Record<string, unknown>): Promise<Frame> {
      return expectOk('POST /messages', await client.post(`/rooms/${roomId}/messages`, body));
    },
    async messages(roomId: string, limit = 200): Promise<Frame[]> {
      return expectOk('GET /messages', await client.get(`/rooms/${roomId}/messages?limit=${limit}`));
    },
  };
}
