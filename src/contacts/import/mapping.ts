import { invalid } from '../../shared/errors.ts';
import type { ContactField, ImportMapping } from './types.ts';

/** A mapping resolved against a file's header: 0-based column indexes. */
export interface ColumnMap {
  phone: number | null;
  email: number | null;
  name: number | null;
  timezone: number | null;
  vars: { name: string; column: number }[];
}

export const MAX_VAR_NAME = 100;

/**
 * Finds each mapped header in the file (exact text first, then ignoring case and surrounding spaces). A
 * column the file lacks is a validation error naming `mapping.<field>` (or `mapping.vars.<name>`), raised
 * before anything is written.
 */
export function resolveMapping(headers: string[], mapping: ImportMapping): ColumnMap {
  if (!mapping.phone && !mapping.email) {
    throw invalid('mapping', 'Map a phone or an email column: every contact needs one of them');
  }
  const find = (field: string, header: string | undefined): number | null => {
    if (header === undefined || header === '') return null;
    const exact = headers.indexOf(header);
    if (exact >= 0) return exact;
    const wanted = header.trim().toLowerCase();
    const loose = headers.findIndex((h) => h.trim().toLowerCase() === wanted);
    if (loose >= 0) return loose;
    throw invalid(`mapping.${field}`, `The file has no column "${header}"`);
  };
  const vars = Object.entries(mapping.vars ?? {}).map(([name, header]) => {
    const clean = name.trim();
    if (clean === '' || clean.length > MAX_VAR_NAME) {
      throw invalid(`mapping.vars.${name}`, `A variable name must have 1 to ${MAX_VAR_NAME} characters`);
    }
    return { name: clean, column: find(`vars.${name}`, header) };
  });
  return {
    phone: find('phone', mapping.phone),
    email: find('email', mapping.email),
    name: find('name', mapping.name),
    timezone: find('timezone', mapping.timezone),
    vars: vars.flatMap((v) => (v.column === null ? [] : [{ name: v.name, column: v.column }])),
  };
}

// Header spellings people use, compared after fold(): lowercase, ё→е, punctuation and spaces removed.
const knownHeaders: Record<ContactField, string[]> = {
  phone: [
    'phone',
    'phonenumber',
    'mobile',
    'mobilephone',
    'cell',
    'msisdn',
    'tel',
    'телефон',
    'тел',
    'номер',
    'номертелефона',
    'мобильный',
    'мобильныйтелефон',
    'сотовый',
  ],
  email: [
    'email',
    'mail',
    'emailaddress',
    'почта',
    'эпочта',
    'элпочта',
    'электроннаяпочта',
    'емейл',
    'имейл',
  ],
  name: ['name', 'fullname', 'contact', 'contactname', 'имя', 'фио', 'клиент', 'контакт'],
  timezone: ['timezone', 'tz', 'часовойпояс', 'таймзона'],
};

function fold(header: string): string {
  return header
    .toLowerCase()
    .replace(/ё/g, 'е')
    .replace(/[^\p{L}\p{N}]+/gu, '');
}

/**
 * A mapping guessed from common header names (English and Russian, any case): phone, email, name and time
 * zone columns; every other named column becomes a variable named after its header. The first column
 * that matches a field wins; a second one becomes a variable.
 */
export function suggestMapping(headers: string[]): ImportMapping {
  const mapping: ImportMapping = {};
  const vars: Record<string, string> = {};
  for (const raw of headers) {
    const header = raw.trim();
    if (header === '') continue;
    const folded = fold(header);
    const field = (Object.keys(knownHeaders) as ContactField[]).find((f) => knownHeaders[f].includes(folded));
    if (field && mapping[field] === undefined) mapping[field] = header;
    else if (!(header in vars) && header.length <= MAX_VAR_NAME) vars[header] = header;
  }
  if (Object.keys(vars).length > 0) mapping.vars = vars;
  return mapping;
}
