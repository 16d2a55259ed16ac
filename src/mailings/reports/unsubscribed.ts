import { type Kysely, sql } from 'kysely';
import { stopListSources } from '../../contacts/stop-list.ts';
import type { DB, StopListSource } from '../../db/schema.ts';
import { invalid } from '../../shared/errors.ts';
import { checkRange, optionalDate, optionalOneOf, optionalPhoneDigits, pageLimit } from './filters.ts';
import type { Page } from './messages.ts';
import { toDate } from './messages.ts';

/**
 * RP-4 "Отписавшиеся": the stop list with, for each number, the mailing that caused it (a Viber
 * "unsubscribed", an IVR "unsubscribe" key, an SMS STOP reply), its source and time. Newest first,
 * keyset-paged on (time, phone). Adding and removing numbers is the stop list's own API
 * (src/contacts/stop-list.ts).
 */

export interface UnsubscribedOptions {
  limit?: number;
  after?: string;
  source?: StopListSource;
  phone?: string;
  /** Time range [from, to) of joining the stop list. */
  from?: Date | string;
  to?: Date | string;
}

export interface UnsubscribedEntry {
  phone: string;
  source: StopListSource;
  reason: string;
  createdAt: Date;
  /** The mailing that caused it; name null when that mailing no longer exists. Null for manual/import entries. */
  mailing: { id: number; name: string | null } | null;
}

export async function unsubscribedReport(
  db: Kysely<DB>,
  accountId: number,
  options: UnsubscribedOptions = {},
): Promise<Page<UnsubscribedEntry>> {
  const limit = pageLimit(options.limit);
  const after = parseCursor(options.after);
  const source = optionalOneOf(stopListSources, options.source, 'source');
  const digits = optionalPhoneDigits(options.phone);
  const from = optionalDate(options.from, 'from');
  const to = optionalDate(options.to, 'to');
  checkRange(from, to);
  // Microseconds since the epoch: exact (extract returns numeric), so equal-looking times never skip rows.
  const micros = sql<number>`(extract(epoch from s.created_at) * 1000000)::bigint`;
  const rows = await sql<{
    phone: string;
    source: StopListSource;
    reason: string;
    created_at: Date | string;
    us: number;
    mailing_id: number | null;
    mailing_name: string | null;
  }>`
    select s.phone, s.source, s.reason, s.created_at, ${micros} as us, s.mailing_id, ml.name as mailing_name
    from stop_list s
    left join mailings ml on ml.id = s.mailing_id and ml.account_id = s.account_id
    where s.account_id = ${accountId}
      ${source ? sql`and s.source = ${source}` : sql``}
      ${digits ? sql`and s.phone like ${`%${digits}%`}` : sql``}
      ${from ? sql`and s.created_at >= ${from}` : sql``}
      ${to ? sql`and s.created_at < ${to}` : sql``}
      ${after ? sql`and (${micros}, s.phone) < (${after.us}::bigint, ${after.phone}::text)` : sql``}
    order by s.created_at desc, s.phone desc
    limit ${limit + 1}`.execute(db);
  const page = rows.rows.slice(0, limit);
  const last = page.at(-1);
  return {
    items: page.map((r) => ({
      phone: r.phone,
      source: r.source,
      reason: r.reason,
      createdAt: toDate(r.created_at),
      mailing: r.mailing_id === null ? null : { id: r.mailing_id, name: r.mailing_name },
    })),
    next: rows.rows.length > limit && last ? `${Number(last.us)}_${last.phone}` : null,
  };
}

function parseCursor(value: unknown): { us: number; phone: string } | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  const match = typeof value === 'string' ? /^(\d{1,17})_(\+\d{7,15})$/.exec(value) : null;
  if (!match || !Number.isSafeInteger(Number(match[1])))
    throw invalid('after', 'after must be a cursor returned as "next"');
  return { us: Number(match[1]), phone: match[2]! };
}
