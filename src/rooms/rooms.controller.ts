import { Get, HttpCode, Param, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiAuthErrors } from '../auth/auth.decorators.js';
import { ApiController, ValidBody, ValidQuery } from '../common/http/api-controller.js';
import { ListQueryDto } from '../common/dto/list-query.dto.js';
import { ApiErrors } from '../common/http/api-errors.decorator.js';
import { CreateRoomDto, RoomDto } from './dto/room.dto.js';
import type { Room } from './room.js';
import { RoomsService } from './rooms.service.js';

@ApiTags('rooms')
@ApiBearerAuth()
@ApiAuthErrors()
@ApiController('rooms')
export class RoomsController {
  constructor(private readonly rooms: RoomsService) {}

  @Post()
  @HttpCode(200)
  @ApiOperation({ summary: 'Create a room' })
  @ApiOkResponse({ type: RoomDto })
  @ApiErrors(400, 413, 415)
  create(@ValidBody() body: CreateRoomDto): Promise<Room> {
    return this.rooms.create(body.name);
  }

  @Get()
  @ApiOperation({ summary: 'List rooms, oldest first' })
  @ApiOkResponse({ type: [RoomDto] })
  @ApiErrors(400)
  list(@ValidQuery() query: ListQueryDto): Promise<Room[]> {
    return this.rooms.list(query.offset, query.limit);
  }

  @Get(':room_id')
  @ApiOperation({ summary: 'Get a room' })
  @ApiOkResponse({ type: RoomDto })
  @ApiErrors(404)
  get(@Param('room_id') roomId: string): Promise<Room> {
    return this.rooms.get(roomId);
  }
}
