import type { Kysely } from 'kysely';
import type { ChatChannel, DB, DialogStatus } from '../db/schema.ts';
import { inTransaction } from '../db/transaction.ts';
import type { Clock } from '../shared/clock.ts';
import { AppError, notFound } from '../shared/errors.ts';
import { assignRoundRobin } from './assignment.ts';
import { publish } from './bus.ts';
import { insertMessage } from './message-store.ts';
import { writeOutbox } from './outbox.ts';
import {
  type DialogRow,
  type DialogView,
  dialogsQuery,
  dialogView,
  type MessageRow,
  messagesQuery,
} from './views.ts';
import { chatLimits } from './vocabulary.ts';

/** Dialogs (CH-3): opening, listing, history, transfer, close. */

/** Who acts on a dialog: an operator, or an API token of the account (no user). */
export interface Actor {
  accountId: number;
  userId: number | null;
}

export async function getDialog(db: Kysely<DB>, accountId: number, id: number): Promise<DialogRow> {
  const row = await dialogsQuery(db)
    .where('d.account_id', '=', accountId)
    .where('d.id', '=', id)
    .executeTakeFirst();
  if (!row) throw notFound('Dialog', 'dialog_id');
  return row;
}

/** Locks a dialog of the account for the rest of the transaction. */
export async function lockDialog(db: Kysely<DB>, accountId: number, id: number) {
  const row = await db
    .selectFrom('dialogs')
    .selectAll()
    .where('account_id', '=', accountId)
    .where('id', '=', id)
    .forUpdate()
    .executeTakeFirst();
  if (!row) throw notFound('Dialog', 'dialog_id');
  return row;
}

export interface VisitorRef {
  id: number;
  accountId: number;
  siteId: number;
}

/**
 * The visitor's open web dialog, opened (and assigned round-robin) when there is none. The caller
 * holds the visitor's row lock, so one visitor never gets two open dialogs.
 */
