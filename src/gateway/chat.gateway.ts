import {
  type BeforeApplicationShutdown,
  Inject,
  Logger,
  type OnModuleDestroy,
  type OnModuleInit,
  UseFilters,
} from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import {
  type OnGatewayConnection,
  type OnGatewayDisconnect,
  SubscribeMessage,
  WebSocketGateway,
} from '@nestjs/websockets';
import type { WebSocket } from 'ws';
import { AuthService } from '../auth/auth.service.js';
import { DomainError, ErrorCode } from '../common/errors/domain-error.js';
import type { Env } from '../config/env.schema.js';
import { MessagesService } from '../messages/messages.service.js';
import { ChatConnection } from '../realtime/chat-connection.js';
import { CLOSE_INTERNAL, ConnectionHub } from '../realtime/connection-hub.js';
import { Presence } from '../realtime/presence.js';
import { RoomBroker } from '../realtime/room-broker.js';
import { eventEnvelope } from '../realtime/room-event.js';
import { RoomsService } from '../rooms/rooms.service.js';
import { UsersService } from '../users/users.service.js';
import { CLOSE_GOING_AWAY, type ChatUpgradeRequest, WS_BASE_PATH } from './chat-ws.adapter.js';
import { historyFrame, sendError, typingFrame } from './frames.js';
import { joinFrame, leaveFrame } from '../realtime/presence-frames.js';
import { setGate } from './socket-gate.js';
import { WsErrorFilter } from './ws-error.filter.js';

export const CLOSE_NOT_FOUND = 4404;
/** Authentication on: missing, bad or expired token (also when the token expires while open). */
export const CLOSE_UNAUTHENTICATED = 4401;
/** Authentication on: the token's `sub` is not the path's user. */
export const CLOSE_FORBIDDEN = 4403;
const TYPING_INTERVAL_MS = 1000;

/**
 * `/api/v1/ws/{room_id}/{user_id}`: parses nothing and decides nothing itself
 * beyond the connection lifecycle; sends go through `MessagesService.send()`,
 * the same path as REST.
 */
