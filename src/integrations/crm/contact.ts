import { parsePhoneNumberFromString } from 'libphonenumber-js/max';
import { normalizeEmail, normalizePhone } from '../../contacts/phone.ts';
import type { CrmContactData, CrmLookup } from './types.ts';

/**
 * Matching helpers shared by connectors. crm-apis.md "cross-cutting lessons": normalise phones before
 * searching, search by several variants where the CRM's search is textual, and then check that a
 * returned record really carries the phone or email, because several CRMs return loosely related
 * records for a query.
 */

/** A phone as stored in a CRM ("8 (999) 123-45-67", "+7 999 1234567", " 79991234567") → E.164, or null. */
export function phoneKey(raw: unknown): string | null {
  if (typeof raw !== 'string' && typeof raw !== 'number') return null;
  const text = String(raw).trim();
  if (text === '') return null;
  const result = normalizePhone(text);
  if (result.ok) return result.e164;
  // Numbers the full metadata calls invalid (test ranges, new ranges) still compare by digits.
  const digits = text.replace(/\D/g, '');
  if (digits.length === 11 && digits.startsWith('8')) return `+7${digits.slice(1)}`;
  return digits.length >= 7 ? `+${digits}` : null;
}

export function emailKey(raw: unknown): string | null {
  if (typeof raw !== 'string') return null;
  const result = normalizeEmail(raw);
  return result.ok ? result.email : raw.trim().toLowerCase() || null;
}

/** Does any of `stored` (a CRM record's phones/emails) equal one of ours? */
export function matchesLookup(lookup: CrmLookup, stored: { phones: unknown[]; emails: unknown[] }): boolean {
  const phones = new Set(lookup.phones.map(phoneKey).filter((p): p is string => p !== null));
  const emails = new Set(lookup.emails.map(emailKey).filter((e): e is string => e !== null));
  return (
    stored.phones.some((p) => {
      const key = phoneKey(p);
      return key !== null && phones.has(key);
    }) ||
    stored.emails.some((e) => {
      const key = emailKey(e);
      return key !== null && emails.has(key);
    })
  );
}

/** The national significant number ("9991234567" for +79991234567): a substring of every local format. */
export function nationalNumber(e164: string): string {
  const parsed = parsePhoneNumberFromString(e164);
  return parsed ? String(parsed.nationalNumber) : e164.replace(/\D/g, '');
}

/** Digits as most Russian CRMs store them ("79991234567"). */
export const phoneDigits = (e164: string) => e164.replace(/\D/g, '');

/** Phones and emails of a contact missing from a record (compared normalised), in our order. */
export function missingValues(
  contact: Pick<CrmContactData, 'phones' | 'emails'>,
  stored: { phones: unknown[]; emails: unknown[] },
): { phones: string[]; emails: string[] } {
  const havePhones = new Set(stored.phones.map(phoneKey));
  const haveEmails = new Set(stored.emails.map(emailKey));
  return {
    phones: contact.phones.filter((p) => !havePhones.has(phoneKey(p))),
    emails: contact.emails.filter((e) => !haveEmails.has(emailKey(e))),
  };
}

export function splitName(name: string | null): { firstName: string; lastName: string } {
  const parts = (name ?? '').trim().split(/\s+/).filter(Boolean);
  if (parts.length === 0) return { firstName: '', lastName: '' };
  return { firstName: parts[0]!, lastName: parts.slice(1).join(' ') };
}

/** The name to give a new record: the visitor's name, else the phone or email, else a label. */
export function displayName(contact: Pick<CrmContactData, 'name' | 'phones' | 'emails'>): string {
  return contact.name?.trim() || contact.phones[0] || contact.emails[0] || 'Посетитель чата';
}

/** Whether a record's name is one we may replace: empty, or a placeholder we set (a phone/email). */
export function isPlaceholderName(
  stored: unknown,
  contact: Pick<CrmContactData, 'phones' | 'emails'>,
): boolean {
  if (typeof stored !== 'string' || stored.trim() === '') return true;
  if (stored === 'Посетитель чата') return true;
  const key = phoneKey(stored);
  if (key !== null && contact.phones.some((p) => phoneKey(p) === key)) return true;
  return contact.emails.some((e) => emailKey(e) === emailKey(stored));
}

export const lookupOf = (contact: Pick<CrmContactData, 'phones' | 'emails' | 'contactId'>): CrmLookup => ({
  phones: contact.phones,
  emails: contact.emails,
  contactId: contact.contactId,
});
