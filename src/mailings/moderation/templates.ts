import type { Kysely } from 'kysely';
import type { DB, ModerationStatus, TemplateChannel } from '../../db/schema.ts';
import { inTransaction } from '../../db/transaction.ts';
import type { Clock } from '../../shared/clock.ts';
import { AppError, invalid } from '../../shared/errors.ts';
import { compileTemplate, parseTemplate } from '../scheme/service-template.ts';
import { reviewWaitingMailings } from './gate.ts';
import { type Decision, decideItem, lockModeration, markSubmitted, submittable } from './lifecycle.ts';
import { textCovered } from './template-cover.ts';
import { templateTextLimits } from './vocabulary.ts';

/** A message template (VK/OK service messages, WhatsApp) with placeholders (слово), (число). */
export interface MessageTemplate {
  id: number;
  account_id: number;
  channel: TemplateChannel;
  text: string;
  status: ModerationStatus;
  reject_reason: string | null;
  created_at: Date;
  updated_at: Date;
  submitted_at: Date | null;
  decided_at: Date | null;
}

const columns = [
  'id',
  'account_id',
  'channel',
  'text',
  'status',
  'reject_reason',
  'created_at',
  'updated_at',
  'submitted_at',
  'decided_at',
] as const;

/** Refuses a blank, too long or malformed template, naming the field `text`. */
export function checkTemplateText(channel: TemplateChannel, text: string): string {
  const trimmed = text.trim();
  if (trimmed.length === 0) throw invalid('text', 'text must not be blank');
  const max = templateTextLimits[channel];
  if (trimmed.length > max) throw invalid('text', `text must be at most ${max} characters for ${channel}`);
  try {
    parseTemplate(trimmed);
  } catch (error) {
    if (error instanceof AppError) throw invalid('text', error.message);
    throw error;
  }
  return trimmed;
}

export async function createTemplate(
  db: Kysely<DB>,
  clock: Clock,
  accountId: number,
  input: { channel: TemplateChannel; text: string },
): Promise<MessageTemplate> {
  const text = checkTemplateText(input.channel, input.text);
  const now = clock.now();
  return inTransaction(db, async (trx) => {
    await lockModeration(trx, accountId);
    const row = await trx
      .insertInto('message_templates')
      .values({ account_id: accountId, channel: input.channel, text, created_at: now, updated_at: now })
      .onConflict((oc) => oc.doNothing())
      .returning(columns)
      .executeTakeFirst();
    if (!row)
      throw new AppError('conflict', `The account already has this ${input.channel} template`, {
        field: 'text',
      });
    await reviewWaitingMailings(trx, clock, accountId);
    return row;
  });
}

export async function listTemplates(
  db: Kysely<DB>,
  accountId: number,
  filter: { channel?: TemplateChannel; status?: ModerationStatus } = {},
): Promise<MessageTemplate[]> {
  let q = db.selectFrom('message_templates').select(columns).where('account_id', '=', accountId);
  if (filter.channel) q = q.where('channel', '=', filter.channel);
  if (filter.status) q = q.where('status', '=', filter.status);
  return q.orderBy('id', 'desc').limit(1000).execute();
}

export async function getTemplate(db: Kysely<DB>, accountId: number, id: number): Promise<MessageTemplate> {
  const row = await db
    .selectFrom('message_templates')
    .select(columns)
    .where('account_id', '=', accountId)
    .where('id', '=', id)
    .executeTakeFirst();
  if (!row) throw new AppError('not_found', `Template ${id} not found`, { field: 'id' });
  return row;
}

export async function deleteTemplate(
  db: Kysely<DB>,
  clock: Clock,
  accountId: number,
  id: number,
): Promise<void> {
  await inTransaction(db, async (trx) => {
    await lockModeration(trx, accountId);
    const gone = await trx
      .deleteFrom('message_templates')
      .where('account_id', '=', accountId)
      .where('id', '=', id)
      .returning('id')
      .executeTakeFirst();
    if (!gone) throw new AppError('not_found', `Template ${id} not found`, { field: 'id' });
    await reviewWaitingMailings(trx, clock, accountId);
  });
}

export async function submitTemplate(
  db: Kysely<DB>,
  clock: Clock,
  accountId: number,
  id: number,
): Promise<MessageTemplate> {
  return inTransaction(db, async (trx) => {
    await lockModeration(trx, accountId);
    const template = await getTemplate(trx, accountId, id);
    if (!submittable.includes(template.status))
      throw new AppError(
        'conflict',
        `Template ${id} is ${template.status}; only a draft or a rejected one is submitted`,
        { field: 'status' },
      );
    await markSubmitted(trx, clock, 'template', accountId, [id]);
    await reviewWaitingMailings(trx, clock, accountId);
    return getTemplate(trx, accountId, id);
  });
}

/**
 * Which of the account's templates a message text matches (contact variables like {{name}} may stand
 * for any words or numbers), and whether one of them is approved: what a send block needs.
 */
export async function matchTemplates(
  db: Kysely<DB>,
  accountId: number,
  channel: TemplateChannel,
  text: string,
): Promise<{
  approved: boolean;
  matches: Pick<MessageTemplate, 'id' | 'text' | 'status' | 'reject_reason'>[];
}> {
  const templates = await db
    .selectFrom('message_templates')
    .select(['id', 'text', 'status', 'reject_reason'])
    .where('account_id', '=', accountId)
    .where('channel', '=', channel)
    .orderBy('id')
    .execute();
  const matches = templates.filter((t) => textCovered(compileTemplate(t.text), text));
  return { approved: matches.some((t) => t.status === 'approved'), matches };
}

/** Platform admin: templates of every account in a status (the moderation queue by default). */
export async function listTemplatesForModeration(
  db: Kysely<DB>,
  filter: {
    status?: ModerationStatus;
    channel?: TemplateChannel;
    account_id?: number;
    after?: number;
    limit?: number;
  },
): Promise<{ items: (MessageTemplate & { account_name: string })[]; next: number | null }> {
  const limit = filter.limit ?? 100;
  let q = db
    .selectFrom('message_templates')
    .innerJoin('accounts', 'accounts.id', 'message_templates.account_id')
    .select(columns.map((c) => `message_templates.${c}` as const))
    .select('accounts.name as account_name')
    .where('message_templates.status', '=', filter.status ?? 'on_moderation')
    .orderBy('message_templates.id')
    .limit(limit + 1);
  if (filter.channel) q = q.where('message_templates.channel', '=', filter.channel);
  if (filter.account_id) q = q.where('message_templates.account_id', '=', filter.account_id);
  if (filter.after) q = q.where('message_templates.id', '>', filter.after);
  const rows = await q.execute();
  const items = rows.slice(0, limit);
  return { items, next: rows.length > limit ? (items.at(-1)?.id ?? null) : null };
}

/** Platform admin: approve or reject (with a reason); the account's waiting mailings move on. */
export async function decideTemplate(
  db: Kysely<DB>,
  clock: Clock,
  id: number,
  decision: Decision,
  userId: number | null,
): Promise<MessageTemplate & { released_mailings: number[] }> {
  return inTransaction(db, async (trx) => {
    const { accountId } = await decideItem(trx, clock, 'template', id, decision, userId);
    const released = await reviewWaitingMailings(trx, clock, accountId);
    return { ...(await getTemplate(trx, accountId, id)), released_mailings: released };
  });
}
