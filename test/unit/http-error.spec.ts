import {
  BadRequestException,
  HttpException,
  InternalServerErrorException,
  NotFoundException,
  PayloadTooLargeException,
  UnsupportedMediaTypeException,
} from '@nestjs/common';
import { DomainError, ErrorCode } from '../../src/common/errors/domain-error.js';
import { toHttpError } from '../../src/common/filters/http-error.js';

describe(toHttpError.name, () => {
  it.each([
    [ErrorCode.Validation, 400],
    [ErrorCode.Unauthenticated, 401],
    [ErrorCode.Forbidden, 403],
    [ErrorCode.RoomNotFound, 404],
    [ErrorCode.UserNotFound, 404],
    [ErrorCode.UsernameTaken, 409],
    [ErrorCode.RateLimited, 429],
    [ErrorCode.StorageUnavailable, 503],
  ])('maps the domain code %s to %i with its message as detail', (code, status) => {
    expect(toHttpError(new DomainError(code, 'some reason'))).toEqual({ status, detail: 'some reason' });
  });

  it('keeps the contract details of the domain factories', () => {
    expect(toHttpError(DomainError.roomNotFound())).toEqual({ status: 404, detail: 'Room not found' });
    expect(toHttpError(DomainError.userNotFound())).toEqual({ status: 404, detail: 'User not found' });
    expect(toHttpError(DomainError.storageUnavailable())).toEqual({ status: 503, detail: 'Storage unavailable' });
  });

  it('answers 404 Not Found for an unknown route', () => {
    expect(toHttpError(new NotFoundException('Cannot GET /api/v1/nope'))).toEqual({ status: 404, detail: 'Not Found' });
  });

  it('answers 413 naming the limit when it is known', () => {
    expect(toHttpError(new PayloadTooLargeException(), 1024)).toEqual({
      status: 413,
      detail: 'Request body is too large (limit 1024 bytes)',
    });
    expect(toHttpError(new PayloadTooLargeException())).toEqual({ status: 413, detail: 'Request body is too large' });
  });

  it('answers 415 for a body that is not JSON', () => {
    expect(toHttpError(new UnsupportedMediaTypeException('Unsupported Media Type: text/plain'))).toEqual({
      status: 415,
      detail: 'Content-Type must be application/json',
    });
  });

  it.each([
    ['FST_ERR_CTP_INVALID_JSON_BODY', 400, 'Malformed JSON in request body'],
    ['FST_ERR_CTP_EMPTY_JSON_BODY', 400, 'Request body is empty; send a JSON object'],
    ['FST_ERR_CTP_INVALID_MEDIA_TYPE', 415, 'Content-Type must be application/json'],
  ])('translates the Fastify refusal %s', (code, status, detail) => {
    const err = new HttpException('raw fastify text', status, { cause: Object.assign(new Error('x'), { code }) });
    expect(toHttpError(err)).toEqual({ status, detail });
  });

  it('answers 400 Malformed JSON for a wrapped SyntaxError', () => {
    const err = new BadRequestException('Unexpected token', { cause: new SyntaxError('Unexpected token') });
    expect(toHttpError(err)).toEqual({ status: 400, detail: 'Malformed JSON in request body' });
  });

  it('keeps the message of an HTTP exception with a string message', () => {
    expect(toHttpError(new HttpException('Too Many Requests', 429))).toEqual({
      status: 429,
      detail: 'Too Many Requests',
    });
    expect(toHttpError(new BadRequestException('limit must be an integer'))).toEqual({
      status: 400,
      detail: 'limit must be an integer',
    });
  });

  it('falls back to the reason phrase when the message is not a string', () => {
    expect(toHttpError(new BadRequestException(['a', 'b']))).toEqual({ status: 400, detail: 'Bad Request' });
  });

  it('never leaks the message of a 500', () => {
    expect(toHttpError(new InternalServerErrorException('db password is hunter2'))).toEqual({
      status: 500,
      detail: 'Internal Server Error',
    });
  });

  it.each([[new Error('boom at /srv/app.js:12')], [new TypeError('x is undefined')], ['a string'], [null], [undefined]])(
    'answers 500 Internal Server Error for the unexpected %p',
    (thrown) => {
      expect(toHttpError(thrown)).toEqual({ status: 500, detail: 'Internal Server Error' });
    },
  );
});
