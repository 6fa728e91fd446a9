import { ApiProperty } from '@nestjs/swagger';

/** The one error body of the API. */
export class ErrorDto {
  @ApiProperty({ example: 'Room not found', description: 'Human-readable reason' })
  detail!: string;
}
