import type { Kysely } from 'kysely';
import { publish } from '../../chat/bus.ts';
import { captureContact } from '../../chat/capture.ts';
import { insertMessage, sourceKeyStored } from '../../chat/message-store.ts';
import { writeOutbox } from '../../chat/outbox.ts';
import { normalizePhone } from '../../contacts/phone.ts';
import type { DB } from '../../db/schema.ts';
import type { AppContext } from '../../http/context.ts';
import type { Clock } from '../../shared/clock.ts';
import type { InboundEvent } from '../crm/types.ts';

/**
 * Calls from a cloud PBX (Gravitel, SPEC IN-11): a finished call is written into the contact's chat as a
 * system message (the contact's latest dialog on the integration's site, or a new `phone` dialog), the contact is
 * captured by the phone, and the operator mapped to the PBX employee who took the call is notified on
 * their own sockets; a ringing call only notifies. The PBX's call id makes a redelivered notification
 * a no-op.
 */

type Call = Extract<InboundEvent, { type: 'call' }>;
type CallEvent = Extract<InboundEvent, { type: 'call_event' }>;

export interface CallIntegration {
  id: number;
  account_id: number;
  site_id: number;
}

const STATUS_TEXT: Record<Call['status'], string> = {
  answered: 'отвечен',
  missed: 'пропущен',
  busy: 'занято',
  unavailable: 'недоступен',
  failed: 'не состоялся',
};

function duration(sec: number): string {
  const m = Math.floor(sec / 60);
  const s = sec % 60;
  return m > 0 ? `${m} мин ${s} с` : `${s} с`;
}

/** The text of a call's record in the chat (Russian, as the operators read it). */
export function callText(
  call: Pick<Call, 'direction' | 'status' | 'durationSec' | 'recordUrl'>,
  phone: string,
): string {
  const parts = [
    `${call.direction === 'in' ? 'Входящий' : 'Исходящий'} звонок ${phone}: ${STATUS_TEXT[call.status]}`,
  ];
  if (call.status === 'answered') parts.push(`длительность ${duration(call.durationSec)}`);
  if (call.recordUrl) parts.push(`запись: ${call.recordUrl}`);
  return parts.join(', ');
}

function e164(ctx: AppContext, raw: string): string | null {
  const result = normalizePhone(raw.startsWith('+') ? raw : `+${raw.replace(/\D/g, '')}`, ctx.defaultRegion);
  if (result.ok) return result.e164;
  const local = normalizePhone(raw, ctx.defaultRegion);
  return local.ok ? local.e164 : null;
}

/** The caller's latest dialog on the site: by their contact's phone, or a phone dialog's address. */
export async function latestDialog(db: Kysely<DB>, integration: CallIntegration, phone: string) {
  return db
    .selectFrom('dialogs as d')
    .leftJoin('contacts as c', 'c.id', 'd.contact_id')
    .select(['d.id', 'd.operator_id', 'd.contact_id'])
    .where('d.account_id', '=', integration.account_id)
    .where('d.site_id', '=', integration.site_id)
    .where((eb) =>
      eb.or([
        eb('c.phone', '=', phone),
        eb.and([eb('d.channel', '=', 'phone'), eb('d.address', '=', phone)]),
      ]),
    )
    .orderBy('d.id', 'desc')
    .limit(1)
    .executeTakeFirst();
}

/**
 * A new `phone` dialog on the integration's site for someone who has none (a caller, a conversation a
 * CRM started by phone), with their contact captured by the phone. Call inside the writing transaction.
 */
