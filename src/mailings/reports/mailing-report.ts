import { type Kysely, sql } from 'kysely';
import type { DB, MailingStatus } from '../../db/schema.ts';
import { notFound } from '../../shared/errors.ts';
import type { SendChannel } from '../scheme/vocabulary.ts';
import { optionalId } from './filters.ts';
import { toDate } from './messages.ts';
import { withGroupingPlan } from './planner.ts';
import type { RecipientBucket } from './report-vocabulary.ts';
import {
  hasStatus,
  isClicked,
  isDelivered,
  isFailed,
  isReplied,
  isSent,
  isUndelivered,
  isViewed,
  recipientBucketSql,
  recipientStarted,
} from './sql-fragments.ts';

/**
 * RP-1 "Отчёт по рассылке": totals, money, per-block and per-link counts, split by A/B variant.
 *
 * Recipient totals — each recipient is counted in exactly one of the buckets below, so
 * onModeration + pending + running + goal + finished + interrupted + cancelled = recipients:
 * - recipients: rows in mailing_recipients (everyone the mailing was built for).
 * - goal: the path ended in a goal block (state done, end_reason goal).
 * - finished: the path ended without a goal (end_reason finished: no link matched or a block ran out of links).
 * - interrupted: cut short by cancelling the mailing after its cascade had started for the recipient (a
 *   message was written for it, or it had moved past the start block): end_reason cancelled, or still
 *   open in a cancelled mailing.
 * - cancelled: the mailing was cancelled before anything was sent to the recipient (same, not started).
 * - onModeration: recipients of a mailing that is on moderation (nothing can move until it is approved).
 * - pending: open recipients in state `send` that have not started — waiting for their first send
 *   (start time, send window, smoothing, or a draft/scheduled/paused mailing).
 * - running: every other open recipient — a send in flight (sending), awaiting the decision (waiting),
 *   in a delay block, or due to send a later block or a redial (state send after a first message).
 * - reached: recipients with at least one delivered message (counted across their cascade; not a bucket).
 *
 * Message totals — one message is one send attempt of a block to a recipient, so a recipient who got a
 * Viber message and then an SMS counts twice:
 * - messages: every message row: queued (not handed to the provider yet), sent and failed.
 * - sent: accepted by the provider (state submitted).
 * - failed: the send itself failed (stop-listed, insufficient funds, invalid number, ...).
 * - delivered: the statuses contain any milestone of its channel (delivered, viewed, clicked, answered, ivr).
 * - undelivered: not delivered, and failed, or reported undelivered/no_answer, or decided with no delivery.
 *   Delivered and undelivered never overlap (a milestone wins over a failure report); messages minus both
 *   are still queued, awaiting a status, or only flagged spam/unsubscribed.
 * - viewed: reported viewed, or a higher milestone that implies a view on its channel (a Viber click).
 * - clicked: the link in the message was clicked.
 * - replied: at least one text reply.
 * - spam, unsubscribed: the recipient flagged the message.
 *
 * Money (integer kopecks): cost = sum of messages.cost (what was reserved for each send; a send refused
 * before reserving costs 0); refunded = the cost of messages marked refunded (undelivered, failed at the
 * provider, and the one full-refund request); net = cost - refunded, what the mailing really cost.
 */

export interface ReportTotals {
  recipients: number;
  reached: number;
  goal: number;
  finished: number;
  interrupted: number;
  onModeration: number;
  cancelled: number;
  running: number;
  pending: number;
  messages: number;
  sent: number;
  failed: number;
  delivered: number;
  undelivered: number;
  viewed: number;
  clicked: number;
  replied: number;
  spam: number;
  unsubscribed: number;
}

export interface ReportMoney {
  cost: number;
  refunded: number;
  net: number;
}

export interface BlockReport {
  variant: number;
  blockId: string;
  /** Null for blocks that sent nothing yet (delay and goal blocks, or send blocks not reached). */
  channel: SendChannel | null;
  messages: number;
  sent: number;
  failed: number;
  delivered: number;
  undelivered: number;
  viewed: number;
  clicked: number;
  replied: number;
  cost: number;
  /** Recipients whose path is currently at this block (not done). */
  current: number;
  /** Recipients who reached the goal at this block (a goal block). */
  goal: number;
}

export interface LinkReport {
  variant: number;
  linkId: string;
  /** How many times a recipient left a send block by this link. */
  count: number;
}

export interface VariantReport {
  variant: number;
  label: string;
  /** The configured split. */
  percent: number;
  totals: ReportTotals;
  money: ReportMoney;
}

