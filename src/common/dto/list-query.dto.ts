import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsInt, IsOptional, Max, Min } from 'class-validator';
import { QueryInt } from './query-int.js';

export class ListQueryDto {
  @ApiPropertyOptional({ minimum: 1, maximum: 1000, default: 100, example: 100 })
  @IsOptional()
  @QueryInt()
  @IsInt({ message: 'limit must be an integer from 1 to 1000' })
  @Min(1, { message: 'limit must be an integer from 1 to 1000' })
  @Max(1000, { message: 'limit must be an integer from 1 to 1000' })
  limit: number = 100;

  @ApiPropertyOptional({ minimum: 0, default: 0, example: 0 })
  @IsOptional()
  @QueryInt()
  @IsInt({ message: 'offset must be an integer of at least 0' })
  @Min(0, { message: 'offset must be an integer of at least 0' })
  offset: number = 0;
}
