import { describe, expect, it } from 'vitest';
import { uploadErrorCode } from './visitor.ts';

describe('upload errors', () => {
  it.each([
    [413, 'too_large'],
    [415, 'invalid_message'],
    [400, 'invalid_message'],
    [401, 'unauthorized'],
    [403, 'forbidden'],
    [404, 'not_found'],
    [429, 'rate_limited'],
    [500, 'internal'],
    [503, 'internal'],
  ])('HTTP %i is %s', (status, code) => {
    expect(uploadErrorCode(status)).toBe(code);
  });
});
