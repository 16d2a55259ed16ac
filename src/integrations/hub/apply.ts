import type { Kysely } from 'kysely';
import type { DB } from '../../db/schema.ts';
import type { Clock } from '../../shared/clock.ts';
import { pushContact } from '../crm/push.ts';
import type { CrmConnector, CrmContactData, CrmContext, CrmRef } from '../crm/types.ts';
import { relayToChat } from './relay.ts';

/**
 * What one integration event does in the CRM (SPEC IN-0). Each CRM call's result is recorded right
 * after it succeeds (the ref, the attached transcript, the last attached message), so a retry after a
 * later failure does not redo what already happened. A note whose answer was lost is what the record
 * cannot cover: notes carry a marker of their event (`dialog-<id>-<last message id>`, `message-<id>`),
 * and a retry asks connectors that can list notes (findNote) for it before attaching again
 * (crm/notes.ts). Connectors that cannot may attach such a note twice; each says why.
 *
 * Messages that came from this integration's CRM (staff replies, source key `crm:<integration>:…`) are
 * not sent back to it, neither as a note nor in a transcript: the CRM has them already.
 */
export interface EventToApply {
  integrationId: number;
  contactId: number;
  kind: string;
  payload: Record<string, unknown>;
  /** Earlier tries of this event; after one, a note it attached may already be in the CRM. */
  attempts?: number;
}

const TRANSCRIPT_LIMIT = 500;

const num = (value: unknown): number | null =>
  typeof value === 'number' && Number.isFinite(value)
    ? value
    : typeof value === 'string' && /^\d+$/.test(value)
      ? Number(value)
      : null;

export async function applyEvent(
  db: Kysely<DB>,
  clock: Clock,
  connector: CrmConnector<unknown>,
  ctx: CrmContext<unknown>,
  event: EventToApply,
): Promise<void> {
  const contact = await db
    .selectFrom('contacts')
    .select(['id', 'name', 'phone', 'email'])
    .where('id', '=', event.contactId)
    .executeTakeFirst();
  if (!contact) return;
  const refRow = await db
    .selectFrom('integration_refs')
    .selectAll()
    .where('integration_id', '=', event.integrationId)
    .where('contact_id', '=', event.contactId)
    .executeTakeFirst();
  let ref: CrmRef | null = refRow
    ? { kind: refRow.kind as CrmRef['kind'], id: refRow.crm_id, related: refRow.related }
    : null;
  const dialogId = num(event.payload.dialog_id);
  const dialog = dialogId
    ? await db
        .selectFrom('dialogs')
        .leftJoin('sites', 'sites.id', 'dialogs.site_id')
        .select(['dialogs.id', 'dialogs.operator_id', 'sites.name as site_name'])
        .where('dialogs.id', '=', dialogId)
        .executeTakeFirst()
    : undefined;
  const data: CrmContactData = {
    contactId: String(contact.id),
    name: contact.name || null,
    phones: contact.phone ? [contact.phone] : [],
    emails: contact.email ? [contact.email] : [],
    siteName: dialog?.site_name ?? null,
    comment: dialog?.site_name ? `Чат на сайте ${dialog.site_name}` : null,
  };
  const now = clock.now();

  if (event.kind.startsWith('contact.') || !ref) {
    if (data.phones.length === 0 && data.emails.length === 0) return;
    const operatorId = dialog?.operator_id ?? num(event.payload.operator_id);
    const responsibleUserId = operatorId ? await mappedUser(db, event.integrationId, operatorId) : null;
    const result = await pushContact(connector, ctx, data, { ref, responsibleUserId });
    ref = result.ref;
    if (result.outcome !== 'known' || !refRow) await saveRef(db, event, ref, now);
  }
  if (!ref) return;

  const mayExist = (event.attempts ?? 0) > 0;
  const ownSource = `crm:${event.integrationId}:`;
  if (dialogId && refRow?.dialog_id !== dialogId) {
    const messages = await db
      .selectFrom('chat_messages')
      .leftJoin('users', 'users.id', 'chat_messages.operator_id')
      .select([
        'chat_messages.id',
        'chat_messages.author',
        'chat_messages.text',
        'users.name as operator_name',
      ])
      .where('chat_messages.dialog_id', '=', dialogId)
      .where((eb) =>
        eb.or([
          eb('chat_messages.source_key', 'is', null),
          eb('chat_messages.source_key', 'not like', `${ownSource}%`),
        ]),
      )
      .orderBy('chat_messages.id', 'desc')
      .limit(TRANSCRIPT_LIMIT)
      .execute();
    if (messages.length === 0) return;
    messages.reverse();
    // Into the CRM's own chat first (Bitrix24 Open Lines, relay.ts), then the note.
    const messageIds = messages.map((m) => m.id);
    await relayToChat(db, connector, ctx, {
      integrationId: event.integrationId,
      contact: data,
      dialogId,
      messageIds,
    });
    // A retry may find the transcript an earlier try attached: its marker names its last message, and
    // the messages after that have events of their own, queued after this one.
    const lookFor = `dialog-${dialogId}-`;
    const earlier = mayExist ? await connector.findNote?.(ctx, ref, lookFor) : null;
    const upTo = earlier ? Number(earlier.slice(lookFor.length)) : Number.NaN;
    if (Number.isSafeInteger(upTo) && upTo > 0) {
      await saveRef(db, event, ref, now, {
        dialogId,
        lastMessageId: Math.max(upTo, refRow?.last_message_id ?? 0),
      });
      return;
    }
    const text = messages.map((m) => line(m, data.name)).join('\n');
    const lastMessageId = messages.at(-1)!.id;
    const next = await connector.attachNote(ctx, ref, {
      kind: 'transcript',
      text,
      marker: `${lookFor}${lastMessageId}`,
    });
    await saveRef(db, event, next, now, { dialogId, lastMessageId });
    return;
  }
  const messageId = num(event.payload.message_id);
  if (event.kind === 'message.created' && messageId && messageId > (refRow?.last_message_id ?? 0)) {
    const text = typeof event.payload.text === 'string' ? event.payload.text : '';
    if (text === '') return;
    if (dialogId)
      await relayToChat(db, connector, ctx, {
        integrationId: event.integrationId,
        contact: data,
        dialogId,
        messageIds: [messageId],
      });
    const source = await db
      .selectFrom('chat_messages')
      .select('source_key')
      .where('id', '=', messageId)
      .executeTakeFirst();
    if (source?.source_key?.startsWith(ownSource)) return;
    const author = String(event.payload.author ?? 'visitor');
    const operatorId = num(event.payload.operator_id);
    const operator = operatorId
      ? await db.selectFrom('users').select('name').where('id', '=', operatorId).executeTakeFirst()
      : undefined;
    const marker = `message-${messageId}`;
    const found = mayExist && (await connector.findNote?.(ctx, ref, marker));
    const next = found
      ? ref
      : await connector.attachNote(ctx, ref, {
          kind: 'message',
          text: line({ author, text, operator_name: operator?.name ?? null }, data.name),
          authorUserId: operatorId ? await mappedUser(db, event.integrationId, operatorId) : null,
          marker,
        });
    await saveRef(db, event, next, now, {
      dialogId: dialogId ?? refRow?.dialog_id ?? null,
      lastMessageId: messageId,
    });
  }
}

