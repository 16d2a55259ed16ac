import { IANAZone } from 'luxon';
import { invalid } from '../../shared/errors.ts';
import { ID_PATTERN, isSendChannel, type SendChannel, sendChannels } from '../scheme/vocabulary.ts';
import { isOneOf } from './report-vocabulary.ts';

/**
 * Input checks shared by the report functions. Routes validate shapes with zod; these functions check
 * again because they are also called from the CLI and from other areas, and a bad filter must answer
 * `validation_failed` naming the field rather than run a surprising query.
 */

export const DEFAULT_TIMEZONE = 'Europe/Moscow';
export const MAX_PAGE = 1000;

export function optionalId(value: unknown, field: string): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1)
    throw invalid(field, `${field} must be a positive integer`);
  return value;
}

export function optionalVariant(value: unknown, field = 'variant'): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 32767)
    throw invalid(field, 'variant must be an integer from 0 (A/B variant index)');
  return value;
}

export function optionalChannel(value: unknown, field = 'channel'): SendChannel | undefined {
  if (value === undefined || value === null) return undefined;
  if (!isSendChannel(value)) throw invalid(field, `channel must be one of: ${sendChannels.join(', ')}`);
  return value;
}

export function optionalOneOf<T extends string>(
  list: readonly T[],
  value: unknown,
  field: string,
): T | undefined {
  if (value === undefined || value === null) return undefined;
  if (!isOneOf(list, value)) throw invalid(field, `${field} must be one of: ${list.join(', ')}`);
  return value;
}

export function optionalBlockId(value: unknown, field = 'blockId'): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string' || !ID_PATTERN.test(value))
    throw invalid(field, 'blockId must be 1-64 letters, digits, "_" or "-"');
  return value;
}

/**
 * A phone filter matches numbers containing the given digits ("+7 999 123" finds +79991234567), so a
 * full number and a fragment both work. At least 3 digits, so a filter never matches everything.
 */
export function optionalPhoneDigits(value: unknown, field = 'phone'): string | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string' || !/^[+\d\s()-]{1,40}$/.test(value))
    throw invalid(field, 'phone may contain only digits, spaces, "+", "-" and parentheses');
  const digits = value.replace(/\D/g, '');
  if (digits.length < 3 || digits.length > 15) throw invalid(field, 'phone must have 3 to 15 digits');
  return digits;
}

export function optionalDate(value: unknown, field: string): Date | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  const date =
    value instanceof Date ? new Date(value.getTime()) : typeof value === 'string' ? new Date(value) : null;
  if (!date || Number.isNaN(date.getTime())) throw invalid(field, `${field} must be an ISO 8601 date-time`);
  return date;
}

export function requiredDate(value: unknown, field: string): Date {
  const date = optionalDate(value, field);
  if (!date) throw invalid(field, `${field} is required`);
  return date;
}

/** A half-open range [from, to); `from` after `to` is a mistake, not an empty result. */
export function checkRange(from: Date | undefined, to: Date | undefined): void {
  if (from && to && from.getTime() > to.getTime())
    throw invalid('from', '"from" must not be later than "to"');
}

export function pageLimit(value: unknown, fallback = 100, field = 'limit'): number {
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > MAX_PAGE)
    throw invalid(field, `limit must be an integer from 1 to ${MAX_PAGE}`);
  return value;
}

export function timezone(value: unknown, field = 'timezone'): string {
  if (value === undefined || value === null || value === '') return DEFAULT_TIMEZONE;
  if (typeof value !== 'string' || !IANAZone.isValidZone(value))
    throw invalid(field, `Unknown time zone "${String(value)}" (use an IANA name such as Europe/Moscow)`);
  return value;
}

export function optionalTag(value: unknown, field = 'tag'): string | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string' || value.length > 50)
    throw invalid(field, 'tag must be a string of at most 50 characters');
  return value;
}

/** Cursor of an id-ordered list: the last id seen, as a decimal string. */
export function idCursor(value: unknown, field = 'after'): number | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  const text = typeof value === 'number' ? String(value) : value;
  if (typeof text !== 'string' || !/^\d{1,16}$/.test(text))
    throw invalid(field, 'after must be a cursor returned as "next"');
  const id = Number(text);
  if (!Number.isSafeInteger(id)) throw invalid(field, 'after must be a cursor returned as "next"');
  return id;
}
