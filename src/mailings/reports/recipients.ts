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
import { type Page, toDate } from './messages.ts';
import {
  endReasons,
  type RecipientBucket,
  recipientBuckets,
  recipientStates,
} from './report-vocabulary.ts';
import { recipientBucketSql, recipientHasMessages } from './sql-fragments.ts';

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

const bucket = recipientBucketSql(sql.ref('ml.status'), recipientHasMessages);

export async function fetchRecipientPage(
  db: Kysely<DB>,
  accountId: number,
  f: NormalizedRecipientFilter,
  limit: number,
  afterId: number | undefined,
): Promise<RecipientRow[]> {
  let q = db
    .selectFrom('mailing_recipients as r')
    .innerJoin('mailings as ml', (join) =>
      join.onRef('ml.id', '=', 'r.mailing_id').on('ml.account_id', '=', accountId),
    )
    .leftJoin('mailing_variants as v', (join) =>
      join.onRef('v.mailing_id', '=', 'r.mailing_id').onRef('v.variant', '=', 'r.variant'),
    )
    .select([
      'r.id',
      'r.mailing_id',
      'ml.name as mailing_name',
      'r.phone',
      'r.variant',
      'v.label as variant_label',
      'r.state',
      'r.end_reason',
      'r.block_id',
      'r.step',
      'r.entered_at',
      'r.finished_at',
    ])
    .select(bucket.as('status'))
    .where('r.account_id', '=', accountId);
  if (f.mailingId !== undefined) q = q.where('r.mailing_id', '=', f.mailingId);
  if (f.state) q = q.where('r.state', '=', f.state);
  if (f.endReason) q = q.where('r.end_reason', '=', f.endReason);
  if (f.variant !== undefined) q = q.where('r.variant', '=', f.variant);
  if (f.blockId) q = q.where('r.block_id', '=', f.blockId);
  if (f.phoneDigits) q = q.where('r.phone', 'like', `%${f.phoneDigits}%`);
  if (f.status) q = q.where(sql<boolean>`${bucket} = ${f.status}`);
  if (afterId !== undefined) q = q.where('r.id', '>', afterId);
  const rows = await q.orderBy('r.id').limit(limit).execute();
  return rows.map((r) => ({
    id: r.id,
    mailingId: r.mailing_id,
    mailingName: r.mailing_name,
    phone: r.phone,
    variant: r.variant,
    variantLabel: r.variant_label,
    status: r.status,
    state: r.state,
    endReason: r.end_reason,
    blockId: r.block_id,
    step: r.step,
    enteredAt: toDate(r.entered_at),
    finishedAt: r.finished_at ? toDate(r.finished_at) : null,
  }));
}

/** Recipients of the account's mailings in id order (the order they were added). */
export async function listRecipients(
  db: Kysely<DB>,
  accountId: number,
  options: RecipientPageOptions = {},
): Promise<Page<RecipientRow>> {
  const filter = normalizeRecipientFilter(options);
  const limit = pageLimit(options.limit);
  const after = idCursor(options.after);
  const rows = await fetchRecipientPage(db, accountId, filter, limit + 1, after);
  const items = rows.slice(0, limit);
  return { items, next: rows.length > limit ? String(items.at(-1)!.id) : null };
}
