import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { MESSAGE_TYPES } from '../message.js';
import { DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT } from '../page-query.js';

/**
 * The API document's shape of a send. Not validated by class-validator: every rule
 * (required, string, blank, length, type values) lives in `MessagesService.send()`,
 * shared with the socket, and the controller hands the body straight to it.
 */
export class SendMessageDto {
  @ApiProperty({ example: 'Hello', description: 'Not blank; at most MESSAGE_MAX_LENGTH (4000) characters; stored exactly as sent' })
  content!: string;

  @ApiProperty({ example: 'Zk1vT3n0cPq8RwYe' })
  user_id!: string;

  @ApiPropertyOptional({ enum: MESSAGE_TYPES, default: 'text' })
  type?: string;

  @ApiPropertyOptional({
    example: 'c0f8a6e2-1',
    minLength: 1,
    maxLength: 64,
    description: 'Idempotency key: a repeat within IDEMPOTENCY_TTL answers the original message',
  })
  client_msg_id?: string;
}

export class MessageDto {
  @ApiProperty({ example: 'q3Xv9kTz0bLm2AaP.0000000001', description: 'Opaque; increases in the room order' })
  id!: string;

  @ApiProperty({ example: 'q3Xv9kTz0bLm2AaP' })
  room_id!: string;

  @ApiProperty({ example: 'Zk1vT3n0cPq8RwYe' })
  user_id!: string;

  @ApiProperty({ example: 'Hello' })
  content!: string;

  @ApiProperty({ enum: MESSAGE_TYPES, example: 'text' })
  type!: string;

  @ApiProperty({ example: '2024-04-01T12:00:00.000Z' })
  created_at!: string;

  @ApiPropertyOptional({ example: 'c0f8a6e2-1', description: 'Present when the sender gave one' })
  client_msg_id?: string;
}

/**
 * The API document's shape of the page query. Not validated by class-validator: the
 * controller reads the query with `readPageQuery()` (../page-query.ts), same rules.
 */
export class MessagesQueryDto {
  @ApiPropertyOptional({ minimum: 1, maximum: MAX_PAGE_LIMIT, default: DEFAULT_PAGE_LIMIT })
  limit?: number;

  @ApiPropertyOptional({ description: 'The `limit` messages just older than this message id' })
  before?: string;

  @ApiPropertyOptional({ description: 'The `limit` messages just newer than this message id' })
  after?: string;
}
