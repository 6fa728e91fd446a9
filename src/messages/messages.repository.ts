import type { NewMessage } from './message.js';

export interface AppendResult {
  /**
   * The stored message's JSON text, keys in contract order: exactly what was broadcast, what a
   * page lists, and what POST answers (as it is: the message is serialised once, where it is stored).
   */
  json: string;
  /** The (room, user, client_msg_id) was seen within the idempotency window: nothing was stored or published. */
  duplicate: boolean;
}

/** Stored messages as their JSON text, oldest first (messages are immutable, so serialised once). */
export type MessagePage = string[];

export interface SeqRange {
  /** Sequence of the oldest retained message (last + 1 when none is retained). */
  first: number;
  /** Sequence of the newest message (0 when none was ever sent). */
  last: number;
  /** The retained messages asked for. */
  page: MessagePage;
}

/**
 * Storage port for messages. `append` stores, trims to retention and publishes the
 * message envelope on the room's broker channel as one atomic step, so every
 * instance sees messages in storage order.
 */
export abstract class MessagesRepository {
  abstract append(input: NewMessage): Promise<AppendResult>;
  /**
   * The newest `limit` retained messages with sequence in [fromSeq, toSeq], with
   * the retained window, read atomically.
   */
  abstract range(roomId: string, fromSeq: number, toSeq: number, limit: number): Promise<SeqRange>;

  /**
   * The same messages as `range(...).page`, as the text of one JSON array (`[m1,m2,...]`,
   * `[]` for none): what `GET /messages` answers. A driver that can join the stored
   * bytes without decoding them overrides this (the Redis one does).
   */
  rangeJson(roomId: string, fromSeq: number, toSeq: number, limit: number): Promise<Buffer> {
    return this.range(roomId, fromSeq, toSeq, limit).then(({ page }) => Buffer.from(`[${page.join(',')}]`));
  }
}
