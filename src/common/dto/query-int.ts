import { Transform } from 'class-transformer';

/** A query number as SPEC §2 has them: plain decimal digits (no sign, exponent or fraction), at most 15. */
export const PLAIN_INT = /^[0-9]{1,15}$/;

/**
 * Query numbers are plain decimal integers: a string of digits becomes a number;
 * anything else (`1e2`, `+5`, `5.0`, a repeated parameter) is left as is and
 * fails the `@IsInt()` that follows.
 */
export const QueryInt = () =>
  Transform(({ value }: { value: unknown }) => (typeof value === 'string' && PLAIN_INT.test(value) ? Number(value) : value));
