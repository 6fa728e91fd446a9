import { randomBytes } from 'node:crypto';

/** Length in Unicode code points (an emoji is one), as the contract counts. */
export function codePointLength(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    // A high surrogate followed by a low one is a single code point.
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) i++;
    }
    n++;
  }
  return n;
}

/** Random opaque URL-safe id (96 bits, 16 characters of base64url). */
export function newId(): string {
  return randomBytes(12).toString('base64url');
}

/** RFC 3339 UTC with milliseconds, e.g. `2024-04-01T12:00:00.000Z`. */
export function timestamp(ms: number = Date.now()): string {
  return new Date(ms).toISOString();
}

