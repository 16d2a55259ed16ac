import { type Kysely, sql } from 'kysely';
import type { DB, MailingStatus } from '../../db/schema.ts';
import type { Clock } from '../../shared/clock.ts';
import { toDate } from './messages.ts';

/**
 * RP-3 "Отложенные рассылки": mailings set to start later that have not started yet — scheduled ones,
 * and ones still on moderation or paused whose start time is ahead (they go out at that time once
 * approved or resumed). Soonest first.
 */

export interface DeferredMailing {
  id: number;
  name: string;
  status: MailingStatus;
  tags: string[];
  startAt: Date;
  createdAt: Date;
  /** Recipients the mailing will send to. */
  recipients: number;
  /** Per A/B variant (empty for a mailing without variant rows). */
  byVariant: { variant: number; label: string; percent: number; recipients: number }[];
}

const deferredStatuses = ['scheduled', 'on_moderation', 'paused'] as const satisfies readonly MailingStatus[];

export async function listDeferredMailings(
  db: Kysely<DB>,
  clock: Clock,
  accountId: number,
): Promise<DeferredMailing[]> {
  const mailings = await db
    .selectFrom('mailings')
    .select(['id', 'name', 'status', 'tags', 'start_at', 'created_at', 'recipients_total'])
    .where('account_id', '=', accountId)
    .where('status', 'in', deferredStatuses)
    .where('start_at', '>', clock.now())
    .orderBy('start_at')
    .orderBy('id')
    .execute();
  if (mailings.length === 0) return [];
  const ids = mailings.map((m) => m.id);
  // One grouped count for all of them; variants without recipients still show (with 0).
  const counts = await sql<{
    mailing_id: number;
    variant: number;
    label: string | null;
    percent: number | null;
    n: number;
  }>`
    select coalesce(v.mailing_id, c.mailing_id) as mailing_id, coalesce(v.variant, c.variant) as variant,
           v.label, v.percent, coalesce(c.n, 0) as n
    from (select variant, mailing_id, label, percent from mailing_variants where mailing_id = any(${ids}::bigint[])) v
    full join (
      select mailing_id, variant, count(*) as n from mailing_recipients
      where account_id = ${accountId} and mailing_id = any(${ids}::bigint[])
      group by mailing_id, variant
    ) c on c.mailing_id = v.mailing_id and c.variant = v.variant
    order by 1, 2`.execute(db);
  const byMailing = new Map<number, DeferredMailing['byVariant']>();
  for (const c of counts.rows) {
    const list = byMailing.get(c.mailing_id) ?? [];
    list.push({
      variant: c.variant,
      label: c.label ?? String(c.variant + 1),
      percent: c.percent ?? 0,
      recipients: Number(c.n),
    });
    byMailing.set(c.mailing_id, list);
  }
  return mailings.map((m) => {
    const byVariant = byMailing.get(m.id) ?? [];
    const counted = byVariant.reduce((sum, v) => sum + v.recipients, 0);
    return {
      id: m.id,
      name: m.name,
      status: m.status,
      tags: m.tags,
      startAt: toDate(m.start_at!),
      createdAt: toDate(m.created_at),
      // Recipients are written when the mailing is launched; before that the planned total stands in.
      recipients: counted > 0 ? counted : Number(m.recipients_total),
      byVariant,
    };
  });
}
