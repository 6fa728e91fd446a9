import { ErrorCode } from '../../src/common/errors/domain-error.js';
import { JsonObjectPipe } from '../../src/common/http/json-object.pipe.js';

describe(JsonObjectPipe.name, () => {
  const pipe = new JsonObjectPipe();

  it('hands a JSON object on as the same object', () => {
    const body = { content: 'x', user_id: 'u', extra: [1] };
    expect(pipe.transform(body)).toBe(body);
  });

  it.each([[null], [undefined], [[]], [[{ content: 'x' }]], ['General'], [42], [true]])(
    'refuses %j as a validation error',
    (body) => {
      expect(() => pipe.transform(body)).toThrow(
        expect.objectContaining({ code: ErrorCode.Validation, message: 'request body must be a JSON object' }),
      );
    },
  );
});
