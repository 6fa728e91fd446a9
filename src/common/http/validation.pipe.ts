import { type ArgumentMetadata, ValidationPipe, type ValidationError } from '@nestjs/common';
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

/** Deepest nesting of objects and arrays a request body or socket frame may have; the API's own are flat. */
const MAX_BODY_DEPTH = 32;

/** Whether `value` nests objects or arrays more than `max` levels deep (walked without recursion). */
function nestedDeeperThan(value: unknown, max: number): boolean {
  if (typeof value !== 'object' || value === null) return false;
  const stack: [object, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [node, depth] = stack.pop()!;
    if (depth > max) return true;
    for (const child of Object.values(node)) {
      if (typeof child === 'object' && child !== null) stack.push([child as object, depth + 1]);
    }
  }
  return false;
}

/**
 * Whitelisted, transforming validation whose failures become domain errors
 * (400 `{"detail"}` naming the field). Unknown JSON fields are dropped silently.
 * A body nested deeper than `MAX_BODY_DEPTH` is refused first: class-transformer walks
 * every value recursively, and thousands of nested arrays would overflow the stack (a 500).
 */
class ApiValidationPipe extends ValidationPipe {
  override async transform(value: unknown, metadata: ArgumentMetadata): Promise<unknown> {
    if (metadata.type === 'body' && nestedDeeperThan(value, MAX_BODY_DEPTH)) {
      throw DomainError.validation(`JSON nested more than ${MAX_BODY_DEPTH} levels deep`);
    }
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
