import type { Kysely } from 'kysely';
import type { CountryCode } from 'libphonenumber-js';
import type { ChannelAdapter } from '../channels/types.ts';
import type { DB } from '../db/schema.ts';
import { inTransaction } from '../db/transaction.ts';
import type { SendChannel } from '../mailings/scheme/vocabulary.ts';
import type { Clock } from '../shared/clock.ts';
import { AppError, invalid, notFound } from '../shared/errors.ts';
import { publish, type Side } from './bus.ts';
import { captureContact } from './capture.ts';
import { channelTextLimit, deliverChannelAnswer } from './channel-replies.ts';
import { detectContacts } from './contact-detect.ts';
import { type Actor, lockDialog, openWebDialog } from './dialogs.ts';
import { insertMessage } from './message-store.ts';
import { writeOutbox } from './outbox.ts';
import { type MessageRow, messagesQuery } from './views.ts';
import type { Visitor } from './visitors.ts';
import { chatLimits, isReplyChannel } from './vocabulary.ts';

/**
 * Writing messages. Every message may carry the sender's client_id: a resend with the same client_id
 * (after a lost ack, on reconnect) returns the stored message and changes nothing, so the SDK can
 * resend its unsent messages freely.
 */

export interface SendResult {
  message: MessageRow;
  /** The client_id was already stored: nothing new was written. */
  duplicate: boolean;
}

export interface MessageInput {
  clientId?: string | null;
  text?: string;
  attachmentId?: number | null;
}

function cleanText(text: string | undefined, attachmentId: number | null | undefined): string {
  const value = (text ?? '').trim();
  if (value.length > chatLimits.text)
    throw new AppError('payload_too_large', `text must be at most ${chatLimits.text} characters`, {
      field: 'text',
    });
  if (!value && !attachmentId) throw invalid('text', 'A message needs text or an attachment');
  return value;
}

async function loadMessage(db: Kysely<DB>, id: number): Promise<MessageRow> {
  return messagesQuery(db).where('m.id', '=', id).executeTakeFirstOrThrow();
}

/** The dialog a visitor names must be its own; none named: its open dialog, else its latest. */
export async function visitorDialog(
  db: Kysely<DB>,
  visitor: Visitor,
  dialogId?: number | null,
): Promise<{ id: number; status: 'open' | 'closed' } | null> {
  let query = db
    .selectFrom('dialogs')
    .select(['id', 'status'])
    .where('visitor_id', '=', visitor.id)
    .where('account_id', '=', visitor.accountId);
  if (dialogId !== undefined && dialogId !== null) {
    const own = await query.where('id', '=', dialogId).executeTakeFirst();
    if (!own) throw notFound('Dialog', 'dialog_id');
    return own;
  }
  query = query.orderBy((eb) => eb.case().when('status', '=', 'open').then(0).else(1).end(), 'asc');
  return (await query.orderBy('id', 'desc').limit(1).executeTakeFirst()) ?? null;
}

export async function sendVisitorMessage(
  db: Kysely<DB>,
  clock: Clock,
  visitor: Visitor,
  input: MessageInput & { dialogId?: number | null },
  region: CountryCode = 'RU',
): Promise<SendResult> {
  const text = cleanText(input.text, input.attachmentId);
  const result = await inTransaction(db, async (trx) => {
    // One visitor's sends run one at a time: no two open dialogs, no duplicate client ids.
    await trx
      .selectFrom('visitors')
      .select('id')
      .where('id', '=', visitor.id)
      .forUpdate()
      .executeTakeFirstOrThrow();
    if (input.clientId) {
      const stored = await trx
        .selectFrom('chat_messages')
        .select('id')
        .where('visitor_id', '=', visitor.id)
        .where('author', '=', 'visitor')
        .where('client_id', '=', input.clientId)
        .executeTakeFirst();
      if (stored) return { id: stored.id, duplicate: true };
    }
    if (input.dialogId !== undefined && input.dialogId !== null)
      await visitorDialog(trx, visitor, input.dialogId);
    if (input.attachmentId) {
      const own = await trx
        .selectFrom('chat_attachments')
        .select('id')
        .where('id', '=', input.attachmentId)
        .where('visitor_id', '=', visitor.id)
        .executeTakeFirst();
      if (!own) throw notFound('Attachment', 'attachment_id');
    }
    const dialog = await openWebDialog(trx, clock, visitor);
    const id = await insertMessage(trx, clock, {
      accountId: visitor.accountId,
      siteId: visitor.siteId,
      dialogId: dialog.id,
      author: 'visitor',
      visitorId: visitor.id,
      text,
      attachmentId: input.attachmentId ?? null,
      clientId: input.clientId ?? null,
    });
    // CH-4: a phone or email in the text makes the contact known (detected data only fills blanks).
    const found = detectContacts(text, region);
    if (found.phones.length > 0 || found.emails.length > 0) {
      await captureContact(trx, clock, {
        accountId: visitor.accountId,
        siteId: visitor.siteId,
        source: 'message',
        visitorId: visitor.id,
        dialogId: dialog.id,
        phone: found.phones[0]?.value ?? null,
        email: found.emails[0]?.value ?? null,
        overwrite: false,
      });
    }
    return { id, duplicate: false };
  });
  return { message: await loadMessage(db, result.id), duplicate: result.duplicate };
}

