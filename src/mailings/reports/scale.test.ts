import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends } from '../../../test/support/db.ts';
import type { Database } from '../../db/database.ts';
import { emptyTotals, mailingReport, type ReportTotals } from './mailing-report.ts';
import { newAccount, newMailing } from './test-seed.ts';

/**
 * 50,000 messages written by single INSERT ... SELECT generate_series statements, and the report
 * checked against numbers computed here in plain code from the same generating rules — a second,
 * independent reading of every definition.
 */
const WITH_MESSAGES = 25_000; // recipients 1..25000 get two messages each (viber at step 0, sms at step 1)
const PENDING = 5_000; // recipients 25001..30000 got nothing yet
const MESSAGES = WITH_MESSAGES * 2;

type Kind =
  | 'failed'
  | 'delivered'
  | 'viewed'
  | 'clicked'
  | 'undelivered'
  | 'decided_undelivered'
  | 'spam'
  | 'awaiting';
const kinds: Kind[] = [
  'failed',
  'delivered',
  'viewed',
  'clicked',
  'undelivered',
  'decided_undelivered',
  'spam',
  'awaiting',
];

/** What the SQL below generates for message j (1-based). */
function message(j: number) {
  const recipient = ((j - 1) % WITH_MESSAGES) + 1;
  const channel = j <= WITH_MESSAGES ? 'viber' : 'sms';
  const kind = kinds[j % 8]!;
  const statuses =
    kind === 'delivered'
      ? ['delivered']
      : kind === 'viewed'
        ? ['delivered', 'viewed']
        : kind === 'clicked'
          ? ['clicked', 'delivered']
          : kind === 'undelivered'
            ? ['undelivered']
            : kind === 'spam'
              ? ['spam']
              : [];
  return {
    recipient,
    variant: recipient % 2,
    channel,
    kind,
    statuses,
    cost: kind === 'failed' ? 0 : channel === 'viber' ? 150 : 250,
    refunded: kind === 'undelivered' || kind === 'decided_undelivered',
    replied: j % 13 === 0,
    link: ['delivered', 'viewed', 'clicked', 'undelivered', 'decided_undelivered'].includes(kind)
      ? `l${j % 3}`
      : null,
  };
}

/** The recipient's state for recipient i (1-based). */
function recipientState(i: number): { state: string; endReason: string | null } {
  if (i > WITH_MESSAGES) return { state: 'send', endReason: null };
  return (
    [
      { state: 'done', endReason: 'goal' },
      { state: 'done', endReason: 'finished' },
      { state: 'waiting', endReason: null },
      { state: 'delay', endReason: null },
      { state: 'send', endReason: null },
    ] as const
  )[i % 5]!;
}

function expected() {
  const zero = emptyTotals;
  const totals = [zero(), zero()];
  const money = [
    { cost: 0, refunded: 0 },
    { cost: 0, refunded: 0 },
  ];
  const reached = new Set<number>();
  const links = new Map<string, number>();
  for (let j = 1; j <= MESSAGES; j++) {
    const m = message(j);
    const t = totals[m.variant]!;
    const delivered = m.statuses.some((s) => ['delivered', 'viewed', 'clicked'].includes(s));
    t.messages++;
    if (m.kind === 'failed') t.failed++;
    else t.sent++;
    if (delivered) {
      t.delivered++;
      reached.add(m.recipient);
    }
    if (m.kind === 'failed' || m.kind === 'undelivered' || m.kind === 'decided_undelivered') t.undelivered++;
    if (m.statuses.includes('viewed') || (m.channel === 'viber' && m.statuses.includes('clicked')))
      t.viewed++;
    if (m.statuses.includes('clicked')) t.clicked++;
    if (m.replied) t.replied++;
    if (m.kind === 'spam') t.spam++;
    money[m.variant]!.cost += m.cost;
    if (m.refunded) money[m.variant]!.refunded += m.cost;
    if (m.link) links.set(`${m.variant}:${m.link}`, (links.get(`${m.variant}:${m.link}`) ?? 0) + 1);
  }
  for (let i = 1; i <= WITH_MESSAGES + PENDING; i++) {
    const t = totals[i % 2]!;
    const { state, endReason } = recipientState(i);
    t.recipients++;
    if (reached.has(i)) t.reached++;
    if (endReason === 'goal') t.goal++;
    else if (endReason === 'finished') t.finished++;
    else if (state === 'send' && i > WITH_MESSAGES) t.pending++;
    else t.running++;
  }
  return { totals, money, links };
}

