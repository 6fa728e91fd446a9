import { type ArgumentMetadata, ValidationPipe, type ValidationError } from '@nestjs/common';
import { DomainError } from '../errors/domain-error.js';
import { jsonObjectBody, NOT_A_JSON_OBJECT } from './json-body.js';

function firstMessages(errors: ValidationError[], parent = ''): string[] {
  return errors.flatMap((e) => {
    const path = parent ? `${parent}.${e.property}` : e.property;
    const own = Object.values(e.constraints ?? {});
    if (own.length > 0) return [e.property === undefined ? NOT_A_JSON_OBJECT : own[0]];
    return firstMessages(e.children ?? [], path);
  });
}

/**
 * Whitelisted, transforming validation whose failures become domain errors
 * (400 `{"detail"}` naming the field). Unknown JSON fields are dropped silently.
 * A body goes through `jsonObjectBody()` first, like the routes that take no DTO: nested
 * deeper than `MAX_JSON_DEPTH` (class-transformer walks every value recursively, and
 * thousands of nested arrays would overflow the stack: a 500), or not an object, is
 * refused before class-validator sees it.
 */
class ApiValidationPipe extends ValidationPipe {
  override async transform(value: unknown, metadata: ArgumentMetadata): Promise<unknown> {
    if (metadata.type === 'body') jsonObjectBody(value);
    return super.transform(value, metadata);
  }
}

export function createValidationPipe(): ValidationPipe {
  return new ApiValidationPipe({
    whitelist: true,
    forbidNonWhitelisted: false,
    transform: true,
    forbidUnknownValues: true,
    stopAtFirstError: true,
    validationError: { target: false, value: false },
    exceptionFactory: (errors) => {
      const messages = [...new Set(firstMessages(errors))];
      return DomainError.validation(messages.length > 0 ? messages.join('; ') : NOT_A_JSON_OBJECT);
    },
  });
}
