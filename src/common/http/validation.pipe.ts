import { ValidationPipe, type ValidationError } from '@nestjs/common';
import { DomainError } from '../errors/domain-error.js';
import { NOT_A_JSON_OBJECT } from './json-object.pipe.js';

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
 */
export function createValidationPipe(): ValidationPipe {
  return new ValidationPipe({
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
