import type { Kysely } from 'kysely';
import type { DB } from '../../db/schema.ts';
import type { Clock } from '../../shared/clock.ts';
import { pushContact } from '../crm/push.ts';
import type { CrmConnector, CrmContactData, CrmContext, CrmRef } from '../crm/types.ts';

/**
 * What one integration event does in the CRM (SPEC IN-0). Each CRM call's result is recorded right
 * after it succeeds (the ref, the attached transcript, the last attached message), so a retry after a
 * later failure does not redo what already happened.
 */
export interface EventToApply {
  integrationId: number;
  contactId: number;
  kind: string;
  payload: Record<string, unknown>;
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
      .orderBy('chat_messages.id', 'desc')
      .limit(TRANSCRIPT_LIMIT)
      .execute();
    if (messages.length === 0) return;
    messages.reverse();
    const text = messages.map((m) => line(m, data.name)).join('\n');
    const next = await connector.attachNote(ctx, ref, { kind: 'transcript', text });
    await saveRef(db, event, next, now, { dialogId, lastMessageId: messages.at(-1)!.id });
    return;
  }
  const messageId = num(event.payload.message_id);
  if (event.kind === 'message.created' && messageId && messageId > (refRow?.last_message_id ?? 0)) {
    const text = typeof event.payload.text === 'string' ? event.payload.text : '';
    if (text === '') return;
    const author = String(event.payload.author ?? 'visitor');
    const operatorId = num(event.payload.operator_id);
    const operator = operatorId
      ? await db.selectFrom('users').select('name').where('id', '=', operatorId).executeTakeFirst()
      : undefined;
    const next = await connector.attachNote(ctx, ref, {
      kind: 'message',
      text: line({ author, text, operator_name: operator?.name ?? null }, data.name),
      authorUserId: operatorId ? await mappedUser(db, event.integrationId, operatorId) : null,
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
