import { ApiProperty } from '@nestjs/swagger';
import { IsDefined } from 'class-validator';

export class CreateUserDto {
  @ApiProperty({
    example: 'john_doe',
    pattern: '^[A-Za-z0-9_.-]{3,32}$',
    description: 'Unique case-insensitively; not trimmed',
  })
  @IsDefined({ message: 'username is required' })
  username!: string;
}

export class UserDto {
  @ApiProperty({ example: 'Zk1vT3n0cPq8RwYe' })
  id!: string;

  @ApiProperty({ example: 'john_doe' })
  username!: string;

  @ApiProperty({ example: '2024-04-01T12:00:00.000Z' })
  created_at!: string;
}
