import type { Kysely } from 'kysely';
import type { DB } from '../db/schema.ts';
import type { Clock } from '../shared/clock.ts';

/**
 * Contact reads and writes that compose into a caller's transaction (the chat's contact capture writes
 * a contact, links it to a visitor and appends an outbox event as one unit). Values must already be
 * normalised (E.164 phone, lowercased email).
 */

export interface ContactFields {
  id: number;
  phone: string | null;
  email: string | null;
  name: string;
}

const columns = ['id', 'phone', 'email', 'name'] as const;

export async function contactById(
  db: Kysely<DB>,
  accountId: number,
  id: number,
): Promise<ContactFields | undefined> {
  return db
    .selectFrom('contacts')
    .select(columns)
    .where('account_id', '=', accountId)
    .where('id', '=', id)
    .executeTakeFirst();
}

export async function contactByPhone(
  db: Kysely<DB>,
  accountId: number,
  phone: string,
): Promise<ContactFields | undefined> {
  return db
    .selectFrom('contacts')
    .select(columns)
    .where('account_id', '=', accountId)
    .where('phone', '=', phone)
    .executeTakeFirst();
}

/** Emails are not unique among contacts (imports may repeat one); the oldest contact wins. */
export async function contactByEmail(
  db: Kysely<DB>,
  accountId: number,
  email: string,
): Promise<ContactFields | undefined> {
  return db
    .selectFrom('contacts')
    .select(columns)
    .where('account_id', '=', accountId)
    .where('email', '=', email)
    .orderBy('id')
    .limit(1)
    .executeTakeFirst();
}

/**
 * Inserts a contact; when another writer created one with the same phone meanwhile, returns that one
 * (`created: false`) instead of failing, so the same phone never becomes two contacts.
 */
export async function insertContact(
  db: Kysely<DB>,
  clock: Clock,
  accountId: number,
  fields: { phone: string | null; email: string | null; name: string },
): Promise<{ contact: ContactFields; created: boolean }> {
  const now = clock.now();
  const row = await db
    .insertInto('contacts')
    .values({ account_id: accountId, ...fields, vars: '{}', created_at: now, updated_at: now })
    .onConflict((oc) => oc.columns(['account_id', 'phone']).where('phone', 'is not', null).doNothing())
    .returning(columns)
    .executeTakeFirst();
  if (row) return { contact: row, created: true };
  const existing = await contactByPhone(db, accountId, fields.phone!);
  return { contact: existing!, created: false };
}

export async function updateContactFields(
  db: Kysely<DB>,
  clock: Clock,
  accountId: number,
  id: number,
  patch: Partial<Omit<ContactFields, 'id'>>,
): Promise<ContactFields> {
  return db
    .updateTable('contacts')
    .set({ ...patch, updated_at: clock.now() })
    .where('account_id', '=', accountId)
    .where('id', '=', id)
    .returning(columns)
    .executeTakeFirstOrThrow();
}
