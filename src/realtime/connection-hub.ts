import { Inject, Injectable, Logger } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { WebSocket } from 'ws';
import type { Env } from '../config/env.schema.js';
import type { ChatConnection } from './chat-connection.js';
import { RoomBroker } from './room-broker.js';
import { parseEnvelope } from './room-event.js';

interface LocalRoom {
  connections: Set<ChatConnection>;
  subscribed: Promise<void>;
}

export const CLOSE_SLOW_CONSUMER = 1013;

/**
 * Which sockets are in which room on this instance, and the delivery of room
 * events to them. Each frame is encoded once and the same buffer is written to
 * every socket; writes never wait on a socket, and a socket whose unsent buffer
 * passes WS_MAX_BUFFERED is closed (1013) instead of slowing the room.
 */
@Injectable()
export class ConnectionHub {
  private readonly logger = new Logger(ConnectionHub.name);
  private readonly rooms = new Map<string, LocalRoom>();
  private readonly maxBuffered: number;

  constructor(
    @Inject(RoomBroker) private readonly broker: RoomBroker,
    config: ConfigService<Env, true>,
  ) {
    this.maxBuffered = config.get('WS_MAX_BUFFERED', { infer: true });
    broker.onEnvelope((roomId, envelope) => this.deliver(roomId, envelope));
  }

  /** Adds the connection to its room (pending) and resolves once this instance receives the room's events. */
  async attach(conn: ChatConnection): Promise<void> {
    let room = this.rooms.get(conn.roomId);
    if (!room) {
      const subscribed = this.broker.subscribe(conn.roomId);
      const created: LocalRoom = { connections: new Set(), subscribed };
      this.rooms.set(conn.roomId, created);
      subscribed.catch(() => {
        // The next attach retries; a failed subscription must not stay cached.
        if (this.rooms.get(conn.roomId) === created) this.rooms.delete(conn.roomId);
      });
      room = created;
    }
    room.connections.add(conn);
    try {
      await room.subscribed;
    } catch (err) {
      room.connections.delete(conn);
      if (this.rooms.get(conn.roomId) === room) this.rooms.delete(conn.roomId);
      throw err;
    }
  }

  /**
   * Writes the history frame, then what arrived meanwhile and is newer than the
   * history (messages up to `lastSeq` are already in it), and goes live.
   */
  goLive(conn: ChatConnection, historyFrame: string, lastSeq: number): void {
    if (conn.state !== 'pending') return;
    this.write(conn, Buffer.from(historyFrame));
    for (const event of conn.buffered) {
      if (event.seq !== 0 && event.seq <= lastSeq) continue;
      this.write(conn, Buffer.from(event.frame));
    }
    conn.buffered = [];
    conn.state = 'live';
  }

  detach(conn: ChatConnection): void {
    conn.state = 'closed';
    conn.buffered = [];
    const room = this.rooms.get(conn.roomId);
    if (!room || !room.connections.delete(conn)) return;
    if (room.connections.size === 0) {
      this.rooms.delete(conn.roomId);
      void this.broker.unsubscribe(conn.roomId);
    }
  }

  /** A frame for this connection only (idempotent replays, errors). */
  send(conn: ChatConnection, frame: string): void {
    this.write(conn, Buffer.from(frame));
  }

  connections(): Iterable<ChatConnection> {
    const all: ChatConnection[] = [];
    for (const room of this.rooms.values()) for (const c of room.connections) all.push(c);
    return all;
  }

  get connectionCount(): number {
    let n = 0;
    for (const room of this.rooms.values()) n += room.connections.size;
    return n;
  }

  get roomCount(): number {
    return this.rooms.size;
  }

  private deliver(roomId: string, envelope: string): void {
    const room = this.rooms.get(roomId);
    if (!room) return;
    const event = parseEnvelope(envelope);
    if (!event) return;
    let data: Buffer | undefined;
    for (const conn of room.connections) {
      if (conn.userId === event.exceptUser) continue;
      if (conn.state === 'pending') {
        conn.buffered.push(event);
        continue;
      }
      data ??= Buffer.from(event.frame);
      this.write(conn, data);
    }
  }

  private write(conn: ChatConnection, data: Buffer): void {
    const ws = conn.ws;
    if (ws.readyState !== WebSocket.OPEN) return;
    if (ws.bufferedAmount + data.length > this.maxBuffered) {
      this.dropSlowConsumer(conn);
      return;
    }
    ws.send(data, { binary: false });
  }

  private dropSlowConsumer(conn: ChatConnection): void {
    this.logger.warn(`connection ${conn.id} in room ${conn.roomId} is a slow consumer: closing (1013)`);
    conn.ws.close(CLOSE_SLOW_CONSUMER, 'Slow consumer');
    // The close frame queues behind the unsent data; do not wait on it for long.
    setTimeout(() => conn.ws.terminate(), 5000).unref();
  }
}
