import { Inject, Injectable, Logger } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import type { Socket } from 'node:net';
import * as wsModule from 'ws';
import { WebSocket } from 'ws';
import type { Env } from '../config/env.schema.js';
import type { ChatConnection } from './chat-connection.js';
import { RoomBroker } from './room-broker.js';
import { parseEnvelope, type RoomEvent } from './room-event.js';

/** Stored messages from `fromSeq` on, as their JSON (what a gap fill reads back). */
export type GapFiller = (roomId: string, fromSeq: number, toSeq: number) => Promise<{ fromSeq: number; page: string[] }>;

interface LocalRoom {
  connections: Set<ChatConnection>;
  subscribed: Promise<void>;
  /** Highest message sequence seen on this room's stream on this instance; -1 until the first. */
  lastSeq: number;
  /** Events held back while a gap is being filled from storage, or null. */
  held: RoomEvent[] | null;
}

/** ws' frame builder (exported by ws at runtime, not in its type definitions). */
const { Sender } = wsModule as unknown as {
  Sender: {
    frame(data: Buffer, options: { fin: boolean; rsv1: boolean; opcode: number; mask: boolean; readOnly: boolean }): Buffer[];
  };
};

/**
 * One outbound text frame, built once for every socket: the payload and, made on
 * first use, the complete WebSocket frame (header + payload, unmasked as servers
 * send) that is written to each socket as a single buffer.
 */
class OutboundFrame {
  private wire?: Buffer;

  constructor(readonly payload: Buffer) {}

  get framed(): Buffer {
    if (this.wire === undefined) {
      const parts = Sender.frame(this.payload, { fin: true, rsv1: false, opcode: 1, mask: false, readOnly: true });
      this.wire = parts.length === 1 ? parts[0] : Buffer.concat(parts);
    }
    return this.wire;
  }
}

/** The parts of `ws` internals the direct write relies on. */
interface WsInternals {
  _socket?: Socket;
  _sender?: { _state?: number };
}

export const CLOSE_SLOW_CONSUMER = 1013;
export const CLOSE_INTERNAL = 1011;
const FILL_ATTEMPTS = 6;

/**
 * Which sockets are in which room on this instance, and the delivery of room
 * events to them. Each frame is encoded once and the same buffer is written to
 * every socket; writes never wait on a socket, and a socket whose unsent buffer
 * passes WS_MAX_BUFFERED is closed (1013) instead of slowing the room.
 *
 * Message sequences are checked per room: a jump (pub/sub lost something, e.g.
 * while the subscriber reconnected) is filled from storage before anything newer
 * is delivered, so live clients never silently miss a message.
 */
@Injectable()
export class ConnectionHub {
  private readonly logger = new Logger(ConnectionHub.name);
  private readonly rooms = new Map<string, LocalRoom>();
  private readonly maxBuffered: number;
  private gapFiller?: GapFiller;
  /** Frames written to sockets since start (read by the metrics). */
  delivered = 0;
  /** Called with the seconds one event took to reach every local socket (metrics). */
  private fanOutObserver?: (seconds: number) => void;
  /** Counts turns in which frames were written; see `write`. */
  private turn = 1;
  private turnEnding = false;
  /** Sockets corked in this turn, uncorked when it ends. */
  private readonly corked: ChatConnection[] = [];
  private readonly endTurn = () => {
    this.turn++;
    this.turnEnding = false;
    for (const conn of this.corked) {
      conn.corkedBytes = 0;
      (conn.ws as unknown as WsInternals)._socket?.uncork();
    }
    this.corked.length = 0;
  };

  constructor(
    @Inject(RoomBroker) private readonly broker: RoomBroker,
    config: ConfigService<Env, true>,
  ) {
    this.maxBuffered = config.get('WS_MAX_BUFFERED', { infer: true });
    broker.onEnvelope((roomId, envelope) => this.deliver(roomId, envelope));
    broker.onResync(() => this.resyncAll());
  }

