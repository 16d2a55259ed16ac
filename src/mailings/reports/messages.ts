import { type Kysely, sql } from 'kysely';
import type { DB, MessageState } from '../../db/schema.ts';
import type { SendChannel } from '../scheme/vocabulary.ts';
import {
  checkRange,
  idCursor,
  optionalBlockId,
  optionalChannel,
  optionalDate,
  optionalId,
  optionalOneOf,
  optionalPhoneDigits,
  optionalVariant,
  pageLimit,
} from './filters.ts';
import { firstRows, type IdBounds, scanIdWindows } from './id-windows.ts';
import { mailingNames } from './mailing-names.ts';
import { type MessageReportStatus, messageReportStatuses } from './report-vocabulary.ts';
import { messageStatusSql } from './sql-fragments.ts';

/** RP-2 "All messages": one row per message (one send attempt of a block to a recipient). */

export interface MessageFilter {
  mailingId?: number;
  /** The shown status (see messageReportStatuses), matched exactly. */
  status?: MessageReportStatus;
  channel?: SendChannel;
  variant?: number;
  blockId?: string;
  /** Digits the phone contains; a full E.164 number or a fragment. */
  phone?: string;
  /** Creation time range [from, to). */
  from?: Date | string;
  to?: Date | string;
  /** newest first (default) or oldest first; both are id order, so paging is stable. */
  order?: 'newest' | 'oldest';
}

export interface MessagePageOptions extends MessageFilter {
  /** 1..1000, default 100. */
  limit?: number;
  /** The `next` of the previous page. */
  after?: string;
}

export interface MessageRow {
  id: number;
  mailingId: number;
  mailingName: string;
  recipientId: number;
  createdAt: Date;
  sentAt: Date | null;
  statusAt: Date | null;
  status: MessageReportStatus;
  /** Every status the provider reported, as stored. */
  statuses: string[];
  state: MessageState;
  errorReason: string | null;
  channel: SendChannel;
  blockId: string;
  variant: number;
  variantLabel: string | null;
  attempt: number;
  /** Kopecks charged for this send. */
  cost: number;
  refunded: boolean;
  phone: string;
  replies: string[];
  ivrDigits: string[];
  /** The link the recipient took out of this block, once it decided. */
  linkId: string | null;
}

export interface Page<T> {
  items: T[];
  /** Pass as `after` for the next page; null on the last page. */
  next: string | null;
}

export interface NormalizedMessageFilter {
  mailingId?: number;
  status?: MessageReportStatus;
  channel?: SendChannel;
  variant?: number;
  blockId?: string;
  phoneDigits?: string;
  from?: Date;
  to?: Date;
  order: 'newest' | 'oldest';
}

export function normalizeMessageFilter(filter: MessageFilter): NormalizedMessageFilter {
  const from = optionalDate(filter.from, 'from');
  const to = optionalDate(filter.to, 'to');
  checkRange(from, to);
  return {
    mailingId: optionalId(filter.mailingId, 'mailingId'),
    status: optionalOneOf(messageReportStatuses, filter.status, 'status'),
    channel: optionalChannel(filter.channel),
    variant: optionalVariant(filter.variant),
    blockId: optionalBlockId(filter.blockId),
    phoneDigits: optionalPhoneDigits(filter.phone),
    from,
    to,
    order: optionalOneOf(['newest', 'oldest'] as const, filter.order, 'order') ?? 'newest',
  };
}

