import {
  type CountryCode,
  isSupportedCountry,
  parsePhoneNumberFromString,
  validatePhoneNumberLength,
} from 'libphonenumber-js/max';

export type { CountryCode };

export type PhoneResult = { ok: true; e164: string } | { ok: false; message: string };
export type EmailResult = { ok: true; email: string } | { ok: false; message: string };

/** The region national numbers belong to when a number has no country code; most customers are in Russia. */
export const DEFAULT_PHONE_REGION: CountryCode = 'RU';

const MAX_PHONE_INPUT = 64;
const FORMATTED_NUMBER = /^\+?[\d\s().-]+$/;
const FORMATTING = /[\s().-]/g;

export function isPhoneRegion(value: string): value is CountryCode {
  return isSupportedCountry(value);
}

/**
 * Normalises a phone as people type it to E.164. National numbers are read in `region`, so for RU all of
 * "8 999 123-45-67", "+7 (999) 123-45-67", "79991234567" and "9991234567" give +79991234567. The whole
 * input must be the number (no text around it), and the number must be valid for its country by the
 * full ("max") metadata, not just of a plausible length.
 */
export function normalizePhone(raw: string, region: CountryCode = DEFAULT_PHONE_REGION): PhoneResult {
  const text = raw.trim();
  if (text === '') return { ok: false, message: 'phone is empty' };
  if (text.length > MAX_PHONE_INPUT) return { ok: false, message: 'phone is too long' };
  // Spaces, dashes, dots and brackets are only formatting; dropping them first parses a third faster
  // (imports normalise millions of numbers) and gives the same result.
  const input = FORMATTED_NUMBER.test(text) ? text.replace(FORMATTING, '') : text;
  // extract: false — a cell that merely contains a number among other text is an error, not a guess.
  const parsed = parsePhoneNumberFromString(input, { defaultCountry: region, extract: false });
  if (!parsed) return { ok: false, message: invalidPhoneMessage(text, region, 'is not a phone number') };
  // An office extension cannot receive messages or calls from a mailing.
  if (parsed.ext) return { ok: false, message: `"${text}" has an extension` };
  if (parsed.isValid()) return { ok: true, e164: parsed.number };
  return { ok: false, message: invalidPhoneMessage(text, region, 'is not a valid phone number') };
}

function invalidPhoneMessage(text: string, region: CountryCode, otherwise: string): string {
  switch (validatePhoneNumberLength(text, { defaultCountry: region })) {
    case 'TOO_SHORT':
      return `"${text}" is too short for a phone number`;
    case 'TOO_LONG':
      return `"${text}" is too long for a phone number`;
    case 'INVALID_COUNTRY':
      return `"${text}" has an unknown country code`;
    default:
      return `"${text}" ${otherwise}`;
  }
}

// Pragmatic, not RFC 5322: what mail providers actually hand out. Letters of any script are allowed
// (internationalised addresses), quoted local parts and IP-literal domains are not.
const LOCAL_PART = /^[\p{L}\p{N}!#$%&'*+/=?^_`{|}~-]+(?:\.[\p{L}\p{N}!#$%&'*+/=?^_`{|}~-]+)*$/u;
const DOMAIN_LABEL = /^[\p{L}\p{N}](?:[\p{L}\p{N}-]{0,61}[\p{L}\p{N}])?$/u;
const TOP_LEVEL = /^(?:\p{L}{2,63}|xn--[a-z0-9-]{1,59})$/u;

/** Trims and lowercases an email and checks that it looks deliverable. */
export function normalizeEmail(raw: string): EmailResult {
  const email = raw.trim().toLowerCase();
  if (email === '') return { ok: false, message: 'email is empty' };
  const bad = { ok: false, message: `"${email}" is not a valid email` } as const;
  if (email.length > 254) return bad;
  const at = email.lastIndexOf('@');
  if (at <= 0 || at > 64) return bad;
  const local = email.slice(0, at);
  const domain = email.slice(at + 1);
  if (!LOCAL_PART.test(local)) return bad;
  const labels = domain.split('.');
  if (labels.length < 2) return bad;
  if (!labels.every((label) => DOMAIN_LABEL.test(label))) return bad;
  if (!TOP_LEVEL.test(labels.at(-1)!)) return bad;
  return { ok: true, email };
}
