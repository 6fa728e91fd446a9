import type { INestApplicationContext } from '@nestjs/common';
import { WsAdapter } from '@nestjs/platform-ws';
import type { MessageMappingProperties } from '@nestjs/websockets';
import proxyAddr from '@fastify/proxy-addr';
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { RawData, WebSocket, WebSocketServer } from 'ws';
import { DomainError } from '../common/errors/domain-error.js';
import { corsOrigins } from '../common/http/cors.js';
import { refuseOnSocket as refuse } from '../common/http/raw-error.js';
import { type Env, parseTrustProxy } from '../config/env.schema.js';
import type { UpgradeLimiter } from '../throttle/upgrade-limiter.js';
import { directFrameHandlers, type FrameHandler } from './direct-handlers.js';
import { FrameRateLimiter } from './frame-rate-limiter.js';
import { routeFrame, sendError } from './frames.js';
import { gateOf } from './socket-gate.js';

export const WS_BASE_PATH = '/api/v1/ws';
const ROOM_PATH = /^\/api\/v1\/ws\/([^/]+)\/([^/]+)\/?$/;
export const CLOSE_POLICY_VIOLATION = 1008;
export const CLOSE_GOING_AWAY = 1001;

/** What the upgrade handed to the gateway, on the request object. */
export interface ChatUpgradeRequest extends IncomingMessage {
  /** `token`: the bearer JWT from `?token=` (or an `Authorization: Bearer` header), checked by the gateway when auth is on. */
  chat: { roomId: string; userId: string; since?: string; token?: string };
}

export interface ChatWsAdapterOptions {
  env: Env;
  limiter: UpgradeLimiter;
  /** The gateway, for calling its frame handlers directly (`directFrameHandlers`); asked on the first connection. */
  gateway?: () => object;
}

/**
 * `WsAdapter` for the parameterised path `/api/v1/ws/{room_id}/{user_id}`.
 *
 * The stock adapter matches exact paths only. This one routes every upgrade under
 * the gateway's base path, checks `Origin` against CORS_ORIGINS (403) and counts
 * the upgrade against the client IP's REST budget (429) before accepting, and
 * hands the path params to the gateway on the request. Inbound frames are parsed
 * and routed here so that every refused frame gets an error frame (the stock
 * adapter drops them silently) and no RxJS pipeline runs per frame; handlers are
 * still Nest's, with the gateway's filters.
 */
export class ChatWsAdapter extends WsAdapter {
  private readonly trust?: (addr: string, i: number) => boolean;
  private readonly origins: ReadonlySet<string> | undefined;
  private readonly listeners = new Map<Server, (req: IncomingMessage, socket: Duplex, head: Buffer) => void>();
  /** The gateway's handlers called without Nest's per-message wrapper; null where that is not the same behaviour. */
  private direct?: Map<string, FrameHandler> | null;

  constructor(
    app: INestApplicationContext,
    private readonly options: ChatWsAdapterOptions,
  ) {
    super(app);
    const { env } = options;
    if (env.TRUST_PROXY) this.trust = proxyAddr.compile(parseTrustProxy(env.TRUST_PROXY));
    this.origins = corsOrigins(env.CORS_ORIGINS);
  }

  override create(port: number, options: Record<string, unknown> & { path?: string } = {}) {
    const server: WebSocketServer = super.create(port, {
      ...options,
      maxPayload: this.options.env.WS_MAX_PAYLOAD,
      perMessageDeflate: false,
    });
    // The handshake faults `ws` itself finds (Upgrade or Sec-WebSocket-Key/-Protocol headers)
    // answer `{"detail"}` like every other refusal, not `ws`' text/html.
    server.on('wsClientError', (err: Error, socket: Duplex) => refuse(socket, 400, err.message));
    return server;
  }

