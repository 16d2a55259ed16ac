import type { Kysely } from 'kysely';
import type { DB } from '../../db/schema.ts';
import type {
  CrmChatMessage,
  CrmConnector,
  CrmContactData,
  CrmContext,
  CrmDeliveredMessage,
} from '../crm/types.ts';

/**
 * Passing a dialog into a CRM's own chat (SPEC IN-5, Bitrix24 Open Lines: crm/types.ts ChatRelay) on the
 * runner's event path (apply.ts), so it is durable, in order per contact and on the integration's rate
 * limiter. Of the given messages, visitors' are sent into the chat, and staff replies that came from this
 * integration's CRM (source key `crm:<integration>:<external id>`, service.ts applyStaffMessage) are
 * confirmed as delivered. apply.ts calls it before attaching the matching note, so a relay that fails
 * leaves nothing attached; its retry sends again, and since the chat offers no way to look a message up,
 * an answer lost in transit may show one message twice there.
 */
export async function relayToChat(
  db: Kysely<DB>,
  connector: CrmConnector<unknown>,
  ctx: CrmContext<unknown>,
  input: { integrationId: number; contact: CrmContactData; dialogId: number; messageIds: number[] },
): Promise<void> {
  const relay = connector.chatRelay;
  if (!relay?.enabled(ctx.settings) || input.messageIds.length === 0) return;
  const rows = await db
    .selectFrom('chat_messages')
    .select(['id', 'author', 'text', 'source_key', 'created_at'])
    .where('dialog_id', '=', input.dialogId)
    .where('id', 'in', input.messageIds)
    .orderBy('id')
    .execute();
  const conversationRef = `dialog-${input.dialogId}`;
  const own = `crm:${input.integrationId}:`;
  const sent: CrmChatMessage[] = [];
  const delivered: CrmDeliveredMessage[] = [];
  for (const row of rows) {
    if (row.author === 'visitor' && row.text.trim() !== '') {
      sent.push({
        conversationRef,
        messageId: String(row.id),
        text: row.text,
        sentAt: new Date(row.created_at),
        visitor: input.contact,
      });
    } else if (row.author === 'operator' && row.source_key?.startsWith(own)) {
      delivered.push({
        conversationRef,
        externalMessageId: row.source_key.slice(own.length),
        messageId: String(row.id),
        deliveredAt: new Date(row.created_at),
      });
    }
  }
  if (sent.length) await relay.send(ctx, sent);
  if (delivered.length) await relay.confirmDelivered(ctx, delivered);
}