export async function openPhoneDialog(
  trx: Kysely<DB>,
  clock: Clock,
  integration: CallIntegration,
  phone: string,
  operatorId: number | null,
): Promise<{ id: number; operator_id: number | null; contact_id: number | null }> {
  const now = clock.now();
  const row = await trx
    .insertInto('dialogs')
    .values({
      account_id: integration.account_id,
      site_id: integration.site_id,
      channel: 'phone',
      address: phone,
      status: 'open',
      operator_id: operatorId,
      assigned_at: operatorId === null ? null : now,
      created_at: now,
      updated_at: now,
    })
    .returning(['id', 'operator_id'])
    .executeTakeFirstOrThrow();
  await writeOutbox(trx, clock, [
    {
      accountId: integration.account_id,
      siteId: integration.site_id,
      kind: 'dialog.opened',
      payload: { dialog_id: row.id, channel: 'phone', site_id: integration.site_id, address: phone },
    },
  ]);
  const captured = await captureContact(trx, clock, {
    accountId: integration.account_id,
    siteId: integration.site_id,
    source: 'channel',
    dialogId: row.id,
    phone,
    overwrite: false,
  });
  await publish(trx, { t: 'dialog', a: integration.account_id, d: row.id });
  return { ...row, contact_id: captured.contact?.id ?? null };
}

export async function applyCall(
  ctx: AppContext,
  integration: CallIntegration,
  call: Call,
  operatorId: number | null,
): Promise<void> {
  const phone = e164(ctx, call.phone);
  if (!phone) {
    ctx.logger.warn({ integrationId: integration.id }, 'PBX call with an unreadable phone number');
    return;
  }
  const sourceKey = call.callId ? `crm:${integration.id}:call:${call.callId}` : null;
  await ctx.db.transaction().execute(async (trx) => {
    if (await sourceKeyStored(trx, sourceKey)) return;
    const dialog =
      (await latestDialog(trx, integration, phone)) ??
      (await openPhoneDialog(trx, ctx.clock, integration, phone, operatorId));
    const text = callText(call, phone);
    await insertMessage(trx, ctx.clock, {
      accountId: integration.account_id,
      siteId: integration.site_id,
      dialogId: dialog.id,
      author: 'system',
      text,
      sourceKey,
    });
    const notified = operatorId ?? dialog.operator_id;
    if (notified !== null)
      await publish(trx, {
        t: 'notify',
        a: integration.account_id,
        u: notified,
        kind: 'call',
        d: dialog.id,
        text,
        phone,
      });
  });
}

/** A ringing call: the mapped operator learns who calls (and sees the caller's dialog, if any). */
export async function applyCallEvent(
  ctx: AppContext,
  integration: CallIntegration,
  event: CallEvent,
  operatorId: number | null,
): Promise<void> {
  if (operatorId === null || (event.stage !== 'incoming' && event.stage !== 'outgoing')) return;
  const phone = e164(ctx, event.phone);
  const dialog = phone ? await latestDialog(ctx.db, integration, phone) : undefined;
  const shown = phone ?? event.phone;
  await publish(ctx.db, {
    t: 'notify',
    a: integration.account_id,
    u: operatorId,
    kind: 'call',
    d: dialog?.id ?? null,
    text: event.stage === 'incoming' ? `Звонит ${shown}` : `Исходящий звонок ${shown}`,
    phone,
  });
}

/** `cmd=contact`: the caller's name and the PBX login of the operator of their latest dialog. */
export async function lookupCaller(
  ctx: AppContext,
  integration: CallIntegration,
  raw: string,
): Promise<{ name: string | null; responsible: string | null }> {
  const phone = e164(ctx, raw);
  if (!phone) return { name: null, responsible: null };
  const contact = await ctx.db
    .selectFrom('contacts')
    .select('name')
    .where('account_id', '=', integration.account_id)
    .where('phone', '=', phone)
    .executeTakeFirst();
  const dialog = await latestDialog(ctx.db, integration, phone);
  const mapped =
    dialog?.operator_id == null
      ? undefined
      : await ctx.db
          .selectFrom('integration_operator_map')
          .select('crm_user_id')
          .where('integration_id', '=', integration.id)
          .where('user_id', '=', dialog.operator_id)
          .executeTakeFirst();
  return { name: contact?.name || null, responsible: mapped?.crm_user_id ?? null };
}
