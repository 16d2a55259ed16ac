import { type Kysely, type RawBuilder, sql } from 'kysely';
import { DateTime } from 'luxon';
import type { DB, MailingStatus } from '../../db/schema.ts';
import { invalid } from '../../shared/errors.ts';
import type { SendChannel } from '../scheme/vocabulary.ts';
import {
  checkRange,
  optionalChannel,
  optionalId,
  optionalOneOf,
  optionalTag,
  optionalVariant,
  requiredDate,
  timezone,
} from './filters.ts';
import { withGroupingPlan } from './planner.ts';
import { isClicked, isDelivered, isSent, isUndelivered } from './sql-fragments.ts';

/**
 * RP-5 charts over time. Each point is one bucket (an hour or a day starting at `t`, in the given zone):
 * - sent, delivered, clicked, undelivered: messages by the time they were sent (created, for sends that
 *   failed before reaching a provider) — a cohort: "of the messages sent that hour, this many were
 *   delivered", whenever the receipt came. Definitions as in mailing-report.ts.
 * - goal: recipients whose path reached a goal block, by the time they reached it.
 *
 * Filters: channel (the message's channel; for goals, recipients who got at least one message on it),
 * tag (the mailing carries it), status (the mailing's status), variant, mailingId. Every bucket in
 * [from, to) is present, zeros included, so a chart needs no gap filling.
 */

export const timeBuckets = ['hour', 'day'] as const;
export type TimeBucket = (typeof timeBuckets)[number];

const mailingStatuses = [
  'draft',
  'on_moderation',
  'scheduled',
  'running',
  'paused',
  'completed',
  'cancelled',
] as const satisfies readonly MailingStatus[];

export interface TimeSeriesOptions {
  bucket: TimeBucket;
  from: Date | string;
  to: Date | string;
  channel?: SendChannel;
  tag?: string;
  /** The mailing's status. */
  status?: MailingStatus;
  variant?: number;
  mailingId?: number;
  /** IANA zone the buckets start in; Europe/Moscow by default. */
  timezone?: string;
}

export interface TimePoint {
  /** Bucket start, ISO 8601 with the zone's offset. */
  t: string;
  sent: number;
  delivered: number;
  clicked: number;
  undelivered: number;
  goal: number;
}

/** A chart wider than this many buckets is a mistake (a year of hours is 8,760). */
export const MAX_BUCKETS = 10_000;