  protected override ensureHttpServerExists(port: number, httpServer?: Server): Server | undefined {
    if (this.httpServersRegistry.has(port)) return undefined;
    if (!httpServer) return super.ensureHttpServerExists(port);
    this.httpServersRegistry.set(port, httpServer);
    const listener = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      socket.on('error', () => socket.destroy());
      this.upgrade(port, req, socket, head).catch(() => refuse(socket, 500, 'Internal Server Error'));
    };
    httpServer.on('upgrade', listener);
    this.listeners.set(httpServer, listener);
    return httpServer;
  }

  private async upgrade(port: number, req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const match = ROOM_PATH.exec(url.pathname);
    const server = (this.wsServersRegistry.get(port) ?? []).find(
      (s: WebSocketServer & { path?: string }) => s.path === WS_BASE_PATH,
    ) as WebSocketServer | undefined;
    let roomId: string;
    let userId: string;
    try {
      if (!match || !server) throw new Error('no route');
      roomId = decodeURIComponent(match[1]);
      userId = decodeURIComponent(match[2]);
    } catch {
      return refuse(socket, 404, 'Not Found');
    }
    if (req.method !== 'GET') return refuse(socket, 405, 'A WebSocket upgrade must be a GET', { Allow: 'GET' });
    const version = Number(req.headers['sec-websocket-version']);
    if (version !== 13 && version !== 8) {
      return refuse(socket, 400, 'Missing or invalid Sec-WebSocket-Version header', { 'Sec-WebSocket-Version': '13, 8' });
    }
    const origin = req.headers.origin;
    if (origin !== undefined && this.origins && !this.origins.has(origin)) {
      return refuse(socket, 403, 'Origin not allowed');
    }
    const ip = this.trust ? proxyAddr(req, this.trust) : (req.socket.remoteAddress ?? '');
    try {
      const verdict = await this.options.limiter.consume(ip);
      if (!verdict.allowed) {
        return refuse(socket, 429, 'Too Many Requests', { 'Retry-After': String(verdict.retryAfter) });
      }
    } catch (err) {
      if (err instanceof DomainError) return refuse(socket, 503, err.message);
      throw err;
    }
    if (socket.destroyed) return;
    const since = url.searchParams.get('since') ?? undefined;
    const token = url.searchParams.get('token') ?? bearerToken(req.headers.authorization);
    (req as ChatUpgradeRequest).chat = { roomId, userId, since, token };
    server.handleUpgrade(req, socket, head, (ws) => server.emit('connection', ws, req));
  }

  override bindMessageHandlers(
    client: WebSocket,
    handlers: MessageMappingProperties[],
    _transform: unknown,
  ): void {
    const direct = this.directHandlers();
    const byEvent = new Map(
      handlers.map((h): [string, (data: Record<string, unknown>) => unknown] => {
        const handler = direct?.get(h.message as string);
        return [h.message as string, handler ? (data) => handler(client, data) : h.callback];
      }),
    );
    const { WS_RATE_LIMIT, WS_RATE_TTL } = this.options.env;
    const budget = new FrameRateLimiter(WS_RATE_LIMIT, WS_RATE_TTL * 1000);
    const handle = (data: RawData, isBinary: boolean) => {
      const verdict = budget.hit(Date.now());
      if (verdict === 'close') {
        sendError(client, 'Too Many Requests');
        client.close(CLOSE_POLICY_VIOLATION, 'Too Many Requests');
        return;
      }
      if (verdict === 'reject') return sendError(client, 'Too Many Requests');
      const frame = routeFrame(data, isBinary);
      if ('error' in frame) return sendError(client, frame.error);
      const callback = byEvent.get(frame.event);
      if (!callback) return sendError(client, 'Unknown message type');
      // A direct handler, like Nest's wrapper, sends what the gateway throws through its filter.
      void Promise.resolve(callback(frame.data)).catch((err: unknown) => this.logger.error(err));
    };
    const gate = gateOf(client);
    if (!gate) {
      client.on('message', handle);
      return;
    }
    let queue: [RawData, boolean][] | null = [];
    client.on('message', (data: RawData, isBinary: boolean) => (queue ? queue.push([data, isBinary]) : handle(data, isBinary)));
    void gate.then((open) => {
      const waiting = queue ?? [];
      queue = null;
      if (open) for (const [data, isBinary] of waiting) handle(data, isBinary);
    });
  }

  private directHandlers(): Map<string, FrameHandler> | undefined {
    if (this.direct === undefined) {
      const gateway = this.options.gateway?.();
      this.direct = (gateway && directFrameHandlers(gateway)) ?? null;
      if (gateway && !this.direct) this.logger.log('frames go through Nest\'s handler wrapper (the gateway has enhancers)');
    }
    return this.direct ?? undefined;
  }

  /** Closes what the gateway's shutdown left open with 1001, then the server. */
  override async close(server: WebSocketServer): Promise<void> {
    for (const ws of server.clients) ws.close(CLOSE_GOING_AWAY, 'Server shutting down');
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    const timer = setTimeout(() => server.clients.forEach((ws) => ws.terminate()), 1000);
    await closed;
    clearTimeout(timer);
  }

  override async dispose(): Promise<void> {
    for (const [httpServer, listener] of this.listeners) httpServer.off('upgrade', listener);
    this.listeners.clear();
    await super.dispose();
  }
}

/** The token of an `Authorization: Bearer <token>` header (non-browser clients may send it instead of `?token=`). */
function bearerToken(header: string | undefined): string | undefined {
  const m = header === undefined ? null : /^Bearer +(\S+) *$/i.exec(header.trim());
  return m ? m[1] : undefined;
}
