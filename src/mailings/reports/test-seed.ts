import type { Kysely } from 'kysely';
import type { DB, MailingStatus, MessageState, RecipientEndReason, RecipientState } from '../../db/schema.ts';
import type { SendChannel } from '../scheme/vocabulary.ts';

/**
 * Test data for the report tests: rows written by hand, the way the engine writes them, so the reports
 * are checked against known numbers without running the engine.
 */

let seq = 0;
const T0 = new Date('2026-03-01T09:00:00Z');

export async function newAccount(db: Kysely<DB>, name = 'reports'): Promise<number> {
  const row = await db
    .insertInto('accounts')
    .values({ name: `${name} ${++seq} ${Math.random().toString(36).slice(2, 8)}`, created_at: T0 })
    .returning('id')
    .executeTakeFirstOrThrow();
  return row.id;
}

export async function newMailing(
  db: Kysely<DB>,
  accountId: number,
  options: {
    name?: string;
    status?: MailingStatus;
    tags?: string[];
    startAt?: Date | null;
    variants?: { label: string; percent: number }[];
    recipientsTotal?: number;
  } = {},
): Promise<number> {
  const row = await db
    .insertInto('mailings')
    .values({
      account_id: accountId,
      name: options.name ?? `mailing ${++seq}`,
      status: options.status ?? 'running',
      settings: {},
      tags: options.tags ?? [],
      start_at: options.startAt ?? null,
      recipients_total: options.recipientsTotal ?? 0,
      created_at: T0,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  const variants = options.variants ?? [{ label: 'A', percent: 100 }];
  await db
    .insertInto('mailing_variants')
    .values(
      variants.map((v, i) => ({
        mailing_id: row.id,
        variant: i,
        label: v.label,
        percent: v.percent,
        scheme: {},
      })),
    )
    .execute();
  return row.id;
}

export interface RecipientSeed {
  phone: string;
  variant?: number;
  blockId?: string;
  state?: RecipientState;
  endReason?: RecipientEndReason | null;
  step?: number;
  finishedAt?: Date | null;
}

export async function addRecipient(
  db: Kysely<DB>,
  accountId: number,
  mailingId: number,
  r: RecipientSeed,
): Promise<number> {
  const state = r.state ?? 'send';
  const row = await db
    .insertInto('mailing_recipients')
    .values({
      mailing_id: mailingId,
      account_id: accountId,
      phone: r.phone,
      vars: {},
      variant: r.variant ?? 0,
      block_id: r.blockId ?? 'b1',
      step: r.step ?? 0,
      state,
      end_reason: state === 'done' ? (r.endReason ?? 'finished') : null,
      entered_at: T0,
      finished_at: state === 'done' ? (r.finishedAt ?? T0) : null,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return row.id;
}

export interface MessageSeed {
  recipientId: number;
  phone: string;
  channel: SendChannel;
  blockId?: string;
  variant?: number;
  state?: MessageState;
  statuses?: string[];
  finalStatus?: string | null;
  errorReason?: string | null;
  replies?: string[];
  cost?: number;
  refunded?: boolean;
  linkId?: string | null;
  createdAt?: Date;
  sentAt?: Date | null;
}

export async function addMessage(
  db: Kysely<DB>,
  accountId: number,
  mailingId: number,
  m: MessageSeed,
): Promise<number> {
  const state = m.state ?? 'submitted';
  const createdAt = m.createdAt ?? T0;
  const row = await db
    .insertInto('messages')
    .values({
      account_id: accountId,
      mailing_id: mailingId,
      recipient_id: m.recipientId,
      variant: m.variant ?? 0,
      block_id: m.blockId ?? 'b1',
      step: 0,
      // One message per (recipient, step, attempt): seeds number their attempts.
      attempt: ++seq,
      channel: m.channel,
      idempotency_key: `seed-${seq}-${Math.random().toString(36).slice(2)}`,
      phone: m.phone,
      state,
      statuses: m.statuses ?? [],
      final_status: m.finalStatus ?? null,
      error_reason: m.errorReason ?? null,
      replies: m.replies ?? [],
      cost: m.cost ?? 0,
      refunded: m.refunded ?? false,
      link_id: m.linkId ?? null,
      created_at: createdAt,
      sent_at: m.sentAt !== undefined ? m.sentAt : state === 'submitted' ? createdAt : null,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return row.id;
}

/**
 * A running two-variant cascade with every case the reports distinguish. Variant A: viber block b1 →
 * (clicked → goal g, undelivered → sms block b2, reply → delay d1, error → end). Variant B: sms b1,
 * viber b2. Messages are created a minute apart in the order m1..m11.
 */
export async function seedSampleMailing(db: Kysely<DB>, accountId: number, name = 'Весенняя акция') {
  const mailingId = await newMailing(db, accountId, {
    name,
    status: 'running',
    tags: ['promo', 'spring'],
    variants: [
      { label: 'A', percent: 50 },
      { label: 'B', percent: 50 },
    ],
  });
  const at = (minute: number) => new Date(T0.getTime() + minute * 60_000);
  const phone = (n: number) => `+7999000${String(n).padStart(4, '0')}`;
  const rec = (n: number, r: Omit<RecipientSeed, 'phone'>) =>
    addRecipient(db, accountId, mailingId, { phone: phone(n), ...r });
  const msg = (
    n: number,
    recipientId: number,
    minute: number,
    m: Omit<MessageSeed, 'recipientId' | 'phone' | 'createdAt'>,
  ) => addMessage(db, accountId, mailingId, { recipientId, phone: phone(n), createdAt: at(minute), ...m });

  const r1 = await rec(1, { blockId: 'g', state: 'done', endReason: 'goal', step: 1 });
  const r2 = await rec(2, { blockId: 'b2', state: 'waiting', step: 1 });
  const r3 = await rec(3, { blockId: 'b1', state: 'done', endReason: 'finished' });
  const r4 = await rec(4, { blockId: 'b1', state: 'send' });
  const r5 = await rec(5, { blockId: 'b1', state: 'sending' });
  const r6 = await rec(6, { blockId: 'b2', state: 'done', endReason: 'finished', step: 1 });
  const r7 = await rec(7, { blockId: 'd1', state: 'delay', step: 1 });
  const r8 = await rec(8, { variant: 1, blockId: 'g', state: 'done', endReason: 'goal', step: 1 });
  const r9 = await rec(9, { variant: 1, blockId: 'b1', state: 'waiting' });
  const r10 = await rec(10, { variant: 1, blockId: 'b2', state: 'waiting', step: 1 });

  const m = {
    m1: await msg(1, r1, 1, {
      channel: 'viber',
      statuses: ['clicked', 'delivered'],
      finalStatus: 'clicked',
      cost: 150,
      linkId: 'l_click',
    }),
    m2: await msg(2, r2, 2, {
      channel: 'viber',
      statuses: ['undelivered'],
      finalStatus: 'undelivered',
      cost: 150,
      refunded: true,
      linkId: 'l_undelivered',
    }),
    m3: await msg(2, r2, 3, { channel: 'sms', blockId: 'b2', statuses: ['delivered'], cost: 250 }),
    m4: await msg(3, r3, 4, {
      channel: 'viber',
      state: 'failed',
      errorReason: 'stop_listed',
      finalStatus: 'error',
      linkId: 'l_error',
    }),
    m5: await msg(5, r5, 5, { channel: 'viber', state: 'queued', cost: 150 }),
    m6: await msg(6, r6, 6, {
      channel: 'viber',
      finalStatus: 'undelivered',
      cost: 150,
      refunded: true,
      linkId: 'l_undelivered',
    }),
    m7: await msg(6, r6, 7, {
      channel: 'sms',
      blockId: 'b2',
      state: 'failed',
      errorReason: 'insufficient_funds',
      finalStatus: 'error',
    }),
    m8: await msg(7, r7, 8, {
      channel: 'viber',
      statuses: ['delivered'],
      replies: ['Да, интересно'],
      cost: 150,
      linkId: 'l_yes',
    }),
    m9: await msg(8, r8, 9, {
      channel: 'sms',
      variant: 1,
      statuses: ['clicked', 'delivered'],
      finalStatus: 'clicked',
      cost: 250,
      linkId: 'l_click_b',
    }),
    m10: await msg(9, r9, 10, {
      channel: 'sms',
      variant: 1,
      statuses: ['delivered', 'undelivered'],
      cost: 250,
    }),
    m11: await msg(10, r10, 11, {
      channel: 'viber',
      variant: 1,
      blockId: 'b2',
      statuses: ['spam'],
      cost: 150,
    }),
  };
  return { mailingId, recipients: { r1, r2, r3, r4, r5, r6, r7, r8, r9, r10 }, messages: m, phone, at };
}

export async function failure(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a failure');
    },
    (e: unknown) => e,
  );
}
