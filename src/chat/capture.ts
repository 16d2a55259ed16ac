import { type Kysely, sql } from 'kysely';
import {
  type ContactFields,
  contactByEmail,
  contactById,
  contactByPhone,
  insertContact,
  updateContactFields,
} from '../contacts/capture-store.ts';
import type { DB } from '../db/schema.ts';
import type { Clock } from '../shared/clock.ts';
import { publish } from './bus.ts';
import { writeOutbox } from './outbox.ts';
import type { CaptureSource } from './vocabulary.ts';

/**
 * Contact capture (CH-4): a contact becomes known from the widget's form, an operator's edit, a phone
 * or email detected in a visitor's message, or a reply on a messaging channel. The rules:
 * - the same person is never two contacts: a known phone finds its contact, else the contact already
 *   linked to the visitor (or dialog), else a known email; only when none matches is one created;
 * - explicit data (form, operator) replaces what the contact had; detected data only fills blanks
 *   (a second number in a message may be someone else's);
 * - each capture or change appends exactly one outbox event: `contact.captured` when a visitor or
 *   dialog got a contact (new or existing), `contact.updated` when its linked contact changed, none
 *   when nothing changed.
 * Values must already be normalised (E.164 phone, lowercased email).
 */

export interface CaptureRequest {
  accountId: number;
  siteId: number | null;
  source: CaptureSource;
  visitorId?: number | null;
  dialogId?: number | null;
  operatorId?: number | null;
  phone?: string | null;
  email?: string | null;
  name?: string | null;
  overwrite: boolean;
}

export interface CaptureResult {
  contact: ContactFields | null;
  event: 'contact.captured' | 'contact.updated' | null;
  changed: ('phone' | 'email' | 'name')[];
}

/** Captures run one at a time per account, so two messages with one new email cannot make two contacts. */
async function lockAccountCaptures(db: Kysely<DB>, accountId: number): Promise<void> {
  await sql`select pg_advisory_xact_lock(hashtextextended(${`omnitalk:contact-capture:${accountId}`}, 0))`.execute(
    db,
  );
}

async function currentLink(db: Kysely<DB>, req: CaptureRequest): Promise<ContactFields | undefined> {
  let contactId: number | null | undefined = null;
  if (req.visitorId) {
    contactId = (
      await db
        .selectFrom('visitors')
        .select('contact_id')
        .where('id', '=', req.visitorId)
        .where('account_id', '=', req.accountId)
        .executeTakeFirst()
    )?.contact_id;
  } else if (req.dialogId) {
    contactId = (
      await db
        .selectFrom('dialogs')
        .select('contact_id')
        .where('id', '=', req.dialogId)
        .where('account_id', '=', req.accountId)
        .executeTakeFirst()
    )?.contact_id;
  }
  return contactId ? contactById(db, req.accountId, contactId) : undefined;
}

/** Must run inside a transaction (it locks); callers compose it into the write that found the data. */
export async function captureContact(
  db: Kysely<DB>,
  clock: Clock,
  req: CaptureRequest,
): Promise<CaptureResult> {
  const phone = req.phone || null;
  const email = req.email || null;
  const name = req.name?.trim() || null;
  if (!phone && !email && !name) return { contact: null, event: null, changed: [] };
  await lockAccountCaptures(db, req.accountId);
  const current = await currentLink(db, req);
  const byPhone = phone ? await contactByPhone(db, req.accountId, phone) : undefined;
  let target = byPhone ?? current ?? (email ? await contactByEmail(db, req.accountId, email) : undefined);
  let created = false;
  const changed: CaptureResult['changed'] = [];

  if (!target) {
    // A name alone identifies nobody: keep it until a phone or email arrives.
    if (!phone && !email) return { contact: null, event: null, changed: [] };
    const inserted = await insertContact(db, clock, req.accountId, { phone, email, name: name ?? '' });
    target = inserted.contact;
    created = inserted.created;
    if (created) {
      if (phone) changed.push('phone');
      if (email) changed.push('email');
      if (name) changed.push('name');
    }
  }
  if (!created) {
    const patch: Partial<Omit<ContactFields, 'id'>> = {};
    // byPhone is the target whenever the phone is taken, so a phone set here is always free.
    if (phone && phone !== target.phone && (target.phone === null || req.overwrite)) patch.phone = phone;
    if (email && email !== target.email && (target.email === null || req.overwrite)) patch.email = email;
    if (name && name !== target.name && (target.name === '' || req.overwrite)) patch.name = name;
    if (Object.keys(patch).length > 0) {
      target = await updateContactFields(db, clock, req.accountId, target.id, patch);
      changed.push(...(Object.keys(patch) as CaptureResult['changed']));
    }
  }

  const linked = current?.id !== target.id;
  if (linked) await link(db, req, target.id);
  const event = created || linked ? 'contact.captured' : changed.length > 0 ? 'contact.updated' : null;
  if (event) {
    await writeOutbox(db, clock, [
      {
        accountId: req.accountId,
        siteId: req.siteId,
        kind: event,
        payload: {
          contact: target,
          source: req.source,
          changed,
          site_id: req.siteId,
          visitor_id: req.visitorId ?? null,
          dialog_id: req.dialogId ?? null,
          operator_id: req.operatorId ?? null,
        },
      },
    ]);
    if (req.visitorId) await publish(db, { t: 'visitor', a: req.accountId, v: req.visitorId });
    if (req.dialogId) await publish(db, { t: 'dialog', a: req.accountId, d: req.dialogId });
  }
  return { contact: target, event, changed };
}

async function link(db: Kysely<DB>, req: CaptureRequest, contactId: number): Promise<void> {
  if (req.visitorId) {
    await db
      .updateTable('visitors')
      .set({ contact_id: contactId })
      .where('id', '=', req.visitorId)
      .where('account_id', '=', req.accountId)
      .execute();
    await db
      .updateTable('dialogs')
      .set({ contact_id: contactId })
      .where('visitor_id', '=', req.visitorId)
      .where('status', '=', 'open')
      .execute();
  }
  if (req.dialogId) {
    await db
      .updateTable('dialogs')
      .set({ contact_id: contactId })
      .where('id', '=', req.dialogId)
      .where('account_id', '=', req.accountId)
      .execute();
  }
}
