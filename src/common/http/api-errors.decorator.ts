import { applyDecorators } from '@nestjs/common';
import { ApiResponse } from '@nestjs/swagger';
import { ErrorDto } from '../dto/error.dto.js';

const EXAMPLES: Record<number, [string, string]> = {
  400: ['Invalid input', 'name must be 1-100 characters after trimming'],
  404: ['Unknown resource', 'Room not found'],
  409: ['Conflict', 'Username already taken'],
  413: ['Body over BODY_LIMIT', 'Request body is too large'],
  415: ['Body is not application/json', 'Content-Type must be application/json'],
  429: ['Rate limited (Retry-After set)', 'Too Many Requests'],
  500: ['Unexpected failure', 'Internal Server Error'],
  503: ['Storage unreachable', 'Storage unavailable'],
};

/** Documents the `{"detail"}` error answers of a route. Every route can answer 429, 500 and 503. */
export function ApiErrors(...statuses: number[]) {
  const all = [...new Set([...statuses, 429, 500, 503])];
  return applyDecorators(
    ...all.map((status) =>
      ApiResponse({
        status,
        description: EXAMPLES[status][0],
        type: ErrorDto,
        example: { detail: EXAMPLES[status][1] },
      }),
    ),
  );
}
