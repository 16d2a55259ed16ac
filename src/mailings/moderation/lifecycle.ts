import { type Kysely, sql } from 'kysely';
import type { DB, ModerationStatus } from '../../db/schema.ts';
import type { Clock } from '../../shared/clock.ts';
import { AppError } from '../../shared/errors.ts';

/** The two kinds of moderated items and their tables; both share the lifecycle columns. */
export type ModerationKind = 'sender' | 'template';
const tables = { sender: 'senders', template: 'message_templates' } as const;
const labels = { sender: 'Sender', template: 'Template' } as const;

/** Items the account may (re)submit: a draft, or a rejected one after fixing it. */
export const submittable: readonly ModerationStatus[] = ['draft', 'rejected'];

// Any constant works; it only has to be the same in every process (see also MIGRATION_LOCK).
const MODERATION_LOCK = 7_201_006;

/**
 * Serialises moderation changes and mailing starts of one account for the rest of the transaction.
 * Without it, two approvals committed at once could each see the other's item still pending, and a
 * mailing started while its last item is approved could miss the approval: either way a mailing whose
 * every item is approved would stay on moderation.
 */
export async function lockModeration(db: Kysely<DB>, accountId: number): Promise<void> {
  await sql`select pg_advisory_xact_lock(${MODERATION_LOCK}::int4, (${accountId}::int8 % 2147483647)::int4)`.execute(
    db,
  );
}

/** draft/rejected → on_moderation for the given items of the account; answers how many moved. */
export async function markSubmitted(
  db: Kysely<DB>,
  clock: Clock,
  kind: ModerationKind,
  accountId: number,
  ids: number[],
): Promise<number> {
  if (ids.length === 0) return 0;
  const now = clock.now().toISOString();
  const r = await sql`update ${sql.table(tables[kind])}
    set status = 'on_moderation', reject_reason = null, submitted_at = ${now}::timestamptz,
        updated_at = ${now}::timestamptz, decided_at = null, decided_by = null
    where account_id = ${accountId} and id = any(${ids}::int8[]) and status = any(${submittable}::text[])`.execute(
    db,
  );
  return Number(r.numAffectedRows ?? 0);
}

export type Decision = { approve: true } | { approve: false; reason: string };

/**
 * A platform admin's decision on an item on moderation (any account's). Answers the item's account, so
 * the caller can move that account's waiting mailings on.
 */
export async function decideItem(
  db: Kysely<DB>,
  clock: Clock,
  kind: ModerationKind,
  id: number,
  decision: Decision,
  userId: number | null,
): Promise<{ accountId: number }> {
  const table = sql.table(tables[kind]);
  const found = await sql<{
    account_id: number;
    status: ModerationStatus;
  }>`select account_id, status from ${table} where id = ${id}`.execute(db);
  const item = found.rows[0];
  if (!item) throw new AppError('not_found', `${labels[kind]} ${id} not found`, { field: 'id' });
  await lockModeration(db, item.account_id);
  const now = clock.now().toISOString();
  const status: ModerationStatus = decision.approve ? 'approved' : 'rejected';
  const reason = decision.approve ? null : decision.reason;
  const r = await sql`update ${table}
    set status = ${status}, reject_reason = ${reason}, decided_at = ${now}::timestamptz,
        decided_by = ${userId}, updated_at = ${now}::timestamptz
    where id = ${id} and status = 'on_moderation'`.execute(db);
  if (Number(r.numAffectedRows ?? 0) === 0) {
    const current = await sql<{
      status: ModerationStatus;
    }>`select status from ${table} where id = ${id}`.execute(db);
    throw new AppError(
      'conflict',
      `${labels[kind]} ${id} is ${current.rows[0]?.status ?? 'gone'}; only an item on moderation is decided`,
      { field: 'status' },
    );
  }
  return { accountId: Number(item.account_id) };
}
