import { codePointLength, newId, timestamp } from '../../src/common/text.js';

describe(codePointLength.name, () => {
  it.each([
    ['', 0],
    ['abc', 3],
    ['👋', 1],
    ['👋🏽', 2],
    ['𝄞', 1],
    ['日本語', 3],
    ['é', 1],
    ['e\u0301', 2],
    ['a👋b', 3],
    ['\ud83d', 1],
    ['\udc4b', 1],
    ['a\ud83d', 2],
    ['\udc4b\ud83d', 2],
    ['\ud83d\ud83d\udc4b', 2],
  ])('counts %j as %i code points', (s, n) => {
    expect(codePointLength(s)).toBe(n);
  });

  it('agrees with the string iterator', () => {
    const samples = ['👋'.repeat(4000), `${'a'.repeat(50)}👋🏽${'ü'.repeat(50)}`, '\ud800x\udfff\ud800\udfff'];
    for (const s of samples) expect(codePointLength(s)).toBe([...s].length);
  });
});

describe(newId.name, () => {
  it('makes opaque URL-safe ids of at most 64 characters, all different', () => {
    const ids = Array.from({ length: 1000 }, () => newId());
    for (const id of ids) expect(id).toMatch(/^[A-Za-z0-9_-]{1,64}$/);
    expect(new Set(ids).size).toBe(ids.length);
  });
});

describe(timestamp.name, () => {
  it('writes RFC 3339 UTC with milliseconds', () => {
    expect(timestamp(0)).toBe('1970-01-01T00:00:00.000Z');
    expect(timestamp(Date.UTC(2024, 3, 1, 12, 0, 0, 7))).toBe('2024-04-01T12:00:00.007Z');
    expect(timestamp()).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
  });
});