export interface MailingReport {
  mailing: { id: number; name: string; status: MailingStatus; tags: string[] };
  totals: ReportTotals;
  money: ReportMoney & {
    /** The one full refund the user may request (RP-2); its amount is part of `refunded`. */
    refundRequest: { at: Date | null; amount: number };
  };
  blocks: BlockReport[];
  links: LinkReport[];
  byVariant: VariantReport[];
}

/** Every total at zero: the starting point of a report (and of tests' expected values). */
export const emptyTotals = (): ReportTotals => ({
  recipients: 0,
  reached: 0,
  goal: 0,
  finished: 0,
  interrupted: 0,
  onModeration: 0,
  cancelled: 0,
  running: 0,
  pending: 0,
  messages: 0,
  sent: 0,
  failed: 0,
  delivered: 0,
  undelivered: 0,
  viewed: 0,
  clicked: 0,
  replied: 0,
  spam: 0,
  unsubscribed: 0,
});

const bucketField = {
  on_moderation: 'onModeration',
  pending: 'pending',
  running: 'running',
  goal: 'goal',
  finished: 'finished',
  interrupted: 'interrupted',
  cancelled: 'cancelled',
} as const satisfies Record<RecipientBucket, keyof ReportTotals>;

const messageFields = [
  'messages',
  'sent',
  'failed',
  'delivered',
  'undelivered',
  'viewed',
  'clicked',
  'replied',
  'spam',
  'unsubscribed',
] as const satisfies readonly (keyof ReportTotals)[];

interface RecipientGroup {
  variant: number;
  block_id: string;
  bucket: RecipientBucket;
  n: number;
}

type MessageGroup = {
  variant: number;
  block_id: string;
  channel: SendChannel;
  link_id: string | null;
} & Record<(typeof messageFields)[number] | 'cost' | 'refunded', number>;

/**
 * The report of one mailing of the account (not_found for another account's mailing). A fixed number
 * of grouped queries whatever the mailing's size — recipients by (variant, block, bucket), messages by
 * (variant, block, link), reached recipients by variant — each reading one table without joins, so
 * the plan cannot degrade into nested loops when statistics are missing; everything else is summed
 * from those few groups.
 */
