import { type Kysely, sql } from 'kysely';
import type { CountryCode } from 'libphonenumber-js';
import type { ChannelAdapter } from '../channels/types.ts';
import type { DB } from '../db/schema.ts';
import { inTransaction } from '../db/transaction.ts';
import type { SendChannel } from '../mailings/scheme/vocabulary.ts';
import type { Clock } from '../shared/clock.ts';
import { AppError, invalid, notFound } from '../shared/errors.ts';
import { CHAT_NOTIFY_CHANNEL, publish, type Side } from './bus.ts';
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
  /**
   * Set when the message's notice was tagged with the caller's `origin`: the bus will not bring it
   * back to that process's hub, so the caller delivers it to its own sockets (ChatHub.deliverWritten).
   */
  local?: { dialogOperatorId: number | null };
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

export interface VisitorSend {
  visitor: Visitor;
  input: MessageInput & { dialogId?: number | null };
}

/** Each send's own outcome: one bad send (a foreign dialog, too long a text) never fails the others. */
export type SendOutcome = { ok: true; result: SendResult } | { ok: false; error: unknown };

/** Sends written per transaction at most: one notice names them all (NOTIFY payloads: 8000 bytes). */
export const MAX_SEND_GROUP = 400;

export async function sendVisitorMessage(
  db: Kysely<DB>,
  clock: Clock,
  visitor: Visitor,
  input: MessageInput & { dialogId?: number | null },
  region: CountryCode = 'RU',
): Promise<SendResult> {
  const [outcome] = await sendVisitorMessages(db, clock, [{ visitor, input }], region);
  if (!outcome!.ok) throw outcome!.error;
  return outcome!.result;
}

/**
 * Writes many visitors' messages in one transaction with a fixed number of statements (the chat's hot
 * path: ChatWriter groups whatever arrived while the previous group was committing). Per send the
 * rules are those of a single send: the visitor's rows are locked (one visitor's sends run one at a
 * time, so never two open dialogs or two rows for one client_id), a client_id already stored returns
 * the stored message, a named dialog must be the visitor's own, an attachment must be the visitor's, a
 * visitor without an open dialog gets one (round-robin assignment), and a phone or email in the text
 * is captured (CH-4). Errors that concern one send are that send's outcome; a database failure fails
 * the call (the caller may retry the sends one by one).
 */
export async function sendVisitorMessages(
  db: Kysely<DB>,
  clock: Clock,
  sends: readonly VisitorSend[],
  region: CountryCode = 'RU',
  options: { origin?: string } = {},
): Promise<SendOutcome[]> {
  if (sends.length > MAX_SEND_GROUP) {
    const all: SendOutcome[] = [];
    for (let k = 0; k < sends.length; k += MAX_SEND_GROUP)
      all.push(
        ...(await sendVisitorMessages(db, clock, sends.slice(k, k + MAX_SEND_GROUP), region, options)),
      );
    return all;
  }
  const outcomes: (SendOutcome | undefined)[] = new Array(sends.length);
  const texts: string[] = sends.map((send, i) => {
    try {
      return cleanText(send.input.text, send.input.attachmentId);
    } catch (error) {
      outcomes[i] = { ok: false, error };
      return '';
    }
  });
  const valid = sends.map((_, i) => i).filter((i) => outcomes[i] === undefined);
  // Repeats of a client_id within this call answer with the first one's message.
  const repeatsInCall: { index: number; of: number }[] = [];
  const firstOf = new Map<string, number>();
  const unique = valid.filter((i) => {
    const { visitor, input } = sends[i]!;
    if (!input.clientId) return true;
    const key = `${visitor.id}:${input.clientId}`;
    const first = firstOf.get(key);
    if (first === undefined) {
      firstOf.set(key, i);
      return true;
    }
    repeatsInCall.push({ index: i, of: first });
    return false;
  });
  // The common case (an open dialog, no file, nothing to capture) is one statement; the rest, and
  // whatever that statement did not write, goes through the full transaction below.
  const eligible = unique.filter((i) => {
    if (sends[i]!.input.attachmentId) return false;
    const found = detectContacts(texts[i]!, region);
    return found.phones.length === 0 && found.emails.length === 0;
  });
  const handled =
    eligible.length > 0
      ? await writeIntoOpenDialogs(db, clock, sends, texts, eligible, outcomes, options.origin ?? null)
      : new Set<number>();
  const live = unique.filter((i) => !handled.has(i));
  if (live.length > 0) await writeInTransaction(db, clock, sends, texts, live, outcomes, region);
  for (const { index, of } of repeatsInCall) {
    const first = outcomes[of];
    outcomes[index] = first?.ok
      ? { ok: true, result: { message: first.result.message, duplicate: true } }
      : first!;
  }
  return outcomes as SendOutcome[];
}

