import { type RawBuilder, sql } from 'kysely';
import { channelMilestones, sendChannels } from '../scheme/vocabulary.ts';
import {
  deliveredStatuses,
  failureStatuses,
  flagStatuses,
  type MessageReportStatus,
  milestonePriority,
  type RecipientBucket,
} from './report-vocabulary.ts';

/**
 * SQL expressions every report shares, so a total means the same in the mailing report, the message
 * list, the charts and the exports. They read a `messages` row aliased `m` and a `mailing_recipients`
 * row aliased `r`. Constant vocabulary is inlined as literals (it is a closed, checked list), which
 * keeps the plans simple and the SQL readable in logs.
 */

const WORD = /^[a-z_]+$/;

/** `array['a','b']::text[]` from a closed vocabulary list. */
export function textArray(values: readonly string[]): RawBuilder<string[]> {
  for (const v of values) if (!WORD.test(v)) throw new Error(`not a vocabulary word: ${v}`);
  return sql.raw<string[]>(`array[${values.map((v) => `'${v}'`).join(',')}]::text[]`);
}

const lit = (value: string): RawBuilder<string> => {
  if (!WORD.test(value)) throw new Error(`not a vocabulary word: ${value}`);
  return sql.raw<string>(`'${value}'`);
};

/** Accepted by the provider (a failed send never was). */
export const isSent = sql<boolean>`(m.state = 'submitted')`;

/** The send itself failed: stop-listed, no funds, invalid number... (error_reason says which). */
export const isFailed = sql<boolean>`(m.state = 'failed')`;

/** Reached any milestone of its channel (delivered, viewed, clicked, answered, ivr) — what billing captures. */
export const isDelivered = sql<boolean>`(m.statuses && ${textArray(deliveredStatuses)})`;

/**
 * Never got through: the send failed, or the provider reported a failure status, or the block decided
 * with no delivery (final_status undelivered/no_answer). A milestone wins over a failure report (a late
 * delivery receipt means it was delivered), so delivered and undelivered never overlap.
 */
export const isUndelivered = sql<boolean>`(not ${isDelivered} and (m.state = 'failed'
  or m.statuses && ${textArray(failureStatuses)} or m.final_status = any(${textArray(failureStatuses)})))`;

/**
 * Reported `milestone` itself, or a higher milestone of a channel where the higher one implies it (a
 * Viber click implies the message was viewed; an SMS click does not, SMS reports no views).
 */
function reachedAtLeast(milestone: 'viewed' | 'clicked'): RawBuilder<boolean> {
  const parts: RawBuilder<boolean>[] = [sql`${lit(milestone)} = any(m.statuses)`];
  for (const channel of sendChannels) {
    const order = channelMilestones[channel] as readonly string[];
    const index = order.indexOf(milestone);
    if (index > 0)
      parts.push(sql`(m.channel = ${lit(channel)} and m.statuses && ${textArray(order.slice(0, index))})`);
  }
  return sql<boolean>`(${sql.join(parts, sql` or `)})`;
}

export const isViewed = reachedAtLeast('viewed');
export const isClicked = reachedAtLeast('clicked');
/** Got at least one text reply (SMS, Viber, VK/OK). */
export const isReplied = sql<boolean>`(cardinality(m.replies) > 0)`;
export const hasStatus = (status: 'spam' | 'unsubscribed') =>
  sql<boolean>`(${lit(status)} = any(m.statuses))`;

/** The one status a message shows; see messageReportStatuses for the order. */
export const messageStatusSql: RawBuilder<MessageReportStatus> = (() => {
  const whens: RawBuilder<unknown>[] = [
    sql`when m.state = 'failed' then 'error'`,
    sql`when m.state = 'queued' then 'queued'`,
  ];
  for (const s of [...flagStatuses, ...milestonePriority])
    whens.push(sql`when ${lit(s)} = any(m.statuses) then ${lit(s)}`);
  for (const s of failureStatuses)
    whens.push(sql`when ${lit(s)} = any(m.statuses) or m.final_status = ${lit(s)} then ${lit(s)}`);
  return sql<MessageReportStatus>`(case ${sql.join(whens, sql` `)} else 'sent' end)`;
})();

/**
 * The recipient's bucket (see mailing-report.ts). `mailingStatus` is the status of the recipient's
 * mailing; `started` whether its cascade has started (recipientStarted).
 */
export function recipientBucketSql(
  mailingStatus: RawBuilder<string>,
  started: RawBuilder<boolean>,
): RawBuilder<RecipientBucket> {
  return sql<RecipientBucket>`(case
    when r.state = 'done' and r.end_reason = 'goal' then 'goal'
    when (r.state = 'done' and r.end_reason = 'cancelled') or (r.state <> 'done' and ${mailingStatus} = 'cancelled')
      then case when ${started} then 'interrupted' else 'cancelled' end
    when r.state = 'done' then 'finished'
    when ${mailingStatus} = 'on_moderation' then 'on_moderation'
    when r.state = 'send' and not ${started} then 'pending'
    else 'running' end)`;
}

/**
 * Whether the cascade has started for recipient row `r`: anything was sent to it yet. Its own columns answer for almost every row (it
 * left the start block, which is always a send block; it is on a redial; it has a current message);
 * only the rest cost a probe of messages_recipient_idx (OR stops at the first true arm).
 */
export const recipientStarted = sql<boolean>`(r.step > 0 or r.attempt > 0 or r.message_id is not null
  or exists (select 1 from messages x where x.recipient_id = r.id and x.account_id = r.account_id))`;
