import { DateTime } from 'luxon';

/**
 * Send windows ("ограничение по времени отправки"): allowed local hours and weekdays, evaluated in the
 * recipient's zone (or the sender's when the recipient has none).
 */
export interface SendWindow {
  /** Minutes after local midnight, inclusive. */
  fromMinute: number;
  /** Minutes after local midnight, exclusive; may be less than fromMinute for a window across midnight. */
  toMinute: number;
  /** ISO weekdays 1 (Monday) .. 7 (Sunday) on which sending is allowed (by the local start day). */
  weekdays: number[];
}

export function parseClock(hhmm: string): number | null {
  const m = /^([01]\d|2[0-3]):([0-5]\d)$/.exec(hhmm) ?? (hhmm === '24:00' ? ['', '24', '00'] : null);
  return m ? Number(m[1]) * 60 + Number(m[2]) : null;
}

function minuteOfDay(t: DateTime): number {
  return t.hour * 60 + t.minute + t.second / 60;
}

/** Whether `at` falls inside the window in `zone`. */
export function isAllowed(at: Date, window: SendWindow, zone: string): boolean {
  const local = DateTime.fromJSDate(at, { zone });
  const m = minuteOfDay(local);
  const { fromMinute: from, toMinute: to } = window;
  if (from < to) return m >= from && m < to && window.weekdays.includes(local.weekday);
  // Across midnight: the part after midnight belongs to the previous day's window.
  if (m >= from) return window.weekdays.includes(local.weekday);
  if (m < to) return window.weekdays.includes(local.minus({ days: 1 }).weekday);
  return false;
}

/** The first moment at or after `at` when sending is allowed; null only for an empty window. */
export function nextAllowed(at: Date, window: SendWindow | null, zone: string): Date | null {
  if (!window) return at;
  if (window.weekdays.length === 0 || window.fromMinute === window.toMinute) return null;
  if (isAllowed(at, window, zone)) return at;
  const local = DateTime.fromJSDate(at, { zone });
  // Candidate starts: today's and the next 8 days' window openings (covers every weekday pattern).
  for (let d = 0; d <= 8; d++) {
    const day = local.startOf('day').plus({ days: d });
    const open = day.plus({ minutes: window.fromMinute });
    if (open.toMillis() >= at.getTime() && window.weekdays.includes(open.weekday)) return open.toJSDate();
  }
  return null;
}

/**
 * Smooth sending: the allowed intervals between start and end (in one zone), so that the first sends can
 * be spread evenly over the time sending is actually allowed.
 */
export function allowedIntervals(
  start: Date,
  end: Date,
  window: SendWindow | null,
  zone: string,
): [number, number][] {
  const s = start.getTime();
  const e = end.getTime();
  if (!window) return e > s ? [[s, e]] : [];
  const out: [number, number][] = [];
  let day = DateTime.fromJSDate(start, { zone }).startOf('day').minus({ days: 1 });
  while (day.toMillis() < e) {
    if (window.weekdays.includes(day.weekday)) {
      const open = day.plus({ minutes: window.fromMinute }).toMillis();
      const closeDay = window.toMinute > window.fromMinute ? day : day.plus({ days: 1 });
      const close = closeDay.plus({ minutes: window.toMinute }).toMillis();
      const a = Math.max(open, s);
      const b = Math.min(close, e);
      if (b > a) out.push([a, b]);
    }
    day = day.plus({ days: 1 });
  }
  return out;
}

/** Maps a fraction 0..1 of the allowed time onto a moment inside the allowed intervals. */
export function spreadAt(intervals: [number, number][], fraction: number): Date {
  const total = intervals.reduce((sum, [a, b]) => sum + (b - a), 0);
  let offset = Math.min(Math.max(fraction, 0), 1) * total;
  for (const [a, b] of intervals) {
    if (offset < b - a) return new Date(a + offset);
    offset -= b - a;
  }
  const last = intervals.at(-1);
  return new Date(last ? last[1] : 0);
}
