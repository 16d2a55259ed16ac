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

/** One keyset page; the exports call this repeatedly with the previous page's last id. */
export async function fetchMessagePage(
  db: Kysely<DB>,
  accountId: number,
  f: NormalizedMessageFilter,
  limit: number,
  afterId: number | undefined,
): Promise<MessageRow[]> {
  let q = db
    .selectFrom('messages as m')
    .innerJoin('mailings as ml', (join) =>
      join.onRef('ml.id', '=', 'm.mailing_id').on('ml.account_id', '=', accountId),
    )
    .leftJoin('mailing_variants as v', (join) =>
      join.onRef('v.mailing_id', '=', 'm.mailing_id').onRef('v.variant', '=', 'm.variant'),
    )
    .select([
      'm.id',
      'm.mailing_id',
      'ml.name as mailing_name',
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
      'v.label as variant_label',
      'm.attempt',
      'm.cost',
      'm.refunded',
      'm.phone',
      'm.replies',
      'm.ivr_digits',
      'm.link_id',
    ])
    .select(messageStatusSql.as('status'))
    .where('m.account_id', '=', accountId);
  if (f.mailingId !== undefined) q = q.where('m.mailing_id', '=', f.mailingId);
  if (f.channel) q = q.where('m.channel', '=', f.channel);
  if (f.variant !== undefined) q = q.where('m.variant', '=', f.variant);
  if (f.blockId) q = q.where('m.block_id', '=', f.blockId);
  if (f.phoneDigits) q = q.where('m.phone', 'like', `%${f.phoneDigits}%`);
  if (f.from) q = q.where('m.created_at', '>=', f.from);
  if (f.to) q = q.where('m.created_at', '<', f.to);
  if (f.status) q = q.where(sql<boolean>`${messageStatusSql} = ${f.status}`);
  if (afterId !== undefined) q = q.where('m.id', f.order === 'newest' ? '<' : '>', afterId);
  const rows = await q
    .orderBy('m.id', f.order === 'newest' ? 'desc' : 'asc')
    .limit(limit)
    .execute();
  return rows.map((r) => ({
    id: r.id,
    mailingId: r.mailing_id,
    mailingName: r.mailing_name,
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
    variantLabel: r.variant_label,
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
 * Messages of the account, keyset-paged by id (newest first unless `order: 'oldest'`). Filters combine
 * with AND. A mailing of another account simply matches nothing.
 */
export async function listMessages(
  db: Kysely<DB>,
  accountId: number,
  options: MessagePageOptions = {},
): Promise<Page<MessageRow>> {
  const filter = normalizeMessageFilter(options);
  const limit = pageLimit(options.limit);
  const after = idCursor(options.after);
  const rows = await fetchMessagePage(db, accountId, filter, limit + 1, after);
  const items = rows.slice(0, limit);
  return { items, next: rows.length > limit ? String(items.at(-1)!.id) : null };
}

export const toDate = (value: Date | string): Date => (value instanceof Date ? value : new Date(value));