function line(m: { author: string; text: string; operator_name: string | null }, visitorName: string | null) {
  const who =
    m.author === 'operator'
      ? (m.operator_name ?? 'Оператор')
      : m.author === 'system'
        ? 'Система'
        : (visitorName ?? 'Посетитель');
  return `${who}: ${m.text}`;
}

export async function mappedUser(
  db: Kysely<DB>,
  integrationId: number,
  userId: number,
): Promise<string | null> {
  const row = await db
    .selectFrom('integration_operator_map')
    .select('crm_user_id')
    .where('integration_id', '=', integrationId)
    .where('user_id', '=', userId)
    .executeTakeFirst();
  return row?.crm_user_id ?? null;
}

async function saveRef(
  db: Kysely<DB>,
  event: EventToApply,
  ref: CrmRef,
  now: Date,
  progress?: { dialogId: number | null; lastMessageId: number },
): Promise<void> {
  await db
    .insertInto('integration_refs')
    .values({
      integration_id: event.integrationId,
      contact_id: event.contactId,
      kind: ref.kind,
      crm_id: ref.id,
      related: JSON.stringify(ref.related ?? {}),
      dialog_id: progress?.dialogId ?? null,
      last_message_id: progress?.lastMessageId ?? 0,
      created_at: now,
      updated_at: now,
    })
    .onConflict((oc) =>
      oc.columns(['integration_id', 'contact_id']).doUpdateSet((eb) => ({
        kind: ref.kind,
        crm_id: ref.id,
        related: JSON.stringify(ref.related ?? {}),
        dialog_id: progress ? progress.dialogId : eb.ref('integration_refs.dialog_id'),
        last_message_id: progress ? progress.lastMessageId : eb.ref('integration_refs.last_message_id'),
        updated_at: now,
      })),
    )
    .execute();
}