/**
 * What follows the insert of visitors' messages in both write paths (a CTE `ins` returning id,
 * account_id, dialog_id, visitor_id, text, attachment_id): the dialogs' last-message pointers and one
 * outbox event per row, in id order.
 */
function afterInsert(now: Date) {
  return sql`upd as (
      update dialogs d set last_message_id = x.m, last_message_at = ${now}::timestamptz,
        updated_at = ${now}::timestamptz
      from (select dialog_id, max(id) as m from ins group by dialog_id) x
      where d.id = x.dialog_id
    ),
    ob as (
      insert into outbox (account_id, site_id, kind, payload, created_at)
      select ins.account_id, d.site_id, 'message.created',
        jsonb_build_object('message_id', ins.id, 'dialog_id', ins.dialog_id, 'author', 'visitor',
          'visitor_id', ins.visitor_id, 'operator_id', null, 'text', ins.text,
          'attachment_id', ins.attachment_id, 'created_at', ${now.toISOString()}::text),
        ${now}::timestamptz
      from ins join dialogs d on d.id = ins.dialog_id
      order by ins.id
    )`;
}

/** A visitor's text message as the views show it, built from what was just written (no read). */
function textMessageRow(
  id: number,
  dialogId: number,
  visitor: Visitor,
  text: string,
  input: MessageInput,
  now: Date,
): MessageRow {
  return {
    id,
    dialog_id: dialogId,
    account_id: visitor.accountId,
    author: 'visitor',
    visitor_id: visitor.id,
    operator_id: null,
    operator_name: null,
    text,
    client_id: input.clientId ?? null,
    delivery: null,
    delivery_error: null,
    created_at: now,
    attachment_id: null,
    file_name: null,
    content_type: null,
    size: null,
  };
}

/**
 * The fast path: sends to visitors with an open web dialog (the one they name, if any), written with
 * one statement that locks those dialogs (in visitor order, so two groups cannot deadlock), inserts the rows
 * (a client_id already stored conflicts and is answered with the stored message), moves the dialogs'
 * last-message pointers, appends the outbox events and sends the notice. Returns the sends it settled.
 */
