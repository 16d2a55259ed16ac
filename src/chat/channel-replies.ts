import crypto from 'node:crypto';
import { type Kysely, sql } from 'kysely';
import { refund, reserve } from '../billing/ledger.ts';
import { channelAdapters } from '../channels/registry.ts';
import type { ChannelAdapter, OutboundMessage } from '../channels/types.ts';
import type { DB } from '../db/schema.ts';
import { inTransaction } from '../db/transaction.ts';
import { contentLimits, E164_PATTERN, type SendChannel } from '../mailings/scheme/vocabulary.ts';
import type { Clock } from '../shared/clock.ts';
import { AppError } from '../shared/errors.ts';
import { assignRoundRobin } from './assignment.ts';
import { publish } from './bus.ts';
import { captureContact } from './capture.ts';
import { insertMessage } from './message-store.ts';
import { writeOutbox } from './outbox.ts';
import { isReplyChannel, type ReplyChannel } from './vocabulary.ts';

/**
 * Dialogs from messaging channels (CH-5). A reply to a mailing that has "receive replies in the online
 * chat" on opens the contact's dialog on that channel, or continues the open one; the operator's answer
 * goes back out on that channel through its ChannelAdapter, with an idempotency key per message.
 */

/** A reply as the mailing engine applies it (provider event of kind 'reply' matched to its message). */
export interface ChannelReply {
  accountId: number;
  mailingId: number;
  /** The mailing message (messages.id) the reply answers. */
  messageId: number;
  /** E.164 */
  phone: string;
  channel: SendChannel;
  text: string;
  at: Date;
}

export interface ReplyOutcome {
  accountId: number;
  mailingId: number;
  dialogId: number;
  /** The chat message written; null when this reply was already in the chat (applied twice). */
  chatMessageId: number | null;
  opened: boolean;
}

/** The same reply applied again (an engine retry) must not show twice. */
function replyKey(prefix: string, text: string, at: Date): string {
  const digest = crypto.createHash('sha256').update(text).digest('hex').slice(0, 16);
  return `${prefix}:${at.toISOString()}:${digest}`;
}

/** A customer's text on a channel, on its way into the chat. */
interface InboundReply {
  accountId: number;
  /** The mailing it answers (null: it answers an operator's message). */
  mailingId: number | null;
  phone: string;
  channel: ReplyChannel;
  text: string;
  sourceKey: string;
}

/** Dialogs from mailing replies go to the site marked for them, else the account's first site. */
async function replySite(db: Kysely<DB>, accountId: number): Promise<number | null> {
  const site = await db
    .selectFrom('sites')
    .select('id')
    .where('account_id', '=', accountId)
    .orderBy('mailing_replies', 'desc')
    .orderBy('id')
    .limit(1)
    .executeTakeFirst();
  return site?.id ?? null;
}

/**
 * Opens or continues a dialog for every reply whose mailing has replies_to_chat on; other replies are
 * ignored. Safe to call again with the same replies, and inside the caller's transaction (the engine
 * may apply replies and open dialogs as one unit). Live notices go out when that transaction commits.
 */
export async function openDialogsFromReplies(
  db: Kysely<DB>,
  clock: Clock,
  replies: ChannelReply[],
): Promise<ReplyOutcome[]> {
  const usable = replies.filter(
    (r) => isReplyChannel(r.channel) && E164_PATTERN.test(r.phone) && r.text.trim() !== '',
  );
  if (usable.length === 0) return [];
  const mailingIds = [...new Set(usable.map((r) => r.mailingId))];
  const chatMailings = await db
    .selectFrom('mailings')
    .select(['id', 'account_id'])
    .where('id', 'in', mailingIds)
    .where('replies_to_chat', '=', true)
    .execute();
  const enabled = new Set(chatMailings.map((m) => `${m.account_id}:${m.id}`));
  const outcomes: ReplyOutcome[] = [];
  for (const reply of usable) {
    if (!enabled.has(`${reply.accountId}:${reply.mailingId}`)) continue;
    const inbound: InboundReply = {
      accountId: reply.accountId,
      mailingId: reply.mailingId,
      phone: reply.phone,
      channel: reply.channel as ReplyChannel,
      text: reply.text,
      sourceKey: replyKey(`reply:${reply.messageId}`, reply.text, reply.at),
    };
    const applied = await inTransaction(db, (trx) => applyReply(trx, clock, inbound));
    outcomes.push({ ...applied, mailingId: reply.mailingId });
  }
  return outcomes;
}

