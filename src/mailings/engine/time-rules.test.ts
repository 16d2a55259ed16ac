import { describe, expect, it } from 'vitest';
import { allowedIntervals, isAllowed, nextAllowed, parseClock, spreadAt } from './time-rules.ts';

const weekdays = [1, 2, 3, 4, 5, 6, 7];
const nineToNine = { fromMinute: 9 * 60, toMinute: 21 * 60, weekdays };

describe('send windows in the recipient zone', () => {
  it('parses HH:MM', () => {
    expect(parseClock('09:30')).toBe(570);
    expect(parseClock('24:00')).toBe(1440);
    expect(parseClock('9:30')).toBeNull();
    expect(parseClock('25:00')).toBeNull();
  });

  it('evaluates the same instant differently in Moscow and Vladivostok', () => {
    const at = new Date('2026-11-25T05:00:00Z'); // 08:00 Moscow, 15:00 Vladivostok
    expect(isAllowed(at, nineToNine, 'Europe/Moscow')).toBe(false);
    expect(isAllowed(at, nineToNine, 'Asia/Vladivostok')).toBe(true);
    expect(nextAllowed(at, nineToNine, 'Europe/Moscow')?.toISOString()).toBe('2026-11-25T06:00:00.000Z');
    expect(nextAllowed(at, nineToNine, 'Asia/Vladivostok')?.toISOString()).toBe(at.toISOString());
    const late = new Date('2026-11-25T12:00:00Z'); // 22:00 Vladivostok → next day 09:00 local = 23:00Z
    expect(nextAllowed(late, nineToNine, 'Asia/Vladivostok')?.toISOString()).toBe('2026-11-25T23:00:00.000Z');
  });

  it('skips disallowed weekdays and handles windows across midnight', () => {
    const weekdaysOnly = { ...nineToNine, weekdays: [1, 2, 3, 4, 5] };
    const saturday = new Date('2026-11-28T10:00:00Z'); // Saturday 13:00 Moscow
    expect(nextAllowed(saturday, weekdaysOnly, 'Europe/Moscow')?.toISOString()).toBe(
      '2026-11-30T06:00:00.000Z',
    );
    const night = { fromMinute: 22 * 60, toMinute: 2 * 60, weekdays: [3] }; // Wednesday night only
    expect(isAllowed(new Date('2026-11-25T20:30:00Z'), night, 'Europe/Moscow')).toBe(true); // Wed 23:30
    expect(isAllowed(new Date('2026-11-25T22:30:00Z'), night, 'Europe/Moscow')).toBe(true); // Thu 01:30
    expect(isAllowed(new Date('2026-11-26T20:30:00Z'), night, 'Europe/Moscow')).toBe(false); // Thu 23:30
    expect(nextAllowed(new Date('2026-11-25T10:00:00Z'), { ...nineToNine, weekdays: [] }, 'UTC')).toBeNull();
  });

  it('spreads evenly over the allowed time only', () => {
    const start = new Date('2026-11-25T06:00:00Z'); // 09:00 Moscow
    const end = new Date('2026-11-26T18:00:00Z'); // 21:00 Moscow the next day
    const intervals = allowedIntervals(start, end, nineToNine, 'Europe/Moscow');
    expect(intervals).toHaveLength(2);
    expect(spreadAt(intervals, 0).toISOString()).toBe('2026-11-25T06:00:00.000Z');
    // Half of the allowed time is the whole first day: the next send opens the second day.
    expect(spreadAt(intervals, 0.5).toISOString()).toBe('2026-11-26T06:00:00.000Z');
    expect(spreadAt(intervals, 0.75).toISOString()).toBe('2026-11-26T12:00:00.000Z');
    const times = Array.from({ length: 100 }, (_, i) => spreadAt(intervals, i / 100));
    expect(times.every((t) => isAllowed(t, nineToNine, 'Europe/Moscow'))).toBe(true);
  });
});