export async function timeSeries(
  db: Kysely<DB>,
  accountId: number,
  options: TimeSeriesOptions,
): Promise<TimePoint[]> {
  const bucket = optionalOneOf(timeBuckets, options.bucket, 'bucket');
  if (!bucket) throw invalid('bucket', 'bucket is required: hour or day');
  const from = requiredDate(options.from, 'from');
  const to = requiredDate(options.to, 'to');
  checkRange(from, to);
  const zone = timezone(options.timezone);
  const channel = optionalChannel(options.channel);
  const tag = optionalTag(options.tag);
  const status = optionalOneOf(mailingStatuses, options.status, 'status');
  const variant = optionalVariant(options.variant);
  const mailingId = optionalId(options.mailingId, 'mailingId');

  const starts = bucketStarts(bucket, from, to, zone);
  if (starts.length > MAX_BUCKETS)
    throw invalid(
      'to',
      `The range spans ${starts.length} ${bucket}s; at most ${MAX_BUCKETS} buckets fit in one chart`,
    );

  // Tag and status narrow the mailings first (an array computed once), so the big tables are read
  // alone, never joined: the plan stays linear even where statistics are missing (PGlite).
  const byMailing = (column: RawBuilder<unknown>) =>
    tag !== undefined || status
      ? sql`and ${column} = any(array(select ml.id from mailings ml where ml.account_id = ${accountId}
          ${tag !== undefined ? sql`and ml.tags @> array[${tag}]::text[]` : sql``}
          ${status ? sql`and ml.status = ${status}` : sql``}
          ${mailingId !== undefined ? sql`and ml.id = ${mailingId}` : sql``}))`
      : mailingId !== undefined
        ? sql`and ${column} = ${mailingId}`
        : sql``;

  const at = sql`coalesce(m.sent_at, m.created_at)`;
  const { messageRows, goalRows } = await withGroupingPlan(db, async (trx) => {
    const messageRows = await sql<{
      t: Date | string;
      sent: number;
      delivered: number;
      clicked: number;
      undelivered: number;
    }>`
      select date_trunc(${bucket}, ${at}, ${zone}) as t,
        count(*) filter (where ${isSent}) as sent,
        count(*) filter (where ${isDelivered}) as delivered,
        count(*) filter (where ${isClicked}) as clicked,
        count(*) filter (where ${isUndelivered}) as undelivered
      from messages m
      where m.account_id = ${accountId} and ${at} >= ${from} and ${at} < ${to}
        ${byMailing(sql.ref('m.mailing_id'))}
        ${channel ? sql`and m.channel = ${channel}` : sql``}
        ${variant !== undefined ? sql`and m.variant = ${variant}` : sql``}
      group by 1`.execute(trx);

    const goalFilter = sql`r.account_id = ${accountId} and r.state = 'done' and r.end_reason = 'goal'
      and r.finished_at >= ${from} and r.finished_at < ${to}
      ${byMailing(sql.ref('r.mailing_id'))}
      ${variant !== undefined ? sql`and r.variant = ${variant}` : sql``}`;
    const goalRows = channel
      ? // Goals of recipients who got at least one message on the channel: both sides grouped per recipient.
        await sql<{ t: Date | string; goal: number }>`
          select t, count(*) as goal from (
            select max(u.t) as t
            from (
              select r.id, date_trunc(${bucket}, r.finished_at, ${zone}) as t, true as is_goal
              from mailing_recipients r where ${goalFilter}
              union all
              select m.recipient_id, null, false
              from messages m
              where m.account_id = ${accountId} and m.channel = ${channel} and m.created_at < ${to}
                ${byMailing(sql.ref('m.mailing_id'))}
                ${variant !== undefined ? sql`and m.variant = ${variant}` : sql``}
            ) u
            group by u.id
            having bool_or(u.is_goal) and bool_or(not u.is_goal)
          ) x
          group by t`.execute(trx)
      : await sql<{ t: Date | string; goal: number }>`
          select date_trunc(${bucket}, r.finished_at, ${zone}) as t, count(*) as goal
          from mailing_recipients r where ${goalFilter}
          group by 1`.execute(trx);
    return { messageRows, goalRows };
  });

  const points = new Map<number, TimePoint>();
  for (const start of starts) points.set(start.toMillis(), emptyPoint(start, zone));
  const pointAt = (t: Date | string) => {
    const ms = new Date(t).getTime();
    let point = points.get(ms);
    if (!point) {
      // Only when the database and luxon disagree on a bucket edge (an ambiguous DST hour).
      point = emptyPoint(DateTime.fromMillis(ms), zone);
      points.set(ms, point);
    }
    return point;
  };
  for (const row of messageRows.rows) {
    const point = pointAt(row.t);
    point.sent += Number(row.sent);
    point.delivered += Number(row.delivered);
    point.clicked += Number(row.clicked);
    point.undelivered += Number(row.undelivered);
  }
  for (const row of goalRows.rows) pointAt(row.t).goal += Number(row.goal);
  return [...points.entries()].sort(([a], [b]) => a - b).map(([, p]) => p);
}

function emptyPoint(start: DateTime, zone: string): TimePoint {
  return { t: start.setZone(zone).toISO()!, sent: 0, delivered: 0, clicked: 0, undelivered: 0, goal: 0 };
}

/** Starts of every bucket overlapping [from, to), in the zone. */
export function bucketStarts(bucket: TimeBucket, from: Date, to: Date, zone: string): DateTime[] {
  const starts: DateTime[] = [];
  const end = to.getTime();
  let cursor = DateTime.fromJSDate(from, { zone }).startOf(bucket);
  while (cursor.toMillis() < end && starts.length <= MAX_BUCKETS) {
    starts.push(cursor);
    cursor = cursor.plus(bucket === 'hour' ? { hours: 1 } : { days: 1 }).startOf(bucket);
  }
  return starts;
}
