import type { Kysely } from 'kysely';
import type { ChatDelivery, DB, MessageAuthor } from '../db/schema.ts';
import type { Clock } from '../shared/clock.ts';
import { publish } from './bus.ts';
import { writeOutbox } from './outbox.ts';

/** One message row with its side effects: the dialog's last-message pointer, the outbox, the live notice. */
export interface NewMessage {
  accountId: number;
  siteId: number | null;
  dialogId: number;
  author: MessageAuthor;
  visitorId?: number | null;
  operatorId?: number | null;
  text: string;
  attachmentId?: number | null;
  clientId?: string | null;
  sourceKey?: string | null;
  delivery?: ChatDelivery | null;
}

/** Call inside the transaction that decided to write the message. */
export async function insertMessage(db: Kysely<DB>, clock: Clock, m: NewMessage): Promise<number> {
  const now = clock.now();
  const row = await db
    .insertInto('chat_messages')
    .values({
      account_id: m.accountId,
      dialog_id: m.dialogId,
      author: m.author,
      visitor_id: m.visitorId ?? null,
      operator_id: m.operatorId ?? null,
      text: m.text,
      attachment_id: m.attachmentId ?? null,
      client_id: m.clientId ?? null,
      source_key: m.sourceKey ?? null,
      delivery: m.delivery ?? null,
      created_at: now,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  await db
    .updateTable('dialogs')
    .set({ last_message_id: row.id, last_message_at: now, updated_at: now })
    .where('id', '=', m.dialogId)
    .execute();
  await writeOutbox(db, clock, [
    {
      accountId: m.accountId,
      siteId: m.siteId,
      kind: 'message.created',
      payload: {
        message_id: row.id,
        dialog_id: m.dialogId,
        author: m.author,
        visitor_id: m.visitorId ?? null,
        operator_id: m.operatorId ?? null,
        text: m.text,
        attachment_id: m.attachmentId ?? null,
        created_at: now.toISOString(),
      },
    },
  ]);
  await publish(db, { t: 'message', a: m.accountId, d: m.dialogId, m: row.id });
  return row.id;
}

/** Whether a message with this source key (an external system's message or call id) is stored already. */
export async function sourceKeyStored(db: Kysely<DB>, sourceKey: string | null): Promise<boolean> {
  if (!sourceKey) return false;
  const row = await db
    .selectFrom('chat_messages')
    .select('id')
    .where('source_key', '=', sourceKey)
    .executeTakeFirst();
  return row !== undefined;
}
