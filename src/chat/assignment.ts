import { type Kysely, sql } from 'kysely';
import type { DB } from '../db/schema.ts';
import type { Clock } from '../shared/clock.ts';
import { publish } from './bus.ts';
import { writeOutbox } from './outbox.ts';
import { PRESENCE_GRACE_MS } from './vocabulary.ts';

/**
 * Round-robin assignment (CH-3): a new dialog goes to the online operator of its site who got a new
 * dialog on that site longest ago (or never). "Online" means the operator chose online and has a live
 * socket on some server. Assignments of one site are serialised by an advisory lock, so two servers
 * opening dialogs at once still take turns. Nobody online: the dialog waits unassigned and is handed out
 * when an operator comes online (assignWaiting).
 */

async function lockSite(db: Kysely<DB>, accountId: number, siteId: number | null): Promise<void> {
  const key = siteId === null ? `omnitalk:assign:account:${accountId}` : `omnitalk:assign:site:${siteId}`;
  await sql`select pg_advisory_xact_lock(hashtextextended(${key}, 0))`.execute(db);
}

/**
 * The online operators who serve a site, as `from … where …` over `users u`: chose online, have a live
 * socket on some server, and are in the site's operator list (or the site has none; a null site, a
 * channel dialog without one, is served by everyone).
 */
function onlineServers(clock: Clock, accountId: number, siteId: number | null) {
  const cutoff = new Date(clock.now().getTime() - PRESENCE_GRACE_MS).toISOString();
  return sql`from users u
    join operator_presence p on p.user_id = u.id and p.status = 'online'
    where u.account_id = ${accountId}
      and exists (
        select 1 from operator_connections c where c.user_id = u.id and c.seen_at > ${cutoff}::timestamptz)
      and (
        ${siteId}::bigint is null
        or not exists (select 1 from site_operators so where so.site_id = ${siteId}::bigint)
        or exists (select 1 from site_operators so where so.site_id = ${siteId}::bigint and so.user_id = u.id))`;
}

/** The next operator in turn for a site (null: a channel dialog without a site, served by everyone). */
export async function nextOperator(
  db: Kysely<DB>,
  clock: Clock,
  accountId: number,
  siteId: number | null,
): Promise<number | null> {
  const row = await sql<{ id: number }>`
    select u.id ${onlineServers(clock, accountId, siteId)}
    order by (
      select max(d.id) from dialogs d
      where d.site_id is not distinct from ${siteId}::bigint and d.operator_id = u.id
    ) asc nulls first, u.id
    limit 1`.execute(db);
  return row.rows[0]?.id ?? null;
}

/** Whether some operator of the site is online now (what the widget shows; cheaper than nextOperator). */
export async function operatorOnline(
  db: Kysely<DB>,
  clock: Clock,
  accountId: number,
  siteId: number,
): Promise<boolean> {
  const row = await sql<{ online: boolean }>`
    select exists (select 1 ${onlineServers(clock, accountId, siteId)}) as online`.execute(db);
  return row.rows[0]?.online === true;
}

/**
 * Assigns an unassigned open dialog to the next operator in turn. Call inside a transaction; returns
 * the operator, or null when nobody is online (or the dialog was assigned meanwhile).
 */
export async function assignRoundRobin(
  db: Kysely<DB>,
  clock: Clock,
  dialog: { id: number; account_id: number; site_id: number | null },
): Promise<number | null> {
  await lockSite(db, dialog.account_id, dialog.site_id);
  const operatorId = await nextOperator(db, clock, dialog.account_id, dialog.site_id);
  if (operatorId === null) return null;
  const now = clock.now();
  const updated = await db
    .updateTable('dialogs')
    .set({ operator_id: operatorId, assigned_at: now, updated_at: now })
    .where('id', '=', dialog.id)
    .where('operator_id', 'is', null)
    .where('status', '=', 'open')
    .executeTakeFirst();
  if (Number(updated.numUpdatedRows) === 0) return null;
  await writeOutbox(db, clock, [
    {
      accountId: dialog.account_id,
      siteId: dialog.site_id,
      kind: 'dialog.assigned',
      payload: { dialog_id: dialog.id, operator_id: operatorId, by: 'round_robin' },
    },
  ]);
  await publish(db, { t: 'dialog', a: dialog.account_id, d: dialog.id });
  return operatorId;
}

/** Hands out an account's waiting dialogs, oldest first, one transaction each. Returns how many. */
export async function assignWaiting(
  db: Kysely<DB>,
  clock: Clock,
  accountId: number,
  limit = 100,
): Promise<number> {
  const waiting = await db
    .selectFrom('dialogs')
    .select(['id', 'account_id', 'site_id'])
    .where('account_id', '=', accountId)
    .where('status', '=', 'open')
    .where('operator_id', 'is', null)
    .orderBy('id')
    .limit(limit)
    .execute();
  let assigned = 0;
  for (const dialog of waiting) {
    const operator = await db.transaction().execute((trx) => assignRoundRobin(trx, clock, dialog));
    // Null: nobody of that dialog's site is online (or it was taken meanwhile); other sites may differ.
    if (operator !== null) assigned++;
  }
  return assigned;
}
