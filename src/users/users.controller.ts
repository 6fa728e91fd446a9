import { Get, HttpCode, Param, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiAuthErrors, RequireAdmin } from '../auth/auth.decorators.js';
import { ApiController, ValidBody, ValidQuery } from '../common/http/api-controller.js';
import { ListQueryDto } from '../common/dto/list-query.dto.js';
import { ApiErrors } from '../common/http/api-errors.decorator.js';
import { CreateUserDto, UserDto } from './dto/user.dto.js';
import type { User } from './user.js';
import { UsersService } from './users.service.js';

@ApiTags('users')
@ApiBearerAuth()
@ApiAuthErrors()
@ApiController('users')
export class UsersController {
  constructor(private readonly users: UsersService) {}

  @Post()
  @HttpCode(200)
  @RequireAdmin()
  @ApiOperation({
    summary: 'Create a user (usernames are unique, case-insensitively)',
    description: 'With authentication on, the token needs the claim `"admin": true`.',
  })
  @ApiOkResponse({ type: UserDto })
  @ApiErrors(400, 409, 413, 415)
  create(@ValidBody() body: CreateUserDto): Promise<User> {
    return this.users.create(body.username);
  }

  @Get()
  @ApiOperation({ summary: 'List users, oldest first' })
  @ApiOkResponse({ type: [UserDto] })
  @ApiErrors(400)
  list(@ValidQuery() query: ListQueryDto): Promise<User[]> {
    return this.users.list(query.offset, query.limit);
  }

  @Get(':user_id')
  @ApiOperation({ summary: 'Get a user' })
  @ApiOkResponse({ type: UserDto })
  @ApiErrors(404)
  get(@Param('user_id') userId: string): Promise<User> {
    return this.users.get(userId);
  }
}
