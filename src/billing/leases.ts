import { type Kysely, sql } from 'kysely';
import type { DB } from '../db/schema.ts';
import type { Clock } from '../shared/clock.ts';
import { notFound } from '../shared/errors.ts';

/**
 * Credit leases: how the engine's send batches spend an account's money without holding its row.
 *
 * A batch leases what it means to spend (at most what is free: balance − leased) in one statement that
 * commits on its own, so the account row is locked for that statement only; it then locks its lease row
 * for the rest of its transaction, calls the providers, writes its messages, and settles as its last
 * statement: the actual cost is debited with one ledger row, and the lease is deleted and its amount
 * taken off accounts.leased, all at once. accounts.leased always equals the sum of the account's lease
 * rows (every statement here changes both), and the balance cannot fall below it (a check constraint),
 * so money under a lease is spent by its batch or by nothing.
 *
 * A batch that fails gives its lease back at once (releaseLease); one whose process died leaves an
 * unlocked lease behind, which reclaimDeadLeases returns after a grace period. The grace period is real
 * time (the database's clock, not the engine's, which a fast clock moves by hours): a live batch holds its
 * lease locked, so only a lease whose transaction ended without settling can be taken back.
 */

export interface Lease {
  id: number;
  accountId: number;
  amount: number;
}

/**
 * Leases up to `want` kopecks of the account's free money; null when nothing is free (or nothing wanted).
 * On PostgreSQL pass the pool (the statement commits by itself and the row lock ends with it); on a
 * single-connection database, pass the transaction (nothing else can run meanwhile).
 */
export async function leaseCredit(db: Kysely<DB>, accountId: number, want: number): Promise<Lease | null> {
  if (want <= 0) {
    const exists = await db
      .selectFrom('accounts')
      .select('id')
      .where('id', '=', accountId)
      .executeTakeFirst();
    if (!exists) throw notFound('Account', 'accountId');
    return null;
  }
  const r = await sql<{ id: number | null; amount: number; found: boolean }>`
    with account as (
      select id, least(greatest(balance - leased, 0), ${want}::int8) as grant_amount
      from accounts where id = ${accountId} for no key update
    ), lease as (
      insert into engine_leases (account_id, amount)
      select id, grant_amount from account where grant_amount > 0
      returning id, amount
    ), leased as (
      update accounts a set leased = a.leased + l.amount from lease l where a.id = ${accountId}
    )
    select (select id from lease) as id, coalesce((select amount from lease), 0)::int8 as amount,
           exists (select 1 from account) as found`.execute(db);
  const row = r.rows[0];
  if (!row?.found) throw notFound('Account', 'accountId');
  if (row.id === null) return null;
  return { id: Number(row.id), accountId, amount: Number(row.amount) };
}

/** Locks the lease for the rest of the transaction, so it is never taken back while the batch lives. */
export async function holdLease(trx: Kysely<DB>, lease: Lease): Promise<void> {
  const r = await sql`select id from engine_leases where id = ${lease.id} for update`.execute(trx);
  // Only a lease left unlocked past the grace period is reclaimed; between its commit and this lock
  // there are microseconds. Should it have happened, the batch must not spend it.
  if (r.rows.length === 0) throw new Error(`engine lease ${lease.id} was reclaimed before its batch held it`);
}

/**
 * The batch's last statement: debits `spent` (≤ the lease) as one `reserve` ledger row covering `items`
 * messages, deletes the lease and frees what it held.
 */
export async function settleLease(
  trx: Kysely<DB>,
  clock: Clock,
  lease: Lease,
  spent: { amount: number; items: number; description: string },
): Promise<void> {
  if (spent.amount > lease.amount || spent.amount < 0)
    throw new Error(`engine lease ${lease.id}: spent ${spent.amount} of ${lease.amount}`);
  const entry =
    spent.amount > 0 && spent.items > 0
      ? sql`insert into ledger (account_id, amount, kind, items, description, created_at)
            values (${lease.accountId}, ${-spent.amount}, 'reserve', ${spent.items}, ${spent.description},
                    ${clock.now().toISOString()}::timestamptz)`
      : sql`select 1`;
  const r = await sql`
    with released as (delete from engine_leases where id = ${lease.id} returning amount),
    entry as (${entry})
    update accounts set balance = balance - ${spent.amount}::int8, leased = leased - released.amount
    from released where accounts.id = ${lease.accountId}`.execute(trx);
  if (Number(r.numAffectedRows ?? 0) !== 1) throw new Error(`engine lease ${lease.id} is gone`);
}

/** Gives back the lease of a batch that failed (its transaction rolled back, so nothing was spent). */
export async function releaseLease(db: Kysely<DB>, lease: Lease): Promise<void> {
  await sql`
    with released as (delete from engine_leases where id = ${lease.id} returning account_id, amount)
    update accounts a set leased = a.leased - released.amount from released where a.id = released.account_id`.execute(
    db,
  );
}

/**
 * Returns the leases of batches whose process died: older than `graceSeconds` by the database's clock and
 * not locked by a live transaction. Returns how many.
 */
export async function reclaimDeadLeases(db: Kysely<DB>, graceSeconds = 300): Promise<number> {
  const r = await sql<{ n: number }>`
    with dead as (
      delete from engine_leases where id in (
        select id from engine_leases where created_at < now() - ${graceSeconds} * interval '1 second'
        order by id for update skip locked)
      returning account_id, amount
    ), per_account as (
      select account_id, sum(amount)::int8 as amount, count(*)::int8 as n from dead group by account_id
    ), freed as (
      update accounts a set leased = a.leased - p.amount from per_account p where a.id = p.account_id
    )
    select coalesce(sum(n), 0)::int8 as n from per_account`.execute(db);
  return Number(r.rows[0]?.n ?? 0);
}
