import type { Kysely } from 'kysely';
import type { CountryCode } from 'libphonenumber-js';
import type { DB, StopListSource } from '../db/schema.ts';
import type { Clock } from '../shared/clock.ts';
import { AppError, invalid } from '../shared/errors.ts';
import { normalizePhone } from './phone.ts';

export const stopListSources = [
  'manual',
  'viber',
  'voice',
  'sms',
  'import',
  'api',
] as const satisfies readonly StopListSource[];

export interface StopListEntry {
  phone: string;
  source: StopListSource;
  reason: string;
  mailing_id: number | null;
  created_at: Date;
}

const columns = ['phone', 'source', 'reason', 'mailing_id', 'created_at'] as const;

function e164(raw: string, region: CountryCode): string {
  const result = normalizePhone(raw, region);
  if (!result.ok) throw invalid('phone', result.message);
  return result.e164;
}

/** Adds a number; adding one that is already there keeps the first entry (its source and time). */
export async function addToStopList(
  db: Kysely<DB>,
  clock: Clock,
  accountId: number,
  input: { phone: string; source: StopListSource; reason?: string; mailingId?: number | null },
  region: CountryCode = 'RU',
): Promise<{ entry: StopListEntry; added: boolean }> {
  const phone = e164(input.phone, region);
  const inserted = await db
    .insertInto('stop_list')
    .values({
      account_id: accountId,
      phone,
      source: input.source,
      reason: input.reason ?? '',
      mailing_id: input.mailingId ?? null,
      created_at: clock.now(),
    })
    .onConflict((oc) => oc.columns(['account_id', 'phone']).doNothing())
    .returning(columns)
    .executeTakeFirst();
  if (inserted) return { entry: inserted, added: true };
  const existing = await db
    .selectFrom('stop_list')
    .select(columns)
    .where('account_id', '=', accountId)
    .where('phone', '=', phone)
    .executeTakeFirstOrThrow();
  return { entry: existing, added: false };
}

export async function removeFromStopList(
  db: Kysely<DB>,
  accountId: number,
  rawPhone: string,
  region: CountryCode = 'RU',
): Promise<void> {
  const phone = e164(rawPhone, region);
  const result = await db
    .deleteFrom('stop_list')
    .where('account_id', '=', accountId)
    .where('phone', '=', phone)
    .executeTakeFirst();
  if (Number(result.numDeletedRows) === 0)
    throw new AppError('not_found', 'Number is not in the stop list', { field: 'phone' });
}

export async function listStopList(
  db: Kysely<DB>,
  accountId: number,
  options: { limit?: number; after?: string; source?: StopListSource } = {},
): Promise<{ items: StopListEntry[]; next: string | null }> {
  const limit = Math.min(Math.max(options.limit ?? 100, 1), 1000);
  let query = db
    .selectFrom('stop_list')
    .select(columns)
    .where('account_id', '=', accountId)
    .orderBy('phone')
    .limit(limit + 1);
  if (options.after) query = query.where('phone', '>', options.after);
  if (options.source) query = query.where('source', '=', options.source);
  const rows = await query.execute();
  const items = rows.slice(0, limit);
  return { items, next: rows.length > limit ? (items.at(-1)?.phone ?? null) : null };
}

/** Set-based check used at send time: which of these E.164 numbers are stop-listed. */
export async function stopListedAmong(
  db: Kysely<DB>,
  accountId: number,
  phones: string[],
): Promise<Set<string>> {
  if (phones.length === 0) return new Set();
  const rows = await db
    .selectFrom('stop_list')
    .select('phone')
    .where('account_id', '=', accountId)
    .where('phone', 'in', phones)
    .execute();
  return new Set(rows.map((r) => r.phone));
}

export async function checkStopList(
  db: Kysely<DB>,
  accountId: number,
  rawPhone: string,
  region: CountryCode = 'RU',
): Promise<{ phone: string; stopped: boolean; entry: StopListEntry | null }> {
  const phone = e164(rawPhone, region);
  const entry = await db
    .selectFrom('stop_list')
    .select(columns)
    .where('account_id', '=', accountId)
    .where('phone', '=', phone)
    .executeTakeFirst();
  return { phone, stopped: Boolean(entry), entry: entry ?? null };
}