/** A provider event of kind 'reply' whose message is not a mailing message. */
export interface AnswerReply {
  provider: string;
  providerMessageId: string;
  text: string;
  at: Date;
}

export interface AnswerReplyOutcome {
  providerMessageId: string;
  accountId: number;
  dialogId: number;
  chatMessageId: number | null;
  opened: boolean;
}

/**
 * Replies to an operator's answer on a channel (the customer writes back to what the operator sent):
 * the engine finds no mailing message for such an event; this matches it to the chat answer it
 * replies to and continues (or reopens) that number's dialog. Events it does not know are left out of
 * the result (the engine treats them as before). Safe to call again and inside the caller's transaction.
 */
export async function openDialogsFromAnswerReplies(
  db: Kysely<DB>,
  clock: Clock,
  replies: AnswerReply[],
): Promise<AnswerReplyOutcome[]> {
  const usable = replies.filter((r) => r.text.trim() !== '');
  if (usable.length === 0) return [];
  const answers = await sql<{
    provider: string;
    provider_message_id: string;
    account_id: number;
    channel: string;
    address: string | null;
  }>`
    select m.provider, m.provider_message_id, d.account_id, d.channel, d.address
    from unnest(${usable.map((r) => r.provider)}::text[], ${usable.map((r) => r.providerMessageId)}::text[]) as x(p, i)
    join chat_messages m on m.provider = x.p and m.provider_message_id = x.i
    join dialogs d on d.id = m.dialog_id
    where m.author = 'operator' and d.channel <> 'web'`.execute(db);
  const byId = new Map(answers.rows.map((a) => [`${a.provider}\u0000${a.provider_message_id}`, a]));
  const outcomes: AnswerReplyOutcome[] = [];
  for (const reply of usable) {
    const answer = byId.get(`${reply.provider}\u0000${reply.providerMessageId}`);
    if (!answer?.address || !isReplyChannel(answer.channel)) continue;
    const inbound: InboundReply = {
      accountId: answer.account_id,
      mailingId: null,
      phone: answer.address,
      channel: answer.channel,
      text: reply.text,
      sourceKey: replyKey(`answer-reply:${reply.provider}:${reply.providerMessageId}`, reply.text, reply.at),
    };
    const applied = await inTransaction(db, (trx) => applyReply(trx, clock, inbound));
    outcomes.push({ providerMessageId: reply.providerMessageId, ...applied });
  }
  return outcomes;
}

async function applyReply(
  db: Kysely<DB>,
  clock: Clock,
  reply: InboundReply,
): Promise<{ accountId: number; dialogId: number; chatMessageId: number | null; opened: boolean }> {
  const sourceKey = reply.sourceKey;
  const stored = () =>
    db
      .selectFrom('chat_messages')
      .select(['id', 'dialog_id'])
      .where('source_key', '=', sourceKey)
      .executeTakeFirst();
  // Seen before: nothing to do (and no dialog to reopen for it).
  const early = await stored();
  if (early)
    return { accountId: reply.accountId, dialogId: early.dialog_id, chatMessageId: null, opened: false };
  const { dialogId, opened, siteId } = await openChannelDialog(db, clock, reply);
  const base = { accountId: reply.accountId, dialogId, opened };
  // Checked again under the dialog's lock: a concurrent copy of this reply may have just been written.
  if (await stored()) return { ...base, chatMessageId: null };
  const chatMessageId = await insertMessage(db, clock, {
    accountId: reply.accountId,
    siteId,
    dialogId,
    author: 'visitor',
    text: reply.text.trim().slice(0, 5000),
    sourceKey,
  });
  return { ...base, chatMessageId };
}