export async function openWebDialog(
  db: Kysely<DB>,
  clock: Clock,
  visitor: VisitorRef,
): Promise<{ id: number; opened: boolean }> {
  const open = await db
    .selectFrom('dialogs')
    .select('id')
    .where('visitor_id', '=', visitor.id)
    .where('status', '=', 'open')
    .executeTakeFirst();
  if (open) return { id: open.id, opened: false };
  const contact = await db
    .selectFrom('visitors')
    .select('contact_id')
    .where('id', '=', visitor.id)
    .executeTakeFirstOrThrow();
  const now = clock.now();
  const row = await db
    .insertInto('dialogs')
    .values({
      account_id: visitor.accountId,
      site_id: visitor.siteId,
      channel: 'web',
      visitor_id: visitor.id,
      contact_id: contact.contact_id,
      status: 'open',
      created_at: now,
      updated_at: now,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  await writeOutbox(db, clock, [
    {
      accountId: visitor.accountId,
      siteId: visitor.siteId,
      kind: 'dialog.opened',
      payload: {
        dialog_id: row.id,
        channel: 'web',
        site_id: visitor.siteId,
        visitor_id: visitor.id,
        contact_id: contact.contact_id,
      },
    },
  ]);
  await publish(db, { t: 'dialog', a: visitor.accountId, d: row.id });
  await assignRoundRobin(db, clock, { id: row.id, account_id: visitor.accountId, site_id: visitor.siteId });
  return { id: row.id, opened: true };
}

export interface DialogFilter {
  status?: DialogStatus;
  siteId?: number;
  channel?: ChatChannel;
  /** An operator's id, or 'none' for the waiting (unassigned) dialogs. */
  operator?: number | 'none';
  contactId?: number;
  /** Keyset paging, newest first: dialogs with a smaller id. */
  before?: number;
  limit?: number;
}

export async function listDialogs(
  db: Kysely<DB>,
  accountId: number,
  filter: DialogFilter,
): Promise<{ items: DialogView[]; next: number | null }> {
  const limit = Math.min(Math.max(filter.limit ?? 50, 1), 500);
  let query = dialogsQuery(db)
    .where('d.account_id', '=', accountId)
    .orderBy('d.id', 'desc')
    .limit(limit + 1);
  if (filter.status) query = query.where('d.status', '=', filter.status);
  if (filter.siteId !== undefined) query = query.where('d.site_id', '=', filter.siteId);
  if (filter.channel) query = query.where('d.channel', '=', filter.channel);
  if (filter.contactId !== undefined) query = query.where('d.contact_id', '=', filter.contactId);
  if (filter.operator === 'none') query = query.where('d.operator_id', 'is', null);
  else if (filter.operator !== undefined) query = query.where('d.operator_id', '=', filter.operator);
  if (filter.before !== undefined) query = query.where('d.id', '<', filter.before);
  const rows = await query.execute();
  const items = rows.slice(0, limit).map(dialogView);
  return { items, next: rows.length > limit ? (items.at(-1)?.id ?? null) : null };
}

export interface HistoryPage {
  /** Oldest first within the page. */
  items: MessageRow[];
  /** Pass as `before` for the next older page; null when this page reaches the beginning. */
  next_before: number | null;
}

/** Messages of the given dialogs, newest page first (keyset by message id). */
export async function historyOf(
  db: Kysely<DB>,
  dialogIds: number[],
  page: { before?: number; limit?: number },
): Promise<HistoryPage> {
  if (dialogIds.length === 0) return { items: [], next_before: null };
  const limit = Math.min(Math.max(page.limit ?? chatLimits.historyPage, 1), chatLimits.historyPageMax);
  let query = messagesQuery(db)
    .where('m.dialog_id', 'in', dialogIds)
    .orderBy('m.id', 'desc')
    .limit(limit + 1);
  if (page.before !== undefined) query = query.where('m.id', '<', page.before);
  const rows = await query.execute();
  const items = rows.slice(0, limit).reverse();
  return { items, next_before: rows.length > limit ? (items[0]?.id ?? null) : null };
}

async function operatorName(db: Kysely<DB>, accountId: number, userId: number | null): Promise<string> {
  if (userId === null) return 'API';
  const user = await db
    .selectFrom('users')
    .select(['name', 'email'])
    .where('id', '=', userId)
    .where('account_id', '=', accountId)
    .executeTakeFirst();
  return user?.name || user?.email.split('@')[0] || 'оператор';
}

/** Any user of the account may take, transfer or close a dialog; the target of a transfer must be one. */
async function requireUser(db: Kysely<DB>, accountId: number, userId: number, field: string): Promise<void> {
  const user = await db
    .selectFrom('users')
    .select('id')
    .where('id', '=', userId)
    .where('account_id', '=', accountId)
    .executeTakeFirst();
  if (!user) throw notFound('User', field);
}

export async function transferDialog(
  db: Kysely<DB>,
  clock: Clock,
  actor: Actor,
  dialogId: number,
  toUserId: number,
): Promise<DialogRow> {
  await inTransaction(db, async (trx) => {
    const dialog = await lockDialog(trx, actor.accountId, dialogId);
    if (dialog.status !== 'open')
      throw new AppError('conflict', 'The dialog is closed', { field: 'dialog_id' });
    await requireUser(trx, actor.accountId, toUserId, 'to_user_id');
    if (dialog.operator_id === toUserId) return;
    const now = clock.now();
    await trx
      .updateTable('dialogs')
      .set({ operator_id: toUserId, assigned_at: now, updated_at: now })
      .where('id', '=', dialogId)
      .execute();
    await writeOutbox(trx, clock, [
      {
        accountId: actor.accountId,
        siteId: dialog.site_id,
        kind: 'dialog.transferred',
        payload: {
          dialog_id: dialogId,
          from_operator_id: dialog.operator_id,
          to_operator_id: toUserId,
          by_operator_id: actor.userId,
        },
      },
    ]);
    await insertMessage(trx, clock, {
      accountId: actor.accountId,
      siteId: dialog.site_id,
      dialogId,
      author: 'system',
      text: `Диалог передан оператору ${await operatorName(trx, actor.accountId, toUserId)}`,
    });
    await publish(trx, { t: 'dialog', a: actor.accountId, d: dialogId });
  });
  return getDialog(db, actor.accountId, dialogId);
}

/** An operator takes a waiting dialog (or one of a colleague's, which is a transfer to oneself). */
export async function takeDialog(
  db: Kysely<DB>,
  clock: Clock,
  actor: Actor,
  dialogId: number,
): Promise<DialogRow> {
  if (actor.userId === null)
    throw new AppError('forbidden', 'An API token is no operator; transfer to a user instead', {
      field: 'authorization',
    });
  return transferDialog(db, clock, actor, dialogId, actor.userId);
}

export async function closeDialog(
  db: Kysely<DB>,
  clock: Clock,
  actor: Actor,
  dialogId: number,
): Promise<DialogRow> {
  await inTransaction(db, async (trx) => {
    const dialog = await lockDialog(trx, actor.accountId, dialogId);
    if (dialog.status === 'closed') return;
    const now = clock.now();
    await insertMessage(trx, clock, {
      accountId: actor.accountId,
      siteId: dialog.site_id,
      dialogId,
      author: 'system',
      text: 'Диалог закрыт',
    });
    await trx
      .updateTable('dialogs')
      .set({ status: 'closed', closed_at: now, updated_at: now })
      .where('id', '=', dialogId)
      .execute();
    await writeOutbox(trx, clock, [
      {
        accountId: actor.accountId,
        siteId: dialog.site_id,
        kind: 'dialog.closed',
        payload: { dialog_id: dialogId, by_operator_id: actor.userId },
      },
    ]);
    await publish(trx, { t: 'dialog', a: actor.accountId, d: dialogId });
  });
  return getDialog(db, actor.accountId, dialogId);
}
