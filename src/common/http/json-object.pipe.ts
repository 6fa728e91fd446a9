import { type PipeTransform } from '@nestjs/common';
import { DomainError } from '../errors/domain-error.js';

export const NOT_A_JSON_OBJECT = 'request body must be a JSON object';

/**
 * A request body that must be a JSON object, handed on as it is. For routes whose
 * service checks every field itself (the message send path, shared with the
 * socket), so the body is not validated twice; the DTO stays for the API docs.
 */
export class JsonObjectPipe implements PipeTransform<unknown, Record<string, unknown>> {
  transform(value: unknown): Record<string, unknown> {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw DomainError.validation(NOT_A_JSON_OBJECT);
    }
    return value as Record<string, unknown>;
  }
}
