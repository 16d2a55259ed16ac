import { type Kysely, sql } from 'kysely';
import type { CountryCode } from 'libphonenumber-js';
import { DateTime } from 'luxon';
import type { DB } from '../db/schema.ts';
import type { Clock } from '../shared/clock.ts';
import { AppError, invalid } from '../shared/errors.ts';
import { normalizeEmail, normalizePhone } from './phone.ts';

export interface Contact {
  id: number;
  phone: string | null;
  email: string | null;
  name: string;
  timezone: string | null;
  vars: Record<string, string>;
  groups: number[];
  created_at: Date;
  updated_at: Date;
}

export interface ContactInput {
  phone?: string | null;
  email?: string | null;
  name?: string;
  timezone?: string | null;
  vars?: Record<string, string>;
  groupIds?: number[];
}

const contactColumns = [
  'id',
  'phone',
  'email',
  'name',
  'timezone',
  'vars',
  'created_at',
  'updated_at',
] as const;

function cleanPhone(raw: string | null | undefined, region: CountryCode): string | null | undefined {
  if (raw === undefined || raw === null) return raw;
  if (raw.trim() === '') return null;
  const result = normalizePhone(raw, region);
  if (!result.ok) throw invalid('phone', result.message);
  return result.e164;
}

function cleanEmail(raw: string | null | undefined): string | null | undefined {
  if (raw === undefined || raw === null) return raw;
  if (raw.trim() === '') return null;
  const result = normalizeEmail(raw);
  if (!result.ok) throw invalid('email', result.message);
  return result.email;
}

export function checkTimezone(zone: string | null | undefined): string | null | undefined {
  if (zone === undefined || zone === null || zone === '') return zone === '' ? null : zone;
  if (!DateTime.local().setZone(zone).isValid) throw invalid('timezone', `Unknown time zone "${zone}"`);
  return zone;
}

async function assertGroupsOwned(db: Kysely<DB>, accountId: number, groupIds: number[]): Promise<void> {
  if (groupIds.length === 0) return;
  const found = await db
    .selectFrom('contact_groups')
    .select('id')
    .where('account_id', '=', accountId)
    .where('id', 'in', groupIds)
    .execute();
  const ok = new Set(found.map((g) => g.id));
  const missing = groupIds.find((g) => !ok.has(g));
  if (missing !== undefined)
    throw new AppError('not_found', `Group ${missing} not found`, { field: 'group_ids' });
}

function conflictOnPhone(error: unknown): never {
  if ((error as { code?: string }).code === '23505') {
    throw new AppError('conflict', 'A contact with this phone already exists', { field: 'phone' });
  }
  throw error;
}

export async function createContact(
  db: Kysely<DB>,
  clock: Clock,
  accountId: number,
  input: ContactInput,
  region: CountryCode = 'RU',
): Promise<Contact> {
  const phone = cleanPhone(input.phone, region) ?? null;
  const email = cleanEmail(input.email) ?? null;
  if (!phone && !email) throw invalid('phone', 'A contact needs a phone or an email');
  const timezone = checkTimezone(input.timezone) ?? null;
  const groupIds = [...new Set(input.groupIds ?? [])];
  return db.transaction().execute(async (trx) => {
    await assertGroupsOwned(trx, accountId, groupIds);
    const now = clock.now();
    const row = await trx
      .insertInto('contacts')
      .values({
        account_id: accountId,
        phone,
        email,
        name: input.name?.trim() ?? '',
        timezone,
        vars: JSON.stringify(input.vars ?? {}),
        created_at: now,
        updated_at: now,
      })
      .returning(contactColumns)
      .executeTakeFirstOrThrow()
      .catch(conflictOnPhone);
    if (groupIds.length > 0) {
      await trx
        .insertInto('contact_group_members')
        .values(groupIds.map((group_id) => ({ group_id, contact_id: row.id })))
        .execute();
    }
    return { ...row, groups: groupIds.sort((a, b) => a - b) };
  });
}

export async function getContact(db: Kysely<DB>, accountId: number, id: number): Promise<Contact> {
  const row = await db
    .selectFrom('contacts')
    .select(contactColumns)
    .select((eb) =>
      eb.fn
        .coalesce(
          eb
            .selectFrom('contact_group_members')
            .select(sql<number[]>`array_agg(group_id order by group_id)`.as('g'))
            .whereRef('contact_group_members.contact_id', '=', 'contacts.id'),
          sql<number[]>`'{}'::bigint[]`,
        )
        .as('groups'),
    )
    .where('account_id', '=', accountId)
    .where('id', '=', id)
    .executeTakeFirst();
  if (!row) throw new AppError('not_found', 'Contact not found', { field: 'id' });
  return { ...row, groups: row.groups.map(Number) };
}