  /** How missed messages are read back from storage (set by the gateway, which owns the messages service). */
  setGapFiller(filler: GapFiller): void {
    this.gapFiller = filler;
  }

  observeFanOut(observer: (seconds: number) => void): void {
    this.fanOutObserver = observer;
  }

  /** Adds the connection to its room (pending) and resolves once this instance receives the room's events. */
  async attach(conn: ChatConnection): Promise<void> {
    let room = this.rooms.get(conn.roomId);
    if (!room) {
      const subscribed = this.broker.subscribe(conn.roomId);
      const created: LocalRoom = { connections: new Set(), subscribed, lastSeq: -1, held: null };
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
      throw err;
    }
  }

  /**
   * Writes the history frame, then what arrived meanwhile and is newer than the
   * history (messages up to `lastSeq` are already in it), and goes live.
   */
  goLive(conn: ChatConnection, historyFrame: string, lastSeq: number): void {
    if (conn.state !== 'pending') return;
    conn.historySeq = lastSeq;
    this.write(conn, new OutboundFrame(Buffer.from(historyFrame)));
    for (const event of conn.buffered) {
      if (event.seq !== 0 && event.seq <= lastSeq) continue;
      this.write(conn, new OutboundFrame(Buffer.from(event.frame)));
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
    this.write(conn, new OutboundFrame(Buffer.from(frame)));
  }

  connections(): ChatConnection[] {
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
    if (room.held) room.held.push(event);
    else this.dispatch(roomId, room, event);
  }

  private dispatch(roomId: string, room: LocalRoom, event: RoomEvent): void {
    if (event.seq > 0) {
      // Only messages carry a sequence; events (join, leave, typing) are 0.
      const known = this.knownSeq(room);
      if (known >= 0) {
        if (event.seq <= known) return; // every live socket has it (history or a gap fill)
        if (event.seq > known + 1 && this.gapFiller) {
          room.held = [event];
          void this.fill(roomId, room, known + 1, event.seq - 1);
          return;
        }
      }
      room.lastSeq = event.seq;
    }
    this.fanOut(room, event);
  }

  private fanOut(room: LocalRoom, event: RoomEvent): void {
    const started = this.fanOutObserver ? performance.now() : 0;
    let data: OutboundFrame | undefined;
    for (const conn of room.connections) {
      if (conn.userId === event.exceptUser) continue;
      if (conn.state !== 'live') {
        if (conn.state === 'pending') conn.buffered.push(event);
        continue;
      }
      if (event.seq !== 0 && event.seq <= conn.historySeq) continue;
      data ??= new OutboundFrame(Buffer.from(event.frame));
      this.write(conn, data);
    }
    if (this.fanOutObserver) this.fanOutObserver((performance.now() - started) / 1000);
  }

  /**
   * The sequence every live socket of the room is known to have. Once a message
   * came through the stream it is the last one; before that, the lowest history
   * floor of the live sockets (a newer history must not hide notices still in flight
   * for sockets that went live earlier).
   */
  private knownSeq(room: LocalRoom): number {
    if (room.lastSeq >= 0) return room.lastSeq;
    let floor = -1;
    for (const conn of room.connections) {
      if (conn.state === 'live' && (floor < 0 || conn.historySeq < floor)) floor = conn.historySeq;
    }
    return floor;
  }

  /** Reads [fromSeq, toSeq] back from storage, delivers it, then what was held meanwhile. */
  private async fill(roomId: string, room: LocalRoom, fromSeq: number, toSeq: number): Promise<void> {
    try {
      const missed = await this.readMissed(roomId, fromSeq, toSeq);
      missed.page.forEach((frame, i) => {
        const seq = missed.fromSeq + i;
        if (seq <= room.lastSeq) return;
        room.lastSeq = seq;
        this.fanOut(room, { seq, exceptUser: '', frame });
      });
      this.logger.warn(`room ${roomId}: recovered ${missed.page.length} message(s) missed by pub/sub`);
    } catch (err) {
      // Cannot tell these clients what they missed: make them reconnect with ?since=.
      this.logger.error(`room ${roomId}: could not fill a message gap (${String(err)}); closing its sockets`);
      for (const conn of room.connections) {
        if (conn.state !== 'live') continue;
        // Nothing after the gap may reach them: a later message without the missing ones is a silent loss.
        conn.state = 'closed';
        conn.ws.close(CLOSE_INTERNAL, 'Missed messages; reconnect with ?since=');
      }
      room.lastSeq = -1;
    }
    const held = room.held ?? [];
    room.held = null;
    for (const event of held) {
      if (room.held) (room.held as RoomEvent[]).push(event);
      else this.dispatch(roomId, room, event);
    }
  }

  /** The gap from storage; retried briefly, as the subscriber may be back before the command connection. */
  private async readMissed(roomId: string, fromSeq: number, toSeq: number) {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.gapFiller!(roomId, fromSeq, toSeq);
      } catch (err) {
        if (attempt >= FILL_ATTEMPTS) throw err;
        await new Promise((resolve) => setTimeout(resolve, 250 * attempt));
      }
    }
  }

  /** After the transport reconnected: fetch whatever every local room missed. */
  private resyncAll(): void {
    if (!this.gapFiller) return;
    for (const [roomId, room] of this.rooms) {
      const known = this.knownSeq(room);
      if (known < 0 || room.held) continue;
      room.held = [];
      void this.fill(roomId, room, known + 1, Number.MAX_SAFE_INTEGER);
    }
  }

  private write(conn: ChatConnection, frame: OutboundFrame): void {
    const ws = conn.ws;
    if (ws.readyState !== WebSocket.OPEN) return;
    // The backlog already queued decides, not this frame: a large history frame
    // on an idle socket (a client recovering with ?since=) is fine, and so are the
    // frames held behind this turn's cork (see `coalesce`).
    if (ws.bufferedAmount - conn.corkedBytes > this.maxBuffered) {
      this.dropSlowConsumer(conn);
      return;
    }
    // The pre-built frame goes straight to the TCP socket when ws' sender is idle
    // (it always is here: no compression, no Blob payloads), so each delivery is
    // one write of one shared buffer; otherwise ws frames and queues it.
    const internals = ws as unknown as WsInternals;
    const socket = internals._socket;
    if (socket && internals._sender?._state === 0) {
      const held = this.coalesce(conn, socket);
      socket.write(frame.framed);
      if (held) conn.corkedBytes += frame.framed.length;
    } else ws.send(frame.payload, { binary: false });
    this.delivered++;
  }

  /**
   * The first frame a socket gets in a turn of the event loop is written at once;
   * from the second on the socket is corked, and uncorked when the turn's work is
   * done (`process.nextTick`), so a burst (many envelopes in one read from Redis, a
   * storm of joins) costs one writev per socket instead of one write per frame.
   * Order is kept: every write to the socket, ws' own included, queues behind the cork.
   * Returns whether the frame about to be written is held behind the cork.
   */
  private coalesce(conn: ChatConnection, socket: Socket): boolean {
    if (conn.writeTurn !== this.turn) {
      conn.writeTurn = this.turn;
      if (!this.turnEnding) {
        this.turnEnding = true;
        process.nextTick(this.endTurn);
      }
      return false;
    }
    if (conn.corkedBytes === 0) {
      socket.cork();
      this.corked.push(conn);
    }
    return true;
  }

  private dropSlowConsumer(conn: ChatConnection): void {
    this.logger.warn(`connection ${conn.id} in room ${conn.roomId} is a slow consumer: closing (1013)`);
    conn.ws.close(CLOSE_SLOW_CONSUMER, 'Slow consumer');
    // The close frame queues behind the unsent data; do not wait on it for long.
    setTimeout(() => conn.ws.terminate(), 5000).unref();
  }
}
