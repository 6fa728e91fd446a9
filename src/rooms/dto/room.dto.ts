import { ApiProperty } from '@nestjs/swagger';
import { IsDefined } from 'class-validator';

export class CreateRoomDto {
  @ApiProperty({ example: 'General Chat', minLength: 1, maxLength: 100, description: 'Stored trimmed; 1-100 characters' })
  @IsDefined({ message: 'name is required' })
  name!: string;
}

export class RoomDto {
  @ApiProperty({ example: 'q3Xv9kTz0bLm2AaP' })
  id!: string;

  @ApiProperty({ example: 'General Chat' })
  name!: string;

  @ApiProperty({ example: '2024-04-01T12:00:00.000Z' })
  created_at!: string;
}
