import { IANAZone } from 'luxon';
import { type CountryCode, normalizeEmail, normalizePhone } from '../phone.ts';
import type { ColumnMap } from './mapping.ts';
import type { TableRow } from './table-reader.ts';
import type { ImportRowError } from './types.ts';

/** A row that passed validation, ready to be written. Empty cells are null/'' and never overwrite data. */
export interface ContactRow {
  row: number;
  phone: string | null;
  email: string | null;
  /** '' when the cell was empty. */
  name: string;
  timezone: string | null;
  /** Only the non-empty cells; null when there are none. */
  vars: Record<string, string> | null;
}

export type RowResult = { ok: true; contact: ContactRow } | { ok: false; errors: ImportRowError[] };

export const MAX_NAME = 300;
export const MAX_VAR_VALUE = 2000;

/**
 * Checks and normalises one data row. Every bad field gives its own error; a row with any error is not
 * imported at all, so a bad row can never change an existing contact.
 */
export function validateRow(table: TableRow, columns: ColumnMap, region: CountryCode): RowResult {
  const { row, cells } = table;
  const errors: ImportRowError[] = [];

  let phone: string | null = null;
  const rawPhone = cell(cells, columns.phone);
  if (rawPhone !== '') {
    const result = normalizePhone(rawPhone, region);
    if (result.ok) phone = result.e164;
    else errors.push({ row, field: 'phone', message: result.message });
  }

  let email: string | null = null;
  const rawEmail = cell(cells, columns.email);
  if (rawEmail !== '') {
    const result = normalizeEmail(rawEmail);
    if (result.ok) email = result.email;
    else errors.push({ row, field: 'email', message: result.message });
  }

  const name = cell(cells, columns.name);
  if (name.length > MAX_NAME)
    errors.push({ row, field: 'name', message: `Longer than ${MAX_NAME} characters` });

  let timezone: string | null = null;
  const rawZone = cell(cells, columns.timezone);
  if (rawZone !== '') {
    timezone = canonicalZone(rawZone);
    if (timezone === null) {
      errors.push({
        row,
        field: 'timezone',
        message: `"${rawZone}" is not an IANA time zone (like Europe/Moscow)`,
      });
    }
  }

  let vars: Record<string, string> | null = null;
  for (const v of columns.vars) {
    const value = cell(cells, v.column);
    if (value === '') continue;
    if (value.length > MAX_VAR_VALUE) {
      errors.push({ row, field: `vars.${v.name}`, message: `Longer than ${MAX_VAR_VALUE} characters` });
      continue;
    }
    vars ??= {};
    vars[v.name] = value;
  }

  if (rawPhone === '' && rawEmail === '') {
    const field = columns.phone !== null ? 'phone' : 'email';
    errors.push({ row, field, message: 'A contact needs a phone or an email' });
  }
  if (errors.length > 0) return { ok: false, errors };
  return { ok: true, contact: { row, phone, email, name, timezone, vars } };
}

// A top-level function, not a closure per row: this runs millions of times.
function cell(cells: string[], column: number | null): string {
  if (column === null) return '';
  const value = cells[column];
  return value === undefined ? '' : value.trim();
}

// A file repeats a handful of zone names; remember them, but not without bound (the names come from the file).
const zoneCache = new Map<string, string | null>();
const ZONE_CACHE_LIMIT = 1000;

/** The zone's canonical spelling (europe/moscow → Europe/Moscow), or null when it is not an IANA zone. */
export function canonicalZone(zone: string): string | null {
  const cached = zoneCache.get(zone);
  if (cached !== undefined) return cached;
  const canonical = IANAZone.isValidZone(zone)
    ? new Intl.DateTimeFormat('en-US', { timeZone: zone }).resolvedOptions().timeZone
    : null;
  if (zoneCache.size < ZONE_CACHE_LIMIT) zoneCache.set(zone, canonical);
  return canonical;
}