export interface OperatorSendOptions {
  /** Channel adapters for answers in channel dialogs (CH-5). */
  adapters?: Record<SendChannel, ChannelAdapter>;
}

export async function sendOperatorMessage(
  db: Kysely<DB>,
  clock: Clock,
  actor: Actor,
  input: MessageInput & { dialogId: number },
  options: OperatorSendOptions = {},
): Promise<SendResult> {
  const text = cleanText(input.text, input.attachmentId);
  const result = await inTransaction(db, async (trx) => {
    const dialog = await lockDialog(trx, actor.accountId, input.dialogId);
    if (input.clientId) {
      const stored = await trx
        .selectFrom('chat_messages')
        .select('id')
        .where('account_id', '=', actor.accountId)
        .where('author', '=', 'operator')
        .where((eb) => eb.fn.coalesce('operator_id', eb.lit(0)), '=', actor.userId ?? 0)
        .where('client_id', '=', input.clientId)
        .executeTakeFirst();
      if (stored) return { id: stored.id, duplicate: true, channel: dialog.channel };
    }
    if (dialog.status !== 'open')
      throw new AppError('conflict', 'The dialog is closed', { field: 'dialog_id' });
    if (isReplyChannel(dialog.channel) && text.length > channelTextLimit(dialog.channel))
      throw new AppError(
        'payload_too_large',
        `text must be at most ${channelTextLimit(dialog.channel)} characters on the ${dialog.channel} channel`,
        { field: 'text' },
      );
    if (input.attachmentId) {
      const own = await trx
        .selectFrom('chat_attachments')
        .select('id')
        .where('id', '=', input.attachmentId)
        .where('account_id', '=', actor.accountId)
        .executeTakeFirst();
      if (!own) throw notFound('Attachment', 'attachment_id');
      if (dialog.channel !== 'web')
        throw invalid('attachment_id', `Files cannot be sent on the ${dialog.channel} channel; send text`);
    }
    // Answering a waiting dialog takes it.
    if (dialog.operator_id === null && actor.userId !== null) {
      const now = clock.now();
      await trx
        .updateTable('dialogs')
        .set({ operator_id: actor.userId, assigned_at: now, updated_at: now })
        .where('id', '=', dialog.id)
        .execute();
      await writeOutbox(trx, clock, [
        {
          accountId: actor.accountId,
          siteId: dialog.site_id,
          kind: 'dialog.assigned',
          payload: { dialog_id: dialog.id, operator_id: actor.userId, by: 'answer' },
        },
      ]);
      await publish(trx, { t: 'dialog', a: actor.accountId, d: dialog.id });
    }
    const id = await insertMessage(trx, clock, {
      accountId: actor.accountId,
      siteId: dialog.site_id,
      dialogId: dialog.id,
      author: 'operator',
      operatorId: actor.userId,
      text,
      attachmentId: input.attachmentId ?? null,
      clientId: input.clientId ?? null,
      delivery: dialog.channel === 'web' ? null : 'pending',
    });
    return { id, duplicate: false, channel: dialog.channel };
  });
  if (result.channel !== 'web' && !result.duplicate) {
    // Sent after the commit: the row is the promise to send, a retry sweep finishes what a crash cut.
    await deliverChannelAnswer(db, clock, result.id, options.adapters);
  }
  return { message: await loadMessage(db, result.id), duplicate: result.duplicate };
}

/** Moves a side's read mark forward (never back, never past the last message). */
export async function markRead(
  db: Kysely<DB>,
  target: { accountId: number; dialogId: number; by: Side; upTo: number },
): Promise<number | null> {
  return inTransaction(db, async (trx) => {
    const dialog = await trx
      .selectFrom('dialogs')
      .select(['id', 'visitor_id', 'last_message_id', 'visitor_read_up_to', 'operator_read_up_to'])
      .where('id', '=', target.dialogId)
      .where('account_id', '=', target.accountId)
      .forUpdate()
      .executeTakeFirst();
    if (!dialog) throw notFound('Dialog', 'dialog_id');
    const upTo = Math.min(target.upTo, dialog.last_message_id ?? 0);
    const current = target.by === 'visitor' ? dialog.visitor_read_up_to : dialog.operator_read_up_to;
    if (upTo <= current) return null;
    await trx
      .updateTable('dialogs')
      .set(target.by === 'visitor' ? { visitor_read_up_to: upTo } : { operator_read_up_to: upTo })
      .where('id', '=', dialog.id)
      .execute();
    await publish(trx, {
      t: 'read',
      a: target.accountId,
      d: dialog.id,
      v: dialog.visitor_id,
      by: target.by,
      up: upTo,
    });
    return upTo;
  });
}

/** Typing is not stored: it is only announced to the other side (and colleagues). */
export async function announceTyping(
  db: Kysely<DB>,
  target: {
    accountId: number;
    dialogId: number;
    visitorId: number | null;
    by: Side;
    userId: number | null;
    on: boolean;
  },
): Promise<void> {
  await publish(db, {
    t: 'typing',
    a: target.accountId,
    d: target.dialogId,
    v: target.visitorId,
    by: target.by,
    u: target.userId,
    on: target.on,
  });
}
