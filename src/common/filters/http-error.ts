import { HttpException } from '@nestjs/common';
import { DomainError, ErrorCode } from '../errors/domain-error.js';

export interface HttpError {
  status: number;
  detail: string;
}

const STATUS_OF: Record<ErrorCode, number> = {
  [ErrorCode.Validation]: 400,
  [ErrorCode.Unauthenticated]: 401,
  [ErrorCode.Forbidden]: 403,
  [ErrorCode.RoomNotFound]: 404,
  [ErrorCode.UserNotFound]: 404,
  [ErrorCode.UsernameTaken]: 409,
  [ErrorCode.RateLimited]: 429,
  [ErrorCode.StorageUnavailable]: 503,
};

const REASON: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  406: 'Not Acceptable',
  408: 'Request Timeout',
  409: 'Conflict',
  413: 'Request body is too large',
  414: 'URI Too Long',
  415: 'Content-Type must be application/json',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

/** Fastify's own refusals (body parsing, limits), by error code. */
const FASTIFY_DETAIL: Record<string, string> = {
  FST_ERR_CTP_EMPTY_JSON_BODY: 'Request body is empty; send a JSON object',
  FST_ERR_CTP_INVALID_JSON_BODY: 'Malformed JSON in request body',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'Content-Type must be application/json',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'Content-Length does not match the body',
  FST_ERR_CTP_INVALID_TYPE: 'Content-Type must be application/json',
};

/**
 * The single translation from anything thrown to `{"detail"}` + status. Domain
 * errors by code, Nest HTTP exceptions and Fastify's parser errors by status;
 * everything else is a 500 that says nothing of the internals.
 */
export function toHttpError(err: unknown, bodyLimit?: number): HttpError {
  if (err instanceof DomainError) return { status: STATUS_OF[err.code], detail: err.message };
  if (err instanceof HttpException) {
    const status = err.getStatus();
    if (status === 500) return { status, detail: REASON[500] };
    if (status === 413) {
      return { status, detail: bodyLimit ? `Request body is too large (limit ${bodyLimit} bytes)` : REASON[413] };
    }
    // Fastify's refusals arrive wrapped by Nest, the Fastify error as the cause.
    const cause = err.cause as { code?: unknown } | undefined;
    const byCode = typeof cause?.code === 'string' ? FASTIFY_DETAIL[cause.code] : undefined;
    if (byCode) return { status, detail: byCode };
    if (cause instanceof SyntaxError) return { status: 400, detail: 'Malformed JSON in request body' };
    if (status === 415 || status === 404) return { status, detail: REASON[status] };
    const body = err.getResponse();
    const message = typeof body === 'object' && body !== null ? (body as { message?: unknown }).message : body;
    return { status, detail: typeof message === 'string' && message !== '' ? message : (REASON[status] ?? 'Error') };
  }
  return { status: 500, detail: REASON[500] };
}