/** The open dialog of (channel, phone), locked; created (with its contact, assigned) when there is none. */
async function openChannelDialog(
  db: Kysely<DB>,
  clock: Clock,
  reply: InboundReply,
): Promise<{ dialogId: number; opened: boolean; siteId: number | null }> {
  const channel = reply.channel;
  const find = () =>
    db
      .selectFrom('dialogs')
      .select(['id', 'site_id'])
      .where('account_id', '=', reply.accountId)
      .where('channel', '=', channel)
      .where('address', '=', reply.phone)
      .where('status', '=', 'open')
      .forUpdate()
      .executeTakeFirst();
  const existing = await find();
  if (existing) {
    await db
      .updateTable('dialogs')
      .set({ ...(reply.mailingId !== null && { mailing_id: reply.mailingId }), updated_at: clock.now() })
      .where('id', '=', existing.id)
      .execute();
    return { dialogId: existing.id, opened: false, siteId: existing.site_id };
  }
  const siteId = await replySite(db, reply.accountId);
  const now = clock.now();
  const inserted = await db
    .insertInto('dialogs')
    .values({
      account_id: reply.accountId,
      site_id: siteId,
      channel,
      address: reply.phone,
      mailing_id: reply.mailingId,
      status: 'open',
      created_at: now,
      updated_at: now,
    })
    .onConflict((oc) =>
      oc
        .columns(['account_id', 'channel', 'address'])
        .where('status', '=', 'open')
        .where('channel', '<>', 'web')
        .doNothing(),
    )
    .returning('id')
    .executeTakeFirst();
  if (!inserted) {
    // Another reply of the same number opened it a moment ago.
    const raced = await find();
    return { dialogId: raced!.id, opened: false, siteId: raced!.site_id };
  }
  const captured = await captureContact(db, clock, {
    accountId: reply.accountId,
    siteId,
    source: 'channel',
    dialogId: inserted.id,
    phone: reply.phone,
    overwrite: false,
  });
  await writeOutbox(db, clock, [
    {
      accountId: reply.accountId,
      siteId,
      kind: 'dialog.opened',
      payload: {
        dialog_id: inserted.id,
        channel,
        site_id: siteId,
        address: reply.phone,
        mailing_id: reply.mailingId,
        contact_id: captured.contact?.id ?? null,
      },
    },
  ]);
  await publish(db, { t: 'dialog', a: reply.accountId, d: inserted.id });
  await assignRoundRobin(db, clock, { id: inserted.id, account_id: reply.accountId, site_id: siteId });
  return { dialogId: inserted.id, opened: true, siteId };
}

/** How long an answer may be on each channel (what the channel's adapter accepts). */
export function channelTextLimit(channel: ReplyChannel): number {
  switch (channel) {
    case 'sms':
      return contentLimits.smsText;
    case 'viber':
      return contentLimits.viberText;
    case 'vk':
    case 'ok':
      return contentLimits.serviceText;
  }
}

function contentFor(channel: ReplyChannel, text: string): OutboundMessage['content'] {
  return channel === 'viber' ? { format: 'text', text } : { text };
}

/** The idempotency key a provider sees for an operator's answer: the same on every retry. */
export const answerKey = (chatMessageId: number) => `chat:${chatMessageId}`;

/** Answers left pending longer than this (a crash between commit and send) are sent again. */
export const ANSWER_RETRY_AFTER_MS = 30_000;
/** After this long a pending answer is given up and marked failed. */
export const ANSWER_GIVE_UP_MS = 24 * 3600 * 1000;

/**
 * Sends a pending operator answer of a channel dialog through its adapter: reserves its price (BL),
 * submits with the message's idempotency key, records sent/failed (refunding a refused send). Safe to
 * run again for the same message, also from two processes: the key makes the provider send once and
 * the state moves out of `pending` once.
 */
