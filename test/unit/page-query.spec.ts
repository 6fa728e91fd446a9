import { ErrorCode } from '../../src/common/errors/domain-error.js';
import { readPageQuery } from '../../src/messages/page-query.js';

const refused = (message: string) => expect.objectContaining({ code: ErrorCode.Validation, message });
const LIMIT = 'limit must be an integer from 1 to 200';

describe(readPageQuery.name, () => {
  it('defaults to the last 50, without cursors', () => {
    expect(readPageQuery({})).toEqual({ limit: 50, before: undefined, after: undefined });
  });

  it('reads a plain decimal limit and the cursors as given, and ignores other keys', () => {
    expect(readPageQuery({ limit: '007', before: 'r.0000000009', color: 'red' })).toEqual({
      limit: 7,
      before: 'r.0000000009',
      after: undefined,
    });
    expect(readPageQuery({ limit: '200', after: '' })).toEqual({ limit: 200, before: undefined, after: '' });
    expect(readPageQuery({ limit: '1' }).limit).toBe(1);
  });

  it.each([['0'], ['201'], ['-1'], ['abc'], ['1e2'], ['5.5'], [''], ['+5'], [' 5'], ['9999999999999999'], [['1', '2']]])(
    'refuses limit=%j',
    (limit) => {
      expect(() => readPageQuery({ limit })).toThrow(refused(LIMIT));
    },
  );

  it.each([['before'], ['after']])('refuses a repeated %s', (name) => {
    expect(() => readPageQuery({ [name]: ['a', 'b'] })).toThrow(refused(`${name} must be a message id`));
  });

  it('names every bad field, in the order limit, before, after', () => {
    expect(() => readPageQuery({ after: ['a', 'b'], before: ['c', 'd'], limit: 'x' })).toThrow(
      refused(`${LIMIT}; before must be a message id; after must be a message id`),
    );
  });

  it('reads a missing query as the default page', () => {
    expect(readPageQuery(undefined)).toEqual({ limit: 50, before: undefined, after: undefined });
  });
});
