import { Injectable, Optional } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { DomainError } from '../common/errors/domain-error.js';
import { codePointLength } from '../common/text.js';
import type { Env } from '../config/env.schema.js';
import { RoomsService } from '../rooms/rooms.service.js';
import { MetricsService, type Transport } from '../observability/metrics.service.js';
import { UsersService } from '../users/users.service.js';
import { MESSAGE_TYPES, type MessageType, seqOfMessageId } from './message.js';
import { type AppendResult, type MessagePage, MessagesRepository } from './messages.repository.js';

/** What a sender hands in, over REST or a socket, before validation. */
export interface SendInput {
  roomId: string;
  userId: unknown;
  content: unknown;
  type?: unknown;
  clientMsgId?: unknown;
  /** Where the message came from (metrics only). */
  transport?: Transport;
}

export interface PageQuery {
  limit: number;
  before?: string;
  after?: string;
}

export interface History {
  page: MessagePage;
  /** Set only when the client asked to recover from a message id. */
  recovered?: boolean;
  /** Sequence of the newest message in the page's room at read time (0 if none). */
  lastSeq: number;
}

/** Recovery replays at most this many messages; beyond it the client gets the usual history. */
export const MAX_RECOVERY = 1000;
const CLIENT_MSG_ID_MAX = 64;

/**
 * The one send path, shared by REST and the socket gateway: validate, check the
 * room and user, then store-and-publish through the repository.
 */
@Injectable()
export class MessagesService {
  private readonly maxLength: number;
  private readonly historyLimit: number;

  constructor(
    private readonly messages: MessagesRepository,
    private readonly rooms: RoomsService,
    private readonly users: UsersService,
    config: ConfigService<Env, true>,
    @Optional() private readonly metrics?: MetricsService,
  ) {
    this.maxLength = config.get('MESSAGE_MAX_LENGTH', { infer: true });
    this.historyLimit = config.get('HISTORY_LIMIT', { infer: true });
  }

  async send(input: SendInput): Promise<AppendResult> {
    const { userId, content, clientMsgId } = input;
    const type = input.type === undefined ? 'text' : input.type;
    if (typeof content !== 'string') throw DomainError.validation(`content ${content == null ? 'is required' : 'must be a string'}`);
    if (typeof userId !== 'string') throw DomainError.validation(`user_id ${userId == null ? 'is required' : 'must be a string'}`);
    const trimmed = content.trim();
    if (trimmed === '') throw DomainError.validation('content must not be blank');
    // Limits apply after trimming; the content is stored exactly as sent.
    if (trimmed.length > this.maxLength && codePointLength(trimmed) > this.maxLength) {
      throw DomainError.validation(`content must be at most ${this.maxLength} characters`);
    }
    if (!(MESSAGE_TYPES as readonly unknown[]).includes(type)) {
      throw DomainError.validation(`type must be one of ${MESSAGE_TYPES.join(', ')}`);
    }
    if (
      clientMsgId !== undefined &&
      (typeof clientMsgId !== 'string' || clientMsgId.length === 0 || codePointLength(clientMsgId) > CLIENT_MSG_ID_MAX)
    ) {
      throw DomainError.validation(`client_msg_id must be a string of 1-${CLIENT_MSG_ID_MAX} characters`);
    }
    // Known ids (the common case) cost no promise and no await on the message path.
    if (!this.rooms.isKnown(input.roomId)) await this.rooms.assertExists(input.roomId);
    if (!this.users.isKnown(userId)) await this.users.assertExists(userId);
    const result = await this.messages.append({
      roomId: input.roomId,
      userId,
      content,
      type: type as MessageType,
      clientMsgId: clientMsgId as string | undefined,
    });
    if (!result.duplicate) this.metrics?.countStored(input.transport ?? 'rest');
    return result;
  }

  /**
   * GET /messages: the last `limit`, or the page just before / after a message id, oldest
   * first, as the JSON array the route answers.
   */
  async list(roomId: string, query: PageQuery): Promise<Buffer> {
    if (!this.rooms.isKnown(roomId)) await this.rooms.assertExists(roomId);
    const { limit, before, after } = query;
    if (before !== undefined && after !== undefined) {
      throw DomainError.validation('before and after cannot be used together');
    }
    if (before !== undefined) {
      const seq = this.cursor(roomId, 'before', before);
      return this.messages.rangeJson(roomId, seq - limit, seq - 1, limit);
    }
    if (after !== undefined) {
      const seq = this.cursor(roomId, 'after', after);
      return this.messages.rangeJson(roomId, seq + 1, seq + limit, limit);
    }
    return this.messages.rangeJson(roomId, 1, Number.MAX_SAFE_INTEGER, limit);
  }

  /**
   * The history frame's messages: the last HISTORY_LIMIT, or, with `since`, exactly
   * the messages after it when all of them are still retained (at most MAX_RECOVERY).
   * Never a partial replay.
   */
  async history(roomId: string, since?: string): Promise<History> {
    if (since !== undefined) {
      const seq = seqOfMessageId(roomId, since);
      if (seq !== undefined) {
        const r = await this.messages.range(roomId, seq + 1, seq + MAX_RECOVERY, MAX_RECOVERY);
        if (seq >= r.first - 1 && seq <= r.last && r.last - seq <= MAX_RECOVERY) {
          return { page: r.page, recovered: true, lastSeq: r.last };
        }
      }
    }
    const r = await this.messages.range(roomId, 1, Number.MAX_SAFE_INTEGER, this.historyLimit);
    return since === undefined ? { page: r.page, lastSeq: r.last } : { page: r.page, recovered: false, lastSeq: r.last };
  }

  /** Retained messages with sequence in [fromSeq, toSeq] (a live stream's gap fill). */
  async missed(roomId: string, fromSeq: number, toSeq: number): Promise<{ fromSeq: number; page: MessagePage }> {
    const r = await this.messages.range(roomId, fromSeq, toSeq, MAX_RECOVERY);
    const lo = Math.min(toSeq, r.last) - r.page.length + 1;
    // More missed than one page, or already trimmed: no exact fill is possible.
    if (lo > Math.max(fromSeq, r.first) || fromSeq < r.first) {
      throw DomainError.validation('too many messages missed to fill the gap');
    }
    return { fromSeq: lo, page: r.page };
  }

  private cursor(roomId: string, name: string, id: string): number {
    const seq = seqOfMessageId(roomId, id);
    if (seq === undefined) throw DomainError.validation(`${name} must be the id of a message in this room`);
    return seq;
  }
}
