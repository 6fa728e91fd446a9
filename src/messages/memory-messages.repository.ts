import { type MemoryRoomBroker } from '../realtime/room-broker.js';
import { messageEnvelope } from '../realtime/room-event.js';
import { timestamp } from '../common/text.js';
import { assembleMessage, messageBody, messageId, type NewMessage } from './message.js';
import { type AppendResult, MessagesRepository, type SeqRange } from './messages.repository.js';

interface RoomLog {
  /** Sequence of the newest message. */
  last: number;
  /** JSON of the retained messages, oldest first; items[i] has sequence last - items.length + 1 + i. */
  items: string[];
}

interface Remembered {
  /** The first send's stored JSON. */
  json: string;
  expiresAt: number;
}

export interface MemoryMessagesOptions {
  retention: number;
  idempotencyTtlSeconds: number;
}

/**
 * The embedded store. Storing and publishing happen in one synchronous step, the
 * in-process counterpart of the Redis send script.
 */
export class MemoryMessagesRepository extends MessagesRepository {
  private readonly rooms = new Map<string, RoomLog>();
  private readonly idempotency = new Map<string, Remembered>();
  private lastMs = 0;
  private inserts = 0;

  constructor(
    private readonly broker: MemoryRoomBroker,
    private readonly options: MemoryMessagesOptions,
  ) {
    super();
  }

  append(input: NewMessage): Promise<AppendResult> {
    const now = Date.now();
    const idemKey =
      input.clientMsgId === undefined ? undefined : `${input.roomId}\u0000${input.userId}\u0000${input.clientMsgId}`;
    if (idemKey !== undefined) {
      const seen = this.idempotency.get(idemKey);
      if (seen && seen.expiresAt > now) return Promise.resolve({ json: seen.json, duplicate: true });
    }
    let log = this.rooms.get(input.roomId);
    if (!log) {
      log = { last: 0, items: [] };
      this.rooms.set(input.roomId, log);
    }
    const seq = ++log.last;
    // Never let created_at run backwards within this process.
    this.lastMs = Math.max(this.lastMs, now);
    const id = messageId(input.roomId, seq);
    const createdAt = timestamp(this.lastMs);
    const { body, tail } = messageBody(input);
    const json = assembleMessage(id, body, createdAt, tail);
    log.items.push(json);
    if (log.items.length > this.options.retention) log.items.shift();
    if (idemKey !== undefined) {
      this.sweepIdempotency(now);
      this.idempotency.set(idemKey, { json, expiresAt: now + this.options.idempotencyTtlSeconds * 1000 });
    }
    this.broker.publishNow(input.roomId, messageEnvelope(seq, json));
    return Promise.resolve({ json, duplicate: false });
  }

  range(roomId: string, fromSeq: number, toSeq: number, limit: number): Promise<SeqRange> {
    const log = this.rooms.get(roomId) ?? { last: 0, items: [] };
    const first = log.last - log.items.length + 1;
    const hi = Math.min(toSeq, log.last);
    const lo = Math.max(fromSeq, first, hi - limit + 1);
    const page = hi < lo ? [] : log.items.slice(lo - first, hi - first + 1);
    return Promise.resolve({ first, last: log.last, page });
  }

  /** Drops expired idempotency records, amortised: a full pass at most once per 1024 inserts. */
  private sweepIdempotency(now: number): void {
    if (++this.inserts % 1024 !== 0) return;
    for (const [key, value] of this.idempotency) if (value.expiresAt <= now) this.idempotency.delete(key);
  }
}
