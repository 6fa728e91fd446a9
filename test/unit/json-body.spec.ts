import { ErrorCode } from '../../src/common/errors/domain-error.js';
import { jsonObjectBody } from '../../src/common/http/json-body.js';

/** JSON arrays nested `levels` deep. */
const deep = (levels: number): unknown => JSON.parse(`${'['.repeat(levels)}${']'.repeat(levels)}`);

describe(jsonObjectBody.name, () => {
  it('hands a JSON object on as the same object', () => {
    const body = { content: 'x', user_id: 'u', extra: [1] };
    expect(jsonObjectBody(body)).toBe(body);
  });

  it('accepts an object nested 32 levels deep, counting itself', () => {
    const body = { content: 'x', pad: deep(31) };
    expect(jsonObjectBody(body)).toBe(body);
  });

  it.each([[null], [undefined], [[]], [[{ content: 'x' }]], ['General'], [42], [true]])(
    'refuses %j as a validation error',
    (body) => {
      expect(() => jsonObjectBody(body)).toThrow(
        expect.objectContaining({ code: ErrorCode.Validation, message: 'request body must be a JSON object' }),
      );
    },
  );

  it.each([
    ['an object with a field 32 levels deep (33 with the object)', () => ({ content: 'x', pad: deep(32) })],
    ['an array 5000 levels deep (the depth is named before the type)', () => deep(5000)],
  ])('refuses %s as nested too deeply', (_what, body) => {
    expect(() => jsonObjectBody(body())).toThrow(
      expect.objectContaining({ code: ErrorCode.Validation, message: 'JSON nested more than 32 levels deep' }),
    );
  });
});