describe.each(backends)('mailing report at scale on $name', (backend) => {
  let database: Database;
  beforeAll(async () => {
    database = await backend.open();
  });
  afterAll(async () => {
    await database?.close();
  });

  it(`matches independently computed totals over ${MESSAGES} messages`, async () => {
    const db = database.db;
    const accountId = await newAccount(db);
    const mailingId = await newMailing(db, accountId, {
      variants: [
        { label: 'A', percent: 50 },
        { label: 'B', percent: 50 },
      ],
    });
    // A second account's copy of the same data must not leak into the report.
    const otherAccount = await newAccount(db);
    const otherMailing = await newMailing(db, otherAccount);

    for (const [account, mailing] of [
      [accountId, mailingId],
      [otherAccount, otherMailing],
    ] as const) {
      await sql`
        insert into mailing_recipients (mailing_id, account_id, phone, variant, block_id, step, state, end_reason, entered_at, finished_at)
        select ${mailing}, ${account}, '+7900' || lpad(i::text, 7, '0'), i % 2,
          case when i > ${WITH_MESSAGES} then 'b1' when i % 5 = 0 then 'g' else 'b2' end,
          case when i > ${WITH_MESSAGES} then 0 else 1 end,
          case when i > ${WITH_MESSAGES} then 'send' else (array['done','done','waiting','delay','send'])[i % 5 + 1] end,
          case when i > ${WITH_MESSAGES} then null else (array['goal','finished',null,null,null])[i % 5 + 1] end,
          now(), case when i <= ${WITH_MESSAGES} and i % 5 < 2 then now() end
        from generate_series(1, ${WITH_MESSAGES + PENDING}) i`.execute(db);
      await sql`
        insert into messages (account_id, mailing_id, recipient_id, variant, block_id, step, channel, idempotency_key,
                              phone, state, statuses, final_status, error_reason, replies, cost, refunded, link_id,
                              created_at, sent_at)
        select ${account}, ${mailing}, r.id, r.variant,
          case when g.j <= ${WITH_MESSAGES} then 'b1' else 'b2' end,
          case when g.j <= ${WITH_MESSAGES} then 0 else 1 end,
          g.channel, 'scale-' || ${mailing} || '-' || g.j, r.phone,
          case when g.k = 0 then 'failed' else 'submitted' end,
          case g.k when 1 then array['delivered'] when 2 then array['delivered','viewed']
            when 3 then array['clicked','delivered'] when 4 then array['undelivered'] when 6 then array['spam']
            else array[]::text[] end,
          case g.k when 0 then 'error' when 5 then 'undelivered' end,
          case when g.k = 0 then 'stop_listed' end,
          case when g.j % 13 = 0 then array['да'] else array[]::text[] end,
          case when g.k = 0 then 0 when g.channel = 'viber' then 150 else 250 end,
          g.k in (4, 5),
          case when g.k between 1 and 5 then 'l' || (g.j % 3) end,
          now(), case when g.k <> 0 then now() end
        from (
          select j, j % 8 as k, case when j <= ${WITH_MESSAGES} then 'viber' else 'sms' end as channel,
                 '+7900' || lpad((((j - 1) % ${WITH_MESSAGES}) + 1)::text, 7, '0') as phone
          from generate_series(1, ${MESSAGES}) j
        ) g
        join mailing_recipients r on r.mailing_id = ${mailing} and r.phone = g.phone`.execute(db);
    }

    const report = await mailingReport(db, accountId, mailingId);
    const want = expected();
    const sum = (a: ReportTotals, b: ReportTotals) =>
      Object.fromEntries(
        Object.keys(a).map((k) => [k, a[k as keyof ReportTotals] + b[k as keyof ReportTotals]]),
      );

    expect(report.totals.messages).toBe(MESSAGES);
    expect(report.totals).toEqual(sum(want.totals[0]!, want.totals[1]!));
    expect(report.byVariant.map((v) => v.totals)).toEqual(want.totals);
    expect(report.byVariant.map((v) => v.money)).toEqual(
      want.money.map((m) => ({ cost: m.cost, refunded: m.refunded, net: m.cost - m.refunded })),
    );
    expect(Object.fromEntries(report.links.map((l) => [`${l.variant}:${l.linkId}`, l.count]))).toEqual(
      Object.fromEntries(want.links),
    );
    const blockMessages = report.blocks.reduce((s, b) => s + b.messages, 0);
    expect(blockMessages).toBe(MESSAGES);
    expect(report.blocks.filter((b) => b.blockId === 'g').reduce((s, b) => s + b.goal, 0)).toBe(
      report.totals.goal,
    );

    // And the same numbers straight from SQL written differently (plain WHERE counts).
    const check = await sql<{ delivered: number; undelivered: number; cost: number }>`
      select
        (select count(*) from messages where mailing_id = ${mailingId} and statuses && array['delivered','viewed','clicked','ivr','answered']) as delivered,
        (select count(*) from messages where mailing_id = ${mailingId}
           and not statuses && array['delivered','viewed','clicked','ivr','answered']
           and (state = 'failed' or 'undelivered' = any(statuses) or final_status = 'undelivered')) as undelivered,
        (select sum(cost)::bigint from messages where mailing_id = ${mailingId}) as cost`.execute(db);
    expect(check.rows[0]).toEqual({
      delivered: report.totals.delivered,
      undelivered: report.totals.undelivered,
      cost: report.money.cost,
    });
  });
});