@WebSocketGateway({ path: WS_BASE_PATH })
@UseFilters(WsErrorFilter)
export class ChatGateway
  implements OnGatewayConnection, OnGatewayDisconnect, OnModuleInit, OnModuleDestroy, BeforeApplicationShutdown
{
  private readonly logger = new Logger(ChatGateway.name);
  private readonly connections = new WeakMap<WebSocket, ChatConnection>();
  private readonly pendingLeaves = new Set<Promise<unknown>>();
  private heartbeat?: NodeJS.Timeout;
  private readonly pingIntervalMs: number;

  constructor(
    private readonly rooms: RoomsService,
    private readonly users: UsersService,
    private readonly messages: MessagesService,
    private readonly hub: ConnectionHub,
    @Inject(Presence) private readonly presence: Presence,
    @Inject(RoomBroker) private readonly broker: RoomBroker,
    config: ConfigService<Env, true>,
    private readonly auth: AuthService,
  ) {
    this.pingIntervalMs = config.get('WS_PING_INTERVAL', { infer: true }) * 1000;
  }

  onModuleInit(): void {
    this.hub.setGapFiller((roomId, fromSeq, toSeq) => this.messages.missed(roomId, fromSeq, toSeq));
    this.heartbeat = setInterval(() => this.beat(), this.pingIntervalMs);
    this.heartbeat.unref();
  }

  onModuleDestroy(): void {
    clearInterval(this.heartbeat);
  }

  handleConnection(ws: WebSocket, req: ChatUpgradeRequest): void {
    const { roomId, userId, since, token } = req.chat;
    const conn = new ChatConnection(ws, roomId, userId);
    this.connections.set(ws, conn);
    ws.on('pong', () => (conn.alive = true));
    setGate(ws, this.open(conn, since, token));
  }

  handleDisconnect(ws: WebSocket): void {
    const conn = this.connections.get(ws);
    if (!conn) return;
    if (conn.state === 'live') this.logger.log({ event: 'socket_close', connId: conn.id, roomId: conn.roomId });
    this.hub.detach(conn);
    if (!conn.present) return;
    conn.present = false;
    const leaving = this.presence
      .leave(conn.roomId, conn.userId, leaveFrame(conn.userId))
      .catch((err: unknown) => this.logger.warn(`presence leave for ${conn.userId} failed: ${String(err)}`))
      .finally(() => this.pendingLeaves.delete(leaving));
    this.pendingLeaves.add(leaving);
  }

  // The frame handlers take (socket, frame) without parameter decorators: the adapter calls them
  // directly, without Nest's per-message wrapper (see directFrameHandlers).
  @SubscribeMessage('message')
  async onMessage(ws: WebSocket, frame: Record<string, unknown>): Promise<void> {
    const conn = this.connections.get(ws);
    if (!conn || conn.state !== 'live') return;
    if (frame.user_id !== undefined && frame.user_id !== conn.userId) {
      throw DomainError.validation('user_id does not match the connection');
    }
    const { json, duplicate } = await this.messages.send({
      roomId: conn.roomId,
      userId: conn.userId,
      content: frame.content,
      type: frame.type,
      clientMsgId: frame.client_msg_id,
      transport: 'ws',
    });
    // A repeat is answered to its sender only; the original was broadcast already.
    if (duplicate) this.hub.send(conn, json);
  }

  @SubscribeMessage('typing')
  async onTyping(ws: WebSocket): Promise<void> {
    const conn = this.connections.get(ws);
    if (!conn || conn.state !== 'live') return;
    const now = Date.now();
    if (now - conn.lastTypingAt < TYPING_INTERVAL_MS) return;
    conn.lastTypingAt = now;
    await this.broker.publish(conn.roomId, eventEnvelope(conn.userId, typingFrame(conn.userId, conn.roomId)));
  }

  /** Closes every socket with 1001 before the HTTP server stops, and lets presence settle. */
  async beforeApplicationShutdown(): Promise<void> {
    clearInterval(this.heartbeat);
    const open = [...this.hub.connections()];
    const closed = open.map(
      (conn) =>
        new Promise<void>((resolve) => {
          if (conn.ws.readyState === 3) return resolve();
          conn.ws.once('close', () => resolve());
          conn.ws.close(CLOSE_GOING_AWAY, 'Server shutting down');
        }),
    );
    await Promise.race([Promise.all(closed), new Promise((r) => setTimeout(r, 2000).unref())]);
    for (const conn of open) if (conn.ws.readyState !== 3) conn.ws.terminate();
    await Promise.allSettled([...this.pendingLeaves]);
  }

  /**
   * With auth on, checks the token (4401) and that its `sub` is the path's user
   * (4403), and closes the socket with 4401 when the token expires. Then checks
   * the room and user (4404), joins the room's stream, writes the history frame
   * and announces the user. Resolves true once frames may be handled.
   */
  private async open(conn: ChatConnection, since: string | undefined, token: string | undefined): Promise<boolean> {
    const { ws, roomId, userId } = conn;
    try {
      const identity = await this.auth.authorizeSocket(token, userId);
      if (identity) {
        if (ws.readyState !== ws.OPEN) return false;
        const cancel = this.auth.watchExpiry(identity, () => ws.close(CLOSE_UNAUTHENTICATED, 'Token expired'));
        ws.once('close', cancel);
        // A token in its last millisecond may have expired already.
        if (ws.readyState !== ws.OPEN) return false;
      }
      await this.rooms.assertExists(roomId);
      await this.users.assertExists(userId);
      await this.hub.attach(conn);
      if (conn.closed) return false;
      const history = await this.messages.history(roomId, since);
      if (conn.closed) return false;
      this.hub.goLive(conn, historyFrame(history), history.lastSeq);
      conn.present = true;
      await this.presence.join(roomId, userId, joinFrame(userId));
      this.logger.log({ event: 'socket_open', connId: conn.id, roomId, userId, recovered: history.recovered });
      return true;
    } catch (err) {
      this.hub.detach(conn);
      if (err instanceof DomainError && (err.code === ErrorCode.RoomNotFound || err.code === ErrorCode.UserNotFound)) {
        ws.close(CLOSE_NOT_FOUND, err.message);
      } else if (err instanceof DomainError && err.code === ErrorCode.Unauthenticated) {
        ws.close(CLOSE_UNAUTHENTICATED, err.message);
      } else if (err instanceof DomainError && err.code === ErrorCode.Forbidden) {
        ws.close(CLOSE_FORBIDDEN, err.message);
      } else if (err instanceof DomainError) {
        sendError(ws, err.message);
        ws.close(CLOSE_INTERNAL, err.message);
      } else {
        this.logger.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
        ws.close(CLOSE_INTERNAL, 'Internal Server Error');
      }
      return false;
    }
  }

  /** Heartbeat: a socket that did not answer the previous ping is dropped. */
  private beat(): void {
    for (const conn of this.hub.connections()) {
      if (!conn.alive) {
        conn.ws.terminate();
        continue;
      }
      conn.alive = false;
      conn.ws.ping();
    }
  }
}