export async function deliverChannelAnswer(
  db: Kysely<DB>,
  clock: Clock,
  chatMessageId: number,
  adapters: Record<SendChannel, ChannelAdapter> = channelAdapters(),
): Promise<'sent' | 'failed' | 'pending'> {
  const row = await db
    .selectFrom('chat_messages as m')
    .innerJoin('dialogs as d', 'd.id', 'm.dialog_id')
    .select([
      'm.id',
      'm.account_id',
      'm.dialog_id',
      'm.text',
      'm.delivery',
      'm.created_at',
      'd.channel',
      'd.address',
    ])
    .where('m.id', '=', chatMessageId)
    .executeTakeFirst();
  if (!row) return 'failed';
  if (row.delivery !== 'pending') return row.delivery === 'sent' ? 'sent' : 'failed';
  if (!isReplyChannel(row.channel) || !row.address) {
    await finish(db, row, { ok: false, error: 'invalid_parameters', message: 'Not a channel dialog' });
    return 'failed';
  }
  const key = answerKey(row.id);
  try {
    await reserve(db, clock, { accountId: row.account_id, key, channel: row.channel });
  } catch (error) {
    if (error instanceof AppError && error.code === 'insufficient_funds') {
      await finish(db, row, { ok: false, error: 'insufficient_funds', message: error.message });
      return 'failed';
    }
    throw error;
  }
  const adapter = adapters[row.channel];
  const message: OutboundMessage = {
    key,
    accountId: row.account_id,
    // The adapter contract names the mailing message; a chat answer has none, so it passes its own id.
    messageId: row.id,
    channel: row.channel,
    to: row.address,
    content: contentFor(row.channel, row.text),
  };
  let result: Awaited<ReturnType<ChannelAdapter['submit']>>[number] | undefined;
  try {
    result = (await adapter.submit([message], { db, clock })).find((r) => r.key === key);
  } catch {
    // The provider could not be reached: stay pending, the sweep retries with the same key.
    if (clock.now().getTime() - row.created_at.getTime() < ANSWER_GIVE_UP_MS) return 'pending';
    result = { key, ok: false, error: 'invalid_parameters', message: 'The provider could not be reached' };
  }
  if (!result) return 'pending';
  if (!result.ok) await refund(db, clock, { accountId: row.account_id, key, reason: result.error });
  await finish(
    db,
    row,
    result.ok
      ? { ok: true, provider: adapter.provider, providerMessageId: result.providerMessageId }
      : { ok: false, error: result.error, message: result.message },
    adapter.provider,
  );
  return result.ok ? 'sent' : 'failed';
}

type Outcome =
  | { ok: true; provider: string; providerMessageId: string }
  | { ok: false; error: string; message: string };

async function finish(
  db: Kysely<DB>,
  row: { id: number; account_id: number; dialog_id: number },
  outcome: Outcome,
  provider: string | null = null,
): Promise<void> {
  await inTransaction(db, async (trx) => {
    const updated = await trx
      .updateTable('chat_messages')
      .set(
        outcome.ok
          ? { delivery: 'sent', provider: outcome.provider, provider_message_id: outcome.providerMessageId }
          : {
              delivery: 'failed',
              provider,
              delivery_error: `${outcome.error}: ${outcome.message}`.slice(0, 500),
            },
      )
      .where('id', '=', row.id)
      .where('delivery', '=', 'pending')
      .executeTakeFirst();
    if (Number(updated.numUpdatedRows) > 0)
      await publish(trx, { t: 'message', a: row.account_id, d: row.dialog_id, m: row.id, upd: 1 });
  });
}

/** Sends again what a crash left pending. Any server may run it; the idempotency key keeps it single. */
export async function retryPendingAnswers(
  db: Kysely<DB>,
  clock: Clock,
  adapters: Record<SendChannel, ChannelAdapter> = channelAdapters(),
  limit = 100,
): Promise<number> {
  const cutoff = new Date(clock.now().getTime() - ANSWER_RETRY_AFTER_MS);
  const pending = await db
    .selectFrom('chat_messages')
    .select('id')
    .where('delivery', '=', 'pending')
    .where('created_at', '<', cutoff)
    .orderBy('id')
    .limit(limit)
    .execute();
  for (const { id } of pending) await deliverChannelAnswer(db, clock, id, adapters);
  return pending.length;
}
