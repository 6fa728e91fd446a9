import { Body, Get, Header, HttpCode, Param, Post, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiOkResponse, ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import { ActsAsUser, ApiAuthErrors } from '../auth/auth.decorators.js';
import { ApiController } from '../common/http/api-controller.js';
import { ApiErrors } from '../common/http/api-errors.decorator.js';
import { jsonObjectBody } from '../common/http/json-body.js';
import { MessageDto, MessagesQueryDto, SendMessageDto } from './dto/message.dto.js';
import { MessagesService } from './messages.service.js';
import { readPageQuery } from './page-query.js';

@ApiTags('messages')
@ApiBearerAuth()
@ApiAuthErrors()
@ApiController('rooms/:room_id/messages')
export class MessagesController {
  constructor(private readonly messages: MessagesService) {}

  @Post()
  @HttpCode(200)
  @Header('content-type', 'application/json; charset=utf-8')
  @ActsAsUser('user_id')
  @ApiOperation({
    summary: 'Send a message',
    description:
      'Stored, then broadcast to every WebSocket client in the room on every instance. ' +
      "With authentication on, `user_id` must be the token's `sub`.",
  })
  @ApiBody({ type: SendMessageDto })
  @ApiOkResponse({ type: MessageDto })
  @ApiErrors(400, 404, 413, 415)
  async send(@Param('room_id') roomId: string, @Body() raw: unknown): Promise<Buffer> {
    // MessagesService.send() checks every field (the socket path needs the same rules): no DTO validation here,
    // and no pipe on either parameter (see jsonObjectBody).
    const body = jsonObjectBody(raw);
    const { json } = await this.messages.send({
      roomId,
      userId: body.user_id,
      content: body.content,
      type: body.type,
      clientMsgId: body.client_msg_id,
    });
    // The message as stored (serialised once, by the store), answered as one buffer, as GET answers its page.
    return Buffer.from(json);
  }

  @Get()
  @Header('content-type', 'application/json; charset=utf-8')
  @ApiOperation({
    summary: 'Read messages, oldest first',
    description: 'The last `limit` messages, or with `before`/`after` the page just older/newer than a message id.',
  })
  @ApiQuery({ type: MessagesQueryDto })
  @ApiOkResponse({ type: [MessageDto] })
  @ApiErrors(400, 404)
  async list(@Param('room_id') roomId: string, @Query() query: unknown): Promise<Buffer> {
    // readPageQuery checks the query by hand (no pipe, no class-validator pass); the DTO is the API document's.
    // Stored messages are kept as their JSON text: the page is their bytes joined, never re-serialised, and
    // answered as one buffer, written as it is (a string body would be copied twice more on its way out).
    return this.messages.list(roomId, readPageQuery(query));
  }
}