async function writeIntoOpenDialogs(
  db: Kysely<DB>,
  clock: Clock,
  sends: readonly VisitorSend[],
  texts: string[],
  eligible: number[],
  outcomes: (SendOutcome | undefined)[],
  origin: string | null,
): Promise<Set<number>> {
  const now = clock.now();
  const field = <T>(pick: (send: VisitorSend, index: number) => T) => eligible.map((i) => pick(sends[i]!, i));
  const result = await sql<{
    n: number;
    id: number;
    dialog_id: number;
    operator_id: number | null;
    inserted: boolean;
  }>`
    with input as (
      select * from unnest(
        ${field((s) => s.visitor.accountId)}::int8[], ${field((s) => s.visitor.id)}::int8[],
        ${field((s) => s.input.dialogId ?? null)}::int8[], ${field((_, i) => texts[i]!)}::text[],
        ${field((s) => s.input.clientId ?? null)}::text[]
      ) with ordinality as t(account_id, visitor_id, named_dialog, text, client_id, n)
    ),
    target as (
      -- A lateral lookup per send, so each is one probe of dialogs_open_visitor_uq whatever the planner
      -- believes of the tables (without statistics it scanned every open dialog per group: 30 ms at
      -- 10,000 dialogs). Locks are taken in visitor order; a visitor has one open web dialog, so every
      -- group locks dialogs in one global order and two groups cannot deadlock.
      select i.n, i.account_id, i.visitor_id, i.text, i.client_id, d.id as dialog_id, d.site_id, d.operator_id
      from (select * from input order by visitor_id, n) i
      cross join lateral (
        select d.id, d.site_id, d.operator_id from dialogs d
        where d.visitor_id = i.visitor_id and d.status = 'open' and d.channel = 'web'
          and d.account_id = i.account_id and (i.named_dialog is null or i.named_dialog = d.id)
        limit 1
        for no key update
      ) d
    ),
    numbered as (
      select t.*, nextval(pg_get_serial_sequence('chat_messages', 'id')) as id
      from (select * from target order by n) t
    ),
    ins as (
      insert into chat_messages (id, account_id, dialog_id, author, visitor_id, text, client_id, created_at)
      overriding system value
      select id, account_id, dialog_id, 'visitor', visitor_id, text, client_id, ${now}::timestamptz
      from numbered order by id
      on conflict (visitor_id, client_id) where author = 'visitor' and client_id is not null do nothing
      returning id, account_id, dialog_id, visitor_id, text, attachment_id
    ),
    ${afterInsert(now)},
    notice as (
      select pg_notify(${CHAT_NOTIFY_CHANNEL}, json_build_object('t', 'messages', 'o', ${origin}::text,
        'm', (select json_agg(id order by id) from ins))::text) as sent
      where exists (select 1 from ins)
    )
    select nb.n, nb.id, nb.dialog_id, nb.operator_id, ins.id is not null as inserted,
      (select count(*) from notice) as notices
    from numbered nb left join ins on ins.id = nb.id
    order by nb.n`.execute(db);
  const settled = new Set<number>();
  const conflicts: { index: number; visitorId: number; clientId: string }[] = [];
  for (const row of result.rows) {
    const index = eligible[Number(row.n) - 1]!;
    const { visitor, input } = sends[index]!;
    settled.add(index);
    if (!row.inserted) {
      conflicts.push({ index, visitorId: visitor.id, clientId: input.clientId! });
      continue;
    }
    outcomes[index] = {
      ok: true,
      result: {
        duplicate: false,
        ...(origin !== null && {
          local: { dialogOperatorId: row.operator_id === null ? null : Number(row.operator_id) },
        }),
        message: textMessageRow(Number(row.id), Number(row.dialog_id), visitor, texts[index]!, input, now),
      },
    };
  }
  if (conflicts.length > 0) {
    const stored = await messagesQuery(db)
      .where('m.author', '=', 'visitor')
      .where(
        'm.visitor_id',
        'in',
        conflicts.map((c) => c.visitorId),
      )
      .where(
        'm.client_id',
        'in',
        conflicts.map((c) => c.clientId),
      )
      .execute();
    for (const conflict of conflicts) {
      const row = stored.find(
        (m) => m.visitor_id === conflict.visitorId && m.client_id === conflict.clientId,
      );
      // Stored by a transaction that committed after our statement began: the full path sorts it out.
      if (row) outcomes[conflict.index] = { ok: true, result: { message: row, duplicate: true } };
      else settled.delete(conflict.index);
    }
  }
  return settled;
}

