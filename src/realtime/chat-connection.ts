import { randomBytes } from 'node:crypto';
import type { WebSocket } from 'ws';
import type { RoomEvent } from './room-event.js';

/**
 * One open socket in one room. Until the history frame has been written the
 * connection is `pending`: live events are buffered so that none is lost or
 * duplicated between history and the live stream.
 */
export class ChatConnection {
  readonly id = randomBytes(6).toString('base64url');
  state: 'pending' | 'live' | 'closed' = 'pending';
  /** Events that arrived while pending, in broker order. */
  buffered: RoomEvent[] = [];
  /**
   * Messages up to this sequence were in the history frame. Their pub/sub notices
   * can still arrive after it (the history is read on another Redis connection),
   * and are skipped.
   */
  historySeq = 0;
  /** Answered the last heartbeat ping. */
  alive = true;
  /** When a typing frame of this connection was last relayed (ms). */
  lastTypingAt = 0;
  /** Counted in presence (so a leave is owed on close). */
  present = false;
  /** The hub's turn in which a frame was last written to this socket (see `ConnectionHub.write`). */
  writeTurn = 0;
  /**
   * Bytes the hub wrote behind the cork this turn (more than 0: the socket is corked
   * until the turn ends). Not a backlog: the kernel has not been offered them yet.
   */
  corkedBytes = 0;

  /** The socket closed (state is re-read after every await). */
  get closed(): boolean {
    return this.state === 'closed';
  }

  constructor(
    readonly ws: WebSocket,
    readonly roomId: string,
    readonly userId: string,
  ) {}
}
