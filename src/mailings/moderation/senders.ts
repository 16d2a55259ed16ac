import fs from 'node:fs';
import type { Kysely } from 'kysely';
import type { DB, ModerationStatus, SenderChannel } from '../../db/schema.ts';
import { inTransaction } from '../../db/transaction.ts';
import type { Clock } from '../../shared/clock.ts';
import { AppError, invalid } from '../../shared/errors.ts';
import { mailingUsingSender, reviewWaitingMailings } from './gate.ts';
import { letterPath } from './letters.ts';
import { type Decision, decideItem, lockModeration, markSubmitted, submittable } from './lifecycle.ts';
import { letterChannels, senderNameSchemas } from './vocabulary.ts';

/** A sender as the API shows it. */
export interface Sender {
  id: number;
  account_id: number;
  channel: SenderChannel;
  name: string;
  comment: string;
  status: ModerationStatus;
  reject_reason: string | null;
  /** The signed letter of a VK/OK community (null: none uploaded). */
  letter: { file_name: string; content_type: string; size: number; uploaded_at: Date } | null;
  created_at: Date;
  updated_at: Date;
  submitted_at: Date | null;
  decided_at: Date | null;
}

const columns = [
  'id',
  'account_id',
  'channel',
  'name',
  'comment',
  'status',
  'reject_reason',
  'letter_file_name',
  'letter_content_type',
  'letter_size',
  'letter_uploaded_at',
  'created_at',
  'updated_at',
  'submitted_at',
  'decided_at',
] as const;

interface SenderRow {
  id: number;
  account_id: number;
  channel: SenderChannel;
  name: string;
  comment: string;
  status: ModerationStatus;
  reject_reason: string | null;
  letter_file_name: string | null;
  letter_content_type: string | null;
  letter_size: number | null;
  letter_uploaded_at: Date | null;
  created_at: Date;
  updated_at: Date;
  submitted_at: Date | null;
  decided_at: Date | null;
}

function toSender(row: SenderRow): Sender {
  const { letter_file_name, letter_content_type, letter_size, letter_uploaded_at, ...rest } = row;
  return {
    ...rest,
    letter:
      letter_file_name !== null
        ? {
            file_name: letter_file_name,
            content_type: letter_content_type ?? 'application/octet-stream',
            size: Number(letter_size ?? 0),
            uploaded_at: letter_uploaded_at!,
          }
        : null,
  };
}

export async function createSender(
  db: Kysely<DB>,
  clock: Clock,
  accountId: number,
  input: { channel: SenderChannel; name: string; comment?: string },
): Promise<Sender> {
  const checked = senderNameSchemas[input.channel].safeParse(input.name.trim());
  if (!checked.success) throw invalid('name', `name ${checked.error.issues[0]?.message ?? 'is invalid'}`);
  const now = clock.now();
  return inTransaction(db, async (trx) => {
    await lockModeration(trx, accountId);
    const row = await trx
      .insertInto('senders')
      .values({
        account_id: accountId,
        channel: input.channel,
        name: checked.data,
        comment: input.comment ?? '',
        created_at: now,
        updated_at: now,
      })
      .onConflict((oc) => oc.doNothing())
      .returning(columns)
      .executeTakeFirst();
    if (!row)
      throw new AppError(
        'conflict',
        `The account already has the ${input.channel} sender "${checked.data}"`,
        {
          field: 'name',
        },
      );
    await reviewWaitingMailings(trx, clock, accountId);
    return toSender(row);
  });
}

export async function listSenders(
  db: Kysely<DB>,
  accountId: number,
  filter: { channel?: SenderChannel; status?: ModerationStatus } = {},
): Promise<Sender[]> {
  let q = db.selectFrom('senders').select(columns).where('account_id', '=', accountId);
  if (filter.channel) q = q.where('channel', '=', filter.channel);
  if (filter.status) q = q.where('status', '=', filter.status);
  return (await q.orderBy('id', 'desc').limit(1000).execute()).map(toSender);
}

export async function getSender(db: Kysely<DB>, accountId: number, id: number): Promise<Sender> {
  const row = await db
    .selectFrom('senders')
    .select(columns)
    .where('account_id', '=', accountId)
    .where('id', '=', id)
    .executeTakeFirst();
  if (!row) throw new AppError('not_found', `Sender ${id} not found`, { field: 'id' });
  return toSender(row);
}

/** Deletes the sender and its letter; mailings waiting for it now show it as missing. */
export async function deleteSender(
  db: Kysely<DB>,
  clock: Clock,
  dataDir: string,
  accountId: number,
  id: number,
): Promise<void> {
  await inTransaction(db, async (trx) => {
    await lockModeration(trx, accountId);
    const sender = await trx
      .selectFrom('senders')
      .select(['channel', 'name'])
      .where('account_id', '=', accountId)
      .where('id', '=', id)
      .executeTakeFirst();
    if (!sender) throw new AppError('not_found', `Sender ${id} not found`, { field: 'id' });
    const mailingId = await mailingUsingSender(trx, accountId, sender);
    if (mailingId !== null)
      throw new AppError(
        'conflict',
        `Sender "${sender.name}" is used by mailing ${mailingId}, which has not ended; cancel it or wait until it completes`,
        { field: 'id' },
      );
    const gone = await trx
      .deleteFrom('senders')
      .where('account_id', '=', accountId)
      .where('id', '=', id)
      .returning('id')
      .executeTakeFirst();
    if (!gone) throw new AppError('not_found', `Sender ${id} not found`, { field: 'id' });
    await reviewWaitingMailings(trx, clock, accountId);
  });
  fs.rmSync(letterPath(dataDir, id), { force: true });
}