export async function mailingReport(
  db: Kysely<DB>,
  accountId: number,
  mailingId: number,
): Promise<MailingReport> {
  const id = optionalId(mailingId, 'mailingId');
  const mailing = id
    ? await db
        .selectFrom('mailings')
        .select(['id', 'name', 'status', 'tags', 'refund_requested_at', 'refunded_amount'])
        .where('id', '=', id)
        .where('account_id', '=', accountId)
        .executeTakeFirst()
    : undefined;
  if (!mailing) throw notFound('Mailing', 'mailingId');

  const variants = await db
    .selectFrom('mailing_variants')
    .select(['variant', 'label', 'percent'])
    .where('mailing_id', '=', mailing.id)
    .orderBy('variant')
    .execute();

  const { recipientGroups, reachedRows, messageGroups } = await withGroupingPlan(db, async (trx) => {
    // Whether a recipient has any message is asked only where the bucket depends on it (an open `send`
    // state, a cancelled path): CASE evaluates lazily, and each question is one probe of
    // messages_recipient_idx, so the plan stays linear even without table statistics (PGlite).
    const recipientGroups = await sql<RecipientGroup>`
      select r.variant, r.block_id, ${recipientBucketSql(sql`${mailing.status}::text`, recipientStarted)} as bucket,
        count(*) as n
      from mailing_recipients r
      where r.mailing_id = ${mailing.id} and r.account_id = ${accountId}
      group by 1, 2, 3`.execute(trx);

    // Recipients reached: distinct recipients with a delivered message, per variant (a hashed distinct).
    const reachedRows = await sql<{ variant: number; reached: number }>`
      select d.variant, count(*) as reached
      from (
        select distinct m.variant, m.recipient_id
        from messages m
        where m.mailing_id = ${mailing.id} and m.account_id = ${accountId} and ${isDelivered}
      ) d
      group by d.variant`.execute(trx);

    const messageGroups = await sql<MessageGroup>`
      select m.variant, m.block_id, m.channel, m.link_id,
        count(*) as messages,
        count(*) filter (where ${isSent}) as sent,
        count(*) filter (where ${isFailed}) as failed,
        count(*) filter (where ${isDelivered}) as delivered,
        count(*) filter (where ${isUndelivered}) as undelivered,
        count(*) filter (where ${isViewed}) as viewed,
        count(*) filter (where ${isClicked}) as clicked,
        count(*) filter (where ${isReplied}) as replied,
        count(*) filter (where ${hasStatus('spam')}) as spam,
        count(*) filter (where ${hasStatus('unsubscribed')}) as unsubscribed,
        coalesce(sum(m.cost), 0)::bigint as cost,
        coalesce(sum(m.cost) filter (where m.refunded), 0)::bigint as refunded
      from messages m
      where m.mailing_id = ${mailing.id} and m.account_id = ${accountId}
      group by m.variant, m.block_id, m.channel, m.link_id`.execute(trx);
    return { recipientGroups, reachedRows, messageGroups };
  });

  const totals = emptyTotals();
  const money = { cost: 0, refunded: 0 };
  const perVariant = new Map<number, { totals: ReportTotals; money: { cost: number; refunded: number } }>();
  const variantOf = (variant: number) => {
    let entry = perVariant.get(variant);
    if (!entry) {
      entry = { totals: emptyTotals(), money: { cost: 0, refunded: 0 } };
      perVariant.set(variant, entry);
    }
    return entry;
  };
  const blocks = new Map<string, BlockReport>();
  const blockOf = (variant: number, blockId: string) => {
    const key = `${variant}\u0000${blockId}`;
    let block = blocks.get(key);
    if (!block) {
      block = {
        variant,
        blockId,
        channel: null,
        messages: 0,
        sent: 0,
        failed: 0,
        delivered: 0,
        undelivered: 0,
        viewed: 0,
        clicked: 0,
        replied: 0,
        cost: 0,
        current: 0,
        goal: 0,
      };
      blocks.set(key, block);
    }
    return block;
  };
  for (const v of variants) variantOf(v.variant);

  for (const g of recipientGroups.rows) {
    const n = Number(g.n);
    const field = bucketField[g.bucket];
    const v = variantOf(g.variant);
    for (const t of [totals, v.totals]) {
      t.recipients += n;
      t[field] += n;
    }
    const block = blockOf(g.variant, g.block_id);
    if (g.bucket === 'goal') block.goal += n;
    if (g.bucket === 'pending' || g.bucket === 'running' || g.bucket === 'on_moderation') block.current += n;
  }

  for (const g of reachedRows.rows) {
    totals.reached += Number(g.reached);
    variantOf(g.variant).totals.reached += Number(g.reached);
  }

  const links = new Map<string, LinkReport>();
  for (const g of messageGroups.rows) {
    const v = variantOf(g.variant);
    const block = blockOf(g.variant, g.block_id);
    block.channel = g.channel;
    for (const field of messageFields) {
      const n = Number(g[field]);
      totals[field] += n;
      v.totals[field] += n;
      if (field !== 'spam' && field !== 'unsubscribed') block[field] += n;
    }
    const cost = Number(g.cost);
    const refunded = Number(g.refunded);
    money.cost += cost;
    money.refunded += refunded;
    v.money.cost += cost;
    v.money.refunded += refunded;
    block.cost += cost;
    if (g.link_id !== null) {
      const key = `${g.variant}\u0000${g.link_id}`;
      const link = links.get(key) ?? { variant: g.variant, linkId: g.link_id, count: 0 };
      link.count += Number(g.messages);
      links.set(key, link);
    }
  }

  const labels = new Map(variants.map((v) => [v.variant, v]));
  return {
    mailing: { id: mailing.id, name: mailing.name, status: mailing.status, tags: mailing.tags },
    totals,
    money: {
      ...withNet(money),
      refundRequest: {
        at: mailing.refund_requested_at ? toDate(mailing.refund_requested_at) : null,
        amount: Number(mailing.refunded_amount),
      },
    },
    blocks: [...blocks.values()].sort(
      (a, b) => a.variant - b.variant || (a.blockId < b.blockId ? -1 : a.blockId > b.blockId ? 1 : 0),
    ),
    links: [...links.values()].sort(
      (a, b) => a.variant - b.variant || (a.linkId < b.linkId ? -1 : a.linkId > b.linkId ? 1 : 0),
    ),
    byVariant: [...perVariant.entries()]
      .sort(([a], [b]) => a - b)
      .map(([variant, entry]) => ({
        variant,
        label: labels.get(variant)?.label ?? variantLetter(variant),
        percent: labels.get(variant)?.percent ?? 0,
        totals: entry.totals,
        money: withNet(entry.money),
      })),
  };
}

const withNet = (m: { cost: number; refunded: number }): ReportMoney => ({ ...m, net: m.cost - m.refunded });

/** A, B, C... for a variant that has no label row. */
const variantLetter = (variant: number) =>
  variant < 26 ? String.fromCharCode(65 + variant) : String(variant + 1);