export async function updateContact(
  db: Kysely<DB>,
  clock: Clock,
  accountId: number,
  id: number,
  patch: ContactInput,
  region: CountryCode = 'RU',
): Promise<Contact> {
  const phone = cleanPhone(patch.phone, region);
  const email = cleanEmail(patch.email);
  const timezone = checkTimezone(patch.timezone);
  await db.transaction().execute(async (trx) => {
    const current = await trx
      .selectFrom('contacts')
      .select(['id', 'phone', 'email', 'vars'])
      .where('account_id', '=', accountId)
      .where('id', '=', id)
      .forUpdate()
      .executeTakeFirst();
    if (!current) throw new AppError('not_found', 'Contact not found', { field: 'id' });
    const nextPhone = phone === undefined ? current.phone : phone;
    const nextEmail = email === undefined ? current.email : email;
    if (!nextPhone && !nextEmail) throw invalid('phone', 'A contact needs a phone or an email');
    await trx
      .updateTable('contacts')
      .set({
        ...(phone !== undefined && { phone }),
        ...(email !== undefined && { email }),
        ...(patch.name !== undefined && { name: patch.name.trim() }),
        ...(timezone !== undefined && { timezone }),
        ...(patch.vars !== undefined && { vars: JSON.stringify({ ...current.vars, ...patch.vars }) }),
        updated_at: clock.now(),
      })
      .where('id', '=', id)
      .execute()
      .catch(conflictOnPhone);
    if (patch.groupIds !== undefined) {
      const groupIds = [...new Set(patch.groupIds)];
      await assertGroupsOwned(trx, accountId, groupIds);
      await trx.deleteFrom('contact_group_members').where('contact_id', '=', id).execute();
      if (groupIds.length > 0) {
        await trx
          .insertInto('contact_group_members')
          .values(groupIds.map((group_id) => ({ group_id, contact_id: id })))
          .execute();
      }
    }
  });
  return getContact(db, accountId, id);
}

export async function deleteContact(db: Kysely<DB>, accountId: number, id: number): Promise<void> {
  const result = await db
    .deleteFrom('contacts')
    .where('account_id', '=', accountId)
    .where('id', '=', id)
    .executeTakeFirst();
  if (Number(result.numDeletedRows) === 0)
    throw new AppError('not_found', 'Contact not found', { field: 'id' });
}

export interface ContactSearch {
  q?: string;
  groupId?: number;
  limit?: number;
  after?: number;
}

/** Keyset-paged search over phone, email and name (substring, case-insensitive). */
export async function searchContacts(
  db: Kysely<DB>,
  accountId: number,
  search: ContactSearch,
): Promise<{ items: Contact[]; next: number | null }> {
  const limit = Math.min(Math.max(search.limit ?? 50, 1), 500);
  let query = db
    .selectFrom('contacts')
    .select(contactColumns)
    .select((eb) =>
      eb.fn
        .coalesce(
          eb
            .selectFrom('contact_group_members')
            .select(sql<number[]>`array_agg(group_id order by group_id)`.as('g'))
            .whereRef('contact_group_members.contact_id', '=', 'contacts.id'),
          sql<number[]>`'{}'::bigint[]`,
        )
        .as('groups'),
    )
    .where('account_id', '=', accountId)
    .orderBy('id')
    .limit(limit + 1);
  if (search.after !== undefined) query = query.where('id', '>', search.after);
  if (search.groupId !== undefined) {
    const groupId = search.groupId;
    query = query.where((eb) =>
      eb.exists(
        eb
          .selectFrom('contact_group_members')
          .select('contact_id')
          .whereRef('contact_group_members.contact_id', '=', 'contacts.id')
          .where('contact_group_members.group_id', '=', groupId),
      ),
    );
  }
  const q = search.q?.trim();
  if (q) {
    const like = `%${q.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    const digits = q.replace(/\D/g, '');
    query = query.where((eb) =>
      eb.or([
        eb('name', 'ilike', like),
        eb('email', 'ilike', like),
        ...(digits.length >= 3 ? [eb('phone', 'like', `%${digits}%`)] : []),
      ]),
    );
  }
  const rows = await query.execute();
  const items = rows.slice(0, limit).map((r) => ({ ...r, groups: r.groups.map(Number) }));
  return { items, next: rows.length > limit ? (items.at(-1)?.id ?? null) : null };
}