/** The full path (see sendVisitorMessages) for the sends `live` names; fills their outcomes. */
async function writeInTransaction(
  db: Kysely<DB>,
  clock: Clock,
  sends: readonly VisitorSend[],
  texts: string[],
  live: number[],
  outcomes: (SendOutcome | undefined)[],
  region: CountryCode,
): Promise<void> {
  const written = await inTransaction(db, async (trx) => {
    const visitorIds = [...new Set(live.map((i) => sends[i]!.visitor.id))].sort((a, b) => a - b);
    const clientIds = [...new Set(live.flatMap((i) => sends[i]!.input.clientId ?? []))];
    // One statement: lock the visitors (in id order), their open web dialog, their stored client ids.
    const locked = await sql<{ id: number; open_dialog: number | null; stored: [string, number][] | null }>`
      select v.id, d.id as open_dialog,
        (select json_agg(json_build_array(m.client_id, m.id)) from chat_messages m
          where m.visitor_id = v.id and m.author = 'visitor' and m.client_id = any(${clientIds}::text[])) as stored
      from visitors v
      left join lateral (
        select d.id from dialogs d where d.visitor_id = v.id and d.status = 'open' and d.channel = 'web' limit 1
      ) d on true
      where v.id = any(${visitorIds}::int8[])
      order by v.id
      for update of v`.execute(trx);
    const stored = new Map<string, number>();
    const openDialog = new Map<number, number>();
    for (const row of locked.rows) {
      if (row.open_dialog !== null) openDialog.set(row.id, Number(row.open_dialog));
      for (const [clientId, id] of row.stored ?? []) stored.set(`${row.id}:${clientId}`, Number(id));
    }

    // A named dialog other than the open one (an older, closed dialog) must still be the visitor's.
    const open = new Set(openDialog.values());
    const named = [...new Set(live.flatMap((i) => sends[i]!.input.dialogId ?? []))].filter(
      (id) => !open.has(id),
    );
    const dialogs =
      named.length === 0
        ? []
        : await trx
            .selectFrom('dialogs')
            .select(['id', 'visitor_id', 'account_id'])
            .where('id', 'in', named)
            .execute();
    const ownDialog = (dialogId: number, visitor: Visitor) =>
      openDialog.get(visitor.id) === dialogId ||
      dialogs.some(
        (d) => d.id === dialogId && d.visitor_id === visitor.id && d.account_id === visitor.accountId,
      );

    const attachmentIds = [...new Set(live.flatMap((i) => sends[i]!.input.attachmentId ?? []))];
    const attachments = new Map<
      number,
      { visitor_id: number | null; file_name: string; content_type: string; size: number }
    >();
    if (attachmentIds.length > 0) {
      const rows = await trx
        .selectFrom('chat_attachments')
        .select(['id', 'visitor_id', 'file_name', 'content_type', 'size'])
        .where('id', 'in', attachmentIds)
        .execute();
      for (const row of rows) attachments.set(row.id, row);
    }

    const now = clock.now();
    /** Sends that write a row, in order, and sends that repeat one written in this call. */
    const rows: { index: number; dialogId: number }[] = [];
    const repeats: { index: number; of: number }[] = [];
    const duplicates: { index: number; id: number }[] = [];
    const inCall = new Map<string, number>();
    for (const i of live) {
      const { visitor, input } = sends[i]!;
      const key = input.clientId ? `${visitor.id}:${input.clientId}` : null;
      if (key !== null) {
        const id = stored.get(key);
        if (id !== undefined) {
          duplicates.push({ index: i, id });
          continue;
        }
        const earlier = inCall.get(key);
        if (earlier !== undefined) {
          repeats.push({ index: i, of: earlier });
          continue;
        }
      }
      if (input.dialogId !== undefined && input.dialogId !== null) {
        if (!ownDialog(input.dialogId, visitor)) {
          outcomes[i] = { ok: false, error: notFound('Dialog', 'dialog_id') };
          continue;
        }
      }
      if (input.attachmentId) {
        if (attachments.get(input.attachmentId)?.visitor_id !== visitor.id) {
          outcomes[i] = { ok: false, error: notFound('Attachment', 'attachment_id') };
          continue;
        }
      }
      let dialogId = openDialog.get(visitor.id);
      if (dialogId === undefined) {
        dialogId = (await openWebDialog(trx, clock, visitor)).id;
        openDialog.set(visitor.id, dialogId);
      }
      if (key !== null) inCall.set(key, i);
      rows.push({ index: i, dialogId });
    }

    const ids = new Map<number, number>();
    if (rows.length > 0) {
      // One statement: the rows, the dialogs' last-message pointers, the outbox events and the notice.
      const field = <T>(pick: (send: VisitorSend, index: number) => T) =>
        rows.map(({ index }) => pick(sends[index]!, index));
      const inserted = await sql<{ id: number }>`
        with input as (
          select * from unnest(
            ${field((s) => s.visitor.accountId)}::int8[], ${rows.map((r) => r.dialogId)}::int8[],
            ${field((s) => s.visitor.id)}::int8[], ${field((_, i) => texts[i]!)}::text[],
            ${field((s) => s.input.attachmentId ?? null)}::int8[], ${field((s) => s.input.clientId ?? null)}::text[],
            ${field((s) => s.visitor.siteId)}::int8[]
          ) with ordinality as t(account_id, dialog_id, visitor_id, text, attachment_id, client_id, site_id, n)
        ),
        ins as (
          insert into chat_messages (account_id, dialog_id, author, visitor_id, text, attachment_id, client_id, created_at)
          select account_id, dialog_id, 'visitor', visitor_id, text, attachment_id, client_id, ${now}::timestamptz
          from input order by n
          returning id, account_id, dialog_id, visitor_id, text, attachment_id
        ),
        ${afterInsert(now)}
        select ins.id from ins
        cross join (select pg_notify(${CHAT_NOTIFY_CHANNEL},
          json_build_object('t', 'messages', 'm', (select json_agg(id order by id) from ins))::text)) n
        order by ins.id`.execute(trx);
      // Ids come from one sequence in the order of the input rows.
      const sorted = inserted.rows.map((r) => Number(r.id));
      for (const [k, row] of rows.entries()) ids.set(row.index, sorted[k]!);
      // CH-4: a phone or email in the text makes the contact known (detected data only fills blanks).
      for (const { index, dialogId } of rows) {
        const found = detectContacts(texts[index]!, region);
        if (found.phones.length === 0 && found.emails.length === 0) continue;
        const { visitor } = sends[index]!;
        await captureContact(trx, clock, {
          accountId: visitor.accountId,
          siteId: visitor.siteId,
          source: 'message',
          visitorId: visitor.id,
          dialogId,
          phone: found.phones[0]?.value ?? null,
          email: found.emails[0]?.value ?? null,
          overwrite: false,
        });
      }
    }
    return { rows, repeats, duplicates, ids, now };
  });

  for (const { index, dialogId } of written.rows) {
    const { visitor, input } = sends[index]!;
    outcomes[index] = {
      ok: true,
      result: {
        duplicate: false,
        message: textMessageRow(
          written.ids.get(index)!,
          dialogId,
          visitor,
          texts[index]!,
          input,
          written.now,
        ),
      },
    };
  }
  const reread = [
    ...written.duplicates.map((d) => d.id),
    ...written.rows.filter((r) => sends[r.index]!.input.attachmentId).map((r) => written.ids.get(r.index)!),
  ];
  const loaded = new Map<number, MessageRow>();
  if (reread.length > 0)
    for (const row of await messagesQuery(db).where('m.id', 'in', reread).execute()) loaded.set(row.id, row);
  for (const { index, id } of written.duplicates)
    outcomes[index] = { ok: true, result: { message: loaded.get(id)!, duplicate: true } };
  for (const { index } of written.rows) {
    const row = loaded.get(written.ids.get(index)!);
    if (row) outcomes[index] = { ok: true, result: { message: row, duplicate: false } };
  }
  for (const { index, of } of written.repeats) {
    const first = outcomes[of];
    outcomes[index] = first?.ok
      ? { ok: true, result: { message: first.result.message, duplicate: true } }
      : first!;
  }
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
      // Web answers reach the visitor's socket, phone-dialog notes go nowhere; channels send.
      delivery: isReplyChannel(dialog.channel) ? 'pending' : null,
    });
    return { id, duplicate: false, channel: dialog.channel };
  });
  if (isReplyChannel(result.channel) && !result.duplicate) {
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
