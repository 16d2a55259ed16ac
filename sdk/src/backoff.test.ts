import { describe, expect, it } from 'vitest';
import { backoffDelay, defaultBackoff } from './backoff.ts';

describe('backoffDelay', () => {
  it('doubles from the initial delay up to the cap', () => {
    const noJitter = { ...defaultBackoff, jitter: 0 };
    expect([0, 1, 2, 3, 10, 50].map((n) => backoffDelay(n, noJitter))).toEqual([
      500, 1000, 2000, 4000, 30_000, 30_000,
    ]);
  });

  it('spreads clients with jitter, never below half the delay at jitter 0.5', () => {
    expect(backoffDelay(2, defaultBackoff, 0)).toBe(2000);
    expect(backoffDelay(2, defaultBackoff, 0.999)).toBe(1001);
  });
});
