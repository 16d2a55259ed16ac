import { type Kysely, sql } from 'kysely';
import type { DB, RecipientEndReason, RecipientState } from '../../db/schema.ts';
import {
  idCursor,
  optionalBlockId,
  optionalId,
  optionalOneOf,
  optionalPhoneDigits,
  optionalVariant,
  pageLimit,
} from './filters.ts';
import { firstRows, type IdBounds, scanIdWindows } from './id-windows.ts';
import { mailingNames } from './mailing-names.ts';
import { LIST_BATCH, type Page, toDate } from './messages.ts';
import { endReasons, type RecipientBucket, recipientBuckets, recipientStates } from './report-vocabulary.ts';
import { recipientBucketSql, recipientStarted } from './sql-fragments.ts';

/** Recipients of mailings ("export subscribers", RP-2), keyset-paged by id. */

export interface RecipientFilter {
  mailingId?: number;
  /** The report bucket (pending, running, goal, ...), as counted by mailingReport. */
  status?: RecipientBucket;
  state?: RecipientState;
  endReason?: RecipientEndReason;
  variant?: number;
  /** The recipient's current block. */
  blockId?: string;
  phone?: string;
}

export interface RecipientPageOptions extends RecipientFilter {
  limit?: number;
  after?: string;
}

export interface RecipientRow {
  id: number;
  mailingId: number;
  mailingName: string;
  phone: string;
  variant: number;
  variantLabel: string | null;
  status: RecipientBucket;
  state: RecipientState;
  endReason: RecipientEndReason | null;
  blockId: string;
  step: number;
  enteredAt: Date;
  finishedAt: Date | null;
}

export interface NormalizedRecipientFilter {
  mailingId?: number;
  status?: RecipientBucket;
  state?: RecipientState;
  endReason?: RecipientEndReason;
  variant?: number;
  blockId?: string;
  phoneDigits?: string;
}

export function normalizeRecipientFilter(filter: RecipientFilter): NormalizedRecipientFilter {
  return {
    mailingId: optionalId(filter.mailingId, 'mailingId'),
    status: optionalOneOf(recipientBuckets, filter.status, 'status'),
    state: optionalOneOf(recipientStates, filter.state, 'state'),
    endReason: optionalOneOf(endReasons, filter.endReason, 'endReason'),
    variant: optionalVariant(filter.variant),
    blockId: optionalBlockId(filter.blockId),
    phoneDigits: optionalPhoneDigits(filter.phone),
  };
}

// The mailing's status by primary key, per row: a join could be planned as a loop over the account.
const bucket = recipientBucketSql(
  sql`(select ml.status from mailings ml where ml.id = r.mailing_id)`,
  recipientStarted,
);

/** Rows with lo <= id <= hi in id order; one table, no joins (see id-windows.ts). */
async function fetchRecipientWindow(
  db: Kysely<DB>,
  accountId: number,
  f: NormalizedRecipientFilter,
  lo: number,
  hi: number,
  limit: number,
): Promise<RecipientRow[]> {
  let q = db
    .selectFrom('mailing_recipients as r')
    .select([
      'r.id',
      'r.mailing_id',
      'r.phone',
      'r.variant',
      'r.state',
      'r.end_reason',
      'r.block_id',
      'r.step',
      'r.entered_at',
      'r.finished_at',
    ])
    .select(bucket.as('status'))
    .where('r.account_id', '=', accountId)
    .where('r.id', '>=', lo)
    .where('r.id', '<=', hi);
  if (f.mailingId !== undefined) q = q.where('r.mailing_id', '=', f.mailingId);
  if (f.state) q = q.where('r.state', '=', f.state);
  if (f.endReason) q = q.where('r.end_reason', '=', f.endReason);
  if (f.variant !== undefined) q = q.where('r.variant', '=', f.variant);
  if (f.blockId) q = q.where('r.block_id', '=', f.blockId);
  if (f.phoneDigits) q = q.where('r.phone', 'like', `%${f.phoneDigits}%`);
  if (f.status) q = q.where(sql<boolean>`${bucket} = ${f.status}`);
  const rows = await q.orderBy('r.id').limit(limit).execute();
  const names = await mailingNames(
    db,
    accountId,
    rows.map((r) => r.mailing_id),
  );
  return rows.map((r) => ({
    id: r.id,
    mailingId: r.mailing_id,
    mailingName: names.name(r.mailing_id),
    phone: r.phone,
    variant: r.variant,
    variantLabel: names.variantLabel(r.mailing_id, r.variant),
    status: r.status,
    state: r.state,
    endReason: r.end_reason,
    blockId: r.block_id,
    step: r.step,
    enteredAt: toDate(r.entered_at),
    finishedAt: r.finished_at ? toDate(r.finished_at) : null,
  }));
}

async function recipientBounds(
  db: Kysely<DB>,
  accountId: number,
  f: NormalizedRecipientFilter,
): Promise<IdBounds | null> {
  let q = db
    .selectFrom('mailing_recipients')
    .select((eb) => [eb.fn.min('id').as('min'), eb.fn.max('id').as('max')])
    .where('account_id', '=', accountId);
  if (f.mailingId !== undefined) q = q.where('mailing_id', '=', f.mailingId);
  const row = await q.executeTakeFirst();
  return row?.min == null || row.max == null ? null : { min: Number(row.min), max: Number(row.max) };
}

/** The recipients matching a filter in id order, in batches of at most `batch` rows. */
export async function* recipientBatches(
  db: Kysely<DB>,
  accountId: number,
  f: NormalizedRecipientFilter,
  options: { batch: number; after?: number },
): AsyncGenerator<RecipientRow[]> {
  yield* scanIdWindows({
    bounds: await recipientBounds(db, accountId, f),
    order: 'asc',
    after: options.after,
    batch: options.batch,
    fetch: (lo, hi, limit) => fetchRecipientWindow(db, accountId, f, lo, hi, limit),
  });
}

/** Recipients of the account's mailings in id order (the order they were added), keyset-paged. */
export async function listRecipients(
  db: Kysely<DB>,
  accountId: number,
  options: RecipientPageOptions = {},
): Promise<Page<RecipientRow>> {
  const f = normalizeRecipientFilter(options);
  const limit = pageLimit(options.limit);
  const after = idCursor(options.after);
  const page = await firstRows(
    {
      bounds: await recipientBounds(db, accountId, f),
      order: 'asc',
      after,
      batch: Math.max(limit + 1, LIST_BATCH),
      fetch: (lo, hi, batchLimit) => fetchRecipientWindow(db, accountId, f, lo, hi, batchLimit),
    },
    limit,
  );
  return { items: page.rows, next: page.more ? String(page.rows.at(-1)!.id) : null };
}