/** draft/rejected → on_moderation; a VK/OK community needs its signed letter first. */
export async function submitSender(
  db: Kysely<DB>,
  clock: Clock,
  accountId: number,
  id: number,
): Promise<Sender> {
  return inTransaction(db, async (trx) => {
    await lockModeration(trx, accountId);
    const sender = await getSender(trx, accountId, id);
    if (!submittable.includes(sender.status))
      throw new AppError(
        'conflict',
        `Sender ${id} is ${sender.status}; only a draft or a rejected one is submitted`,
        {
          field: 'status',
        },
      );
    if (letterChannels.includes(sender.channel) && !sender.letter)
      throw invalid('letter', 'A VK/OK community goes to moderation with its signed letter: upload it first');
    await markSubmitted(trx, clock, 'sender', accountId, [id]);
    await reviewWaitingMailings(trx, clock, accountId);
    return getSender(trx, accountId, id);
  });
}

/**
 * Records the uploaded letter of a draft or rejected VK/OK sender; `store` moves the file into place
 * inside the transaction, so a refused upload leaves the previous letter as it was.
 */
export async function attachLetter(
  db: Kysely<DB>,
  clock: Clock,
  accountId: number,
  id: number,
  letter: { fileName: string; contentType: string; size: number },
  store: () => void,
): Promise<Sender> {
  return inTransaction(db, async (trx) => {
    await lockModeration(trx, accountId);
    const sender = await getSender(trx, accountId, id);
    assertLetterAccepted(sender);
    store();
    const now = clock.now();
    await trx
      .updateTable('senders')
      .set({
        letter_file_name: letter.fileName,
        letter_content_type: letter.contentType,
        letter_size: letter.size,
        letter_uploaded_at: now,
        updated_at: now,
      })
      .where('id', '=', id)
      .execute();
    return getSender(trx, accountId, id);
  });
}

/** Whether a letter may be uploaded now; checked before the upload is read and again when it is stored. */
export function assertLetterAccepted(sender: Sender): void {
  if (!letterChannels.includes(sender.channel))
    throw invalid('file', 'Only VK and OK senders carry a signed letter');
  if (!submittable.includes(sender.status))
    throw new AppError('conflict', `Sender ${sender.id} is ${sender.status}; its letter cannot change now`, {
      field: 'status',
    });
}

/** Platform admin: the senders of every account in a status (the moderation queue by default). */
export async function listSendersForModeration(
  db: Kysely<DB>,
  filter: {
    status?: ModerationStatus;
    channel?: SenderChannel;
    account_id?: number;
    after?: number;
    limit?: number;
  },
): Promise<{ items: (Sender & { account_name: string })[]; next: number | null }> {
  const limit = filter.limit ?? 100;
  let q = db
    .selectFrom('senders')
    .innerJoin('accounts', 'accounts.id', 'senders.account_id')
    .select(columns.map((c) => `senders.${c}` as const))
    .select('accounts.name as account_name')
    .where('senders.status', '=', filter.status ?? 'on_moderation')
    .orderBy('senders.id')
    .limit(limit + 1);
  if (filter.channel) q = q.where('senders.channel', '=', filter.channel);
  if (filter.account_id) q = q.where('senders.account_id', '=', filter.account_id);
  if (filter.after) q = q.where('senders.id', '>', filter.after);
  const rows = await q.execute();
  const items = rows.slice(0, limit).map(({ account_name, ...row }) => ({ ...toSender(row), account_name }));
  return { items, next: rows.length > limit ? (items.at(-1)?.id ?? null) : null };
}

/** Platform admin: the sender whatever its account (to read its letter). */
export async function getSenderForModeration(db: Kysely<DB>, id: number): Promise<Sender> {
  const row = await db.selectFrom('senders').select(columns).where('id', '=', id).executeTakeFirst();
  if (!row) throw new AppError('not_found', `Sender ${id} not found`, { field: 'id' });
  return toSender(row);
}

/** Platform admin: approve or reject (with a reason); the account's waiting mailings move on. */
export async function decideSender(
  db: Kysely<DB>,
  clock: Clock,
  id: number,
  decision: Decision,
  userId: number | null,
): Promise<Sender & { released_mailings: number[] }> {
  return inTransaction(db, async (trx) => {
    const { accountId } = await decideItem(trx, clock, 'sender', id, decision, userId);
    const released = await reviewWaitingMailings(trx, clock, accountId);
    return { ...(await getSender(trx, accountId, id)), released_mailings: released };
  });
}