/** Rows with lo <= id <= hi, in the filter's order; one table, no joins (see id-windows.ts). */
async function fetchMessageWindow(
  db: Kysely<DB>,
  accountId: number,
  f: NormalizedMessageFilter,
  lo: number,
  hi: number,
  limit: number,
): Promise<MessageRow[]> {
  let q = db
    .selectFrom('messages as m')
    .select([
      'm.id',
      'm.mailing_id',
      'm.recipient_id',
      'm.created_at',
      'm.sent_at',
      'm.status_at',
      'm.statuses',
      'm.state',
      'm.error_reason',
      'm.channel',
      'm.block_id',
      'm.variant',
      'm.attempt',
      'm.cost',
      'm.refunded',
      'm.phone',
      'm.replies',
      'm.ivr_digits',
      'm.link_id',
    ])
    .select(messageStatusSql.as('status'))
    .where('m.account_id', '=', accountId)
    .where('m.id', '>=', lo)
    .where('m.id', '<=', hi);
  if (f.mailingId !== undefined) q = q.where('m.mailing_id', '=', f.mailingId);
  if (f.channel) q = q.where('m.channel', '=', f.channel);
  if (f.variant !== undefined) q = q.where('m.variant', '=', f.variant);
  if (f.blockId) q = q.where('m.block_id', '=', f.blockId);
  if (f.phoneDigits) q = q.where('m.phone', 'like', `%${f.phoneDigits}%`);
  if (f.from) q = q.where('m.created_at', '>=', f.from);
  if (f.to) q = q.where('m.created_at', '<', f.to);
  if (f.status) q = q.where(sql<boolean>`${messageStatusSql} = ${f.status}`);
  const rows = await q
    .orderBy('m.id', f.order === 'newest' ? 'desc' : 'asc')
    .limit(limit)
    .execute();
  const names = await mailingNames(
    db,
    accountId,
    rows.map((r) => r.mailing_id),
  );
  return rows.map((r) => ({
    id: r.id,
    mailingId: r.mailing_id,
    mailingName: names.name(r.mailing_id),
    recipientId: r.recipient_id,
    createdAt: toDate(r.created_at),
    sentAt: r.sent_at ? toDate(r.sent_at) : null,
    statusAt: r.status_at ? toDate(r.status_at) : null,
    status: r.status,
    statuses: r.statuses,
    state: r.state,
    errorReason: r.error_reason,
    channel: r.channel,
    blockId: r.block_id,
    variant: r.variant,
    variantLabel: names.variantLabel(r.mailing_id, r.variant),
    attempt: r.attempt,
    cost: Number(r.cost),
    refunded: r.refunded,
    phone: r.phone,
    replies: r.replies,
    ivrDigits: r.ivr_digits,
    linkId: r.link_id,
  }));
}

/**
 * The id range the account's (or the mailing's) messages occupy, from the ends of messages_mailing_idx
 * per mailing: a few index probes per mailing, never a scan (an account filter alone would walk the
 * primary key across other accounts' rows).
 */
async function messageBounds(
  db: Kysely<DB>,
  accountId: number,
  f: NormalizedMessageFilter,
): Promise<IdBounds | null> {
  const onlyMailing = f.mailingId !== undefined ? sql`and ml.id = ${f.mailingId}` : sql``;
  const result = await sql<{ min: number | null; max: number | null }>`
    select min(x.lo) as min, max(x.hi) as max
    from mailings ml
    cross join lateral (
      select min(m.id) as lo, max(m.id) as hi from messages m
      where m.mailing_id = ml.id and m.account_id = ${accountId}
    ) x
    where ml.account_id = ${accountId} ${onlyMailing}`.execute(db);
  const row = result.rows[0];
  return row?.min == null || row.max == null ? null : { min: Number(row.min), max: Number(row.max) };
}

/** The messages matching a filter, in batches of at most `batch` rows, resuming after `after`. */
export async function* messageBatches(
  db: Kysely<DB>,
  accountId: number,
  f: NormalizedMessageFilter,
  options: { batch: number; after?: number },
): AsyncGenerator<MessageRow[]> {
  yield* scanIdWindows({
    bounds: await messageBounds(db, accountId, f),
    order: f.order === 'newest' ? 'desc' : 'asc',
    after: options.after,
    batch: options.batch,
    fetch: (lo, hi, limit) => fetchMessageWindow(db, accountId, f, lo, hi, limit),
  });
}

/**
 * Messages of the account, keyset-paged by id (newest first unless `order: 'oldest'`), read in id
 * windows (id-windows.ts). Filters combine with AND. A mailing of another account matches nothing.
 */
export async function listMessages(
  db: Kysely<DB>,
  accountId: number,
  options: MessagePageOptions = {},
): Promise<Page<MessageRow>> {
  const f = normalizeMessageFilter(options);
  const limit = pageLimit(options.limit);
  const after = idCursor(options.after);
  const page = await firstRows(
    {
      bounds: await messageBounds(db, accountId, f),
      order: f.order === 'newest' ? 'desc' : 'asc',
      after,
      batch: Math.max(limit + 1, LIST_BATCH),
      fetch: (lo, hi, batchLimit) => fetchMessageWindow(db, accountId, f, lo, hi, batchLimit),
    },
    limit,
  );
  return { items: page.rows, next: page.more ? String(page.rows.at(-1)!.id) : null };
}

/** Rows a list query fetches at least, so a selective filter needs fewer round trips per page. */
export const LIST_BATCH = 500;

export const toDate = (value: Date | string): Date => (value instanceof Date ? value : new Date(value));
