import { PLAIN_INT } from '../common/dto/query-int.js';
import { DomainError } from '../common/errors/domain-error.js';
import type { PageQuery } from './messages.service.js';

export const DEFAULT_PAGE_LIMIT = 50;
export const MAX_PAGE_LIMIT = 200;
const LIMIT_RULE = `limit must be an integer from 1 to ${MAX_PAGE_LIMIT}`;

/**
 * The query of `GET /rooms/{room_id}/messages`, read by hand rather than by the
 * validation pipe: it is the busiest read route, and class-transformer and
 * class-validator allocated about 9.5 KB and cost about 25,000 instructions of it per
 * request (`MessagesQueryDto` describes it in the API document). `limit` is a plain
 * integer 1-200 (default 50), `before` / `after` one string each (a repeated parameter
 * is an array: refused); several bad fields are named together, in that order; other
 * query keys are ignored.
 */
export function readPageQuery(query: unknown): PageQuery {
  const { limit, before, after } = (typeof query === 'object' && query !== null ? query : {}) as Record<string, unknown>;
  const errors: string[] = [];
  let pageLimit = DEFAULT_PAGE_LIMIT;
  if (limit !== undefined) {
    const n = typeof limit === 'string' && PLAIN_INT.test(limit) ? Number(limit) : NaN;
    if (n >= 1 && n <= MAX_PAGE_LIMIT) pageLimit = n;
    else errors.push(LIMIT_RULE);
  }
  if (before !== undefined && typeof before !== 'string') errors.push('before must be a message id');
  if (after !== undefined && typeof after !== 'string') errors.push('after must be a message id');
  if (errors.length > 0) throw DomainError.validation(errors.join('; '));
  return {
    limit: pageLimit,
    before: typeof before === 'string' ? before : undefined,
    after: typeof after === 'string' ? after : undefined,
  };
}
