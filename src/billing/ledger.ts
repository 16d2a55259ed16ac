import { type Kysely, type Selectable, sql } from 'kysely';
import type { DB, LedgerTable, PricedChannel, ReservationsTable } from '../db/schema.ts';
import { inTransaction } from '../db/transaction.ts';
import type { Clock } from '../shared/clock.ts';
import { AppError, invalid, notFound } from '../shared/errors.ts';
import { getPrice } from './prices.ts';
import { requireChannel, requireKind, requireKopecks, requireReservationKey } from './validation.ts';

/**
 * Money movements. The balance is integer kopecks; every movement is a ledger row written in the same
 * transaction as the balance change, so accounts.balance always equals the sum of the account's ledger.
 * A send reserves its cost (a negative `reserve` row); a delivered message is captured (no money moves);
 * an undelivered one is refunded exactly once (a positive `refund` row). The reservation's status is the
 * guard: only the statement that moves it to `refunded` writes the refund.
 *
 * Every function takes a Kysely that may be a Transaction, and opens its own only when it is not in one.
 */

export type LedgerEntry = Selectable<LedgerTable>;
export type Reservation = Selectable<ReservationsTable>;

const notEnoughMoney = (amount: number) =>
  new AppError('insufficient_funds', `The balance does not cover ${amount} kopecks`, { field: 'balance' });

async function requireAccount(db: Kysely<DB>, accountId: number): Promise<number> {
  const row = await db
    .selectFrom('accounts')
    .select('balance')
    .where('id', '=', accountId)
    .executeTakeFirst();
  if (!row) throw notFound('Account', 'accountId');
  return row.balance;
}

export async function getBalance(db: Kysely<DB>, accountId: number): Promise<number> {
  return requireAccount(db, accountId);
}

/** Credits the account (the platform-admin check belongs to the HTTP layer). */
export async function topUp(
  db: Kysely<DB>,
  clock: Clock,
  input: { accountId: number; amount: number; description?: string; createdBy?: number | null },
): Promise<{ balance: number; entry: LedgerEntry }> {
  const amount = requireKopecks(input.amount, 'amount', { positive: true });
  const description = input.description ?? '';
  if (typeof description !== 'string' || description.length > 500)
    throw invalid('description', 'Description must be at most 500 characters');
  return inTransaction(db, async (trx) => {
    const account = await trx
      .updateTable('accounts')
      .set((eb) => ({ balance: eb('balance', '+', amount) }))
      .where('id', '=', input.accountId)
      .returning('balance')
      .executeTakeFirst();
    if (!account) throw notFound('Account', 'accountId');
    try {
      const entry = await trx
        .insertInto('ledger')
        .values({
          account_id: input.accountId,
          amount,
          kind: 'topup',
          description,
          created_by: input.createdBy ?? null,
          created_at: clock.now(),
        })
        .returningAll()
        .executeTakeFirstOrThrow();
      return { balance: account.balance, entry };
    } catch (error) {
      if ((error as { code?: string }).code === '23503')
        throw new AppError('not_found', 'User not found', { field: 'createdBy', cause: error });
      throw error;
    }
  });
}

export async function findReservation(
  db: Kysely<DB>,
  accountId: number,
  key: string,
): Promise<Reservation | undefined> {
  return db
    .selectFrom('reservations')
    .selectAll()
    .where('account_id', '=', accountId)
    .where('key', '=', key)
    .executeTakeFirst();
}

export interface ReserveInput {
  accountId: number;
  /** Idempotency key, unique per account, e.g. `message:<id>`. */
  key: string;
  channel: PricedChannel;
  kind?: string;
  /** Kopecks; defaults to the account's price for channel/kind. */
  amount?: number;
}

/**
 * Reserves the cost of one send. The same key again returns the existing reservation (whatever its
 * status) and charges nothing; a balance that does not cover it is `insufficient_funds` and writes nothing.
 */
export async function reserve(
  db: Kysely<DB>,
  clock: Clock,
  input: ReserveInput,
): Promise<{ reservation: Reservation; created: boolean }> {
  const { accountId } = input;
  const key = requireReservationKey(input.key);
  const channel = requireChannel(input.channel);
  const kind = requireKind(input.kind ?? 'message');
  if (input.amount !== undefined) requireKopecks(input.amount, 'amount');
  return inTransaction(db, async (trx) => {
    const existing = await findReservation(trx, accountId, key);
    if (existing) return { reservation: existing, created: false };
    const amount = input.amount ?? (await getPrice(trx, accountId, channel, kind));
    // The debit first: its row lock on the account orders every reservation of this account, and the
    // condition makes overdrawing impossible however many run at once.
    const debited = await trx
      .updateTable('accounts')
      .set((eb) => ({ balance: eb('balance', '-', amount) }))
      .where('id', '=', accountId)
      // What the engine's send batches have leased is spent already (src/billing/leases.ts).
      .where(sql<number>`balance - leased`, '>=', amount)
      .returning('balance')
      .executeTakeFirst();
    if (!debited) {
      // A concurrent reserve of the same key may have taken the money first; then the key is reserved.
      const raced = await findReservation(trx, accountId, key);
      if (raced) return { reservation: raced, created: false };
      await requireAccount(trx, accountId);
      throw notEnoughMoney(amount);
    }
    const now = clock.now();
    const reservation = await trx
      .insertInto('reservations')
      .values({ account_id: accountId, key, channel, kind, amount, status: 'reserved', created_at: now })
      .onConflict((oc) => oc.columns(['account_id', 'key']).doNothing())
      .returningAll()
      .executeTakeFirst();
    if (!reservation) {
      // A concurrent reserve of the same key committed between our lookup and our debit: undo the debit.
      await trx
        .updateTable('accounts')
        .set((eb) => ({ balance: eb('balance', '+', amount) }))
        .where('id', '=', accountId)
        .execute();
      const winner = await findReservation(trx, accountId, key);
      if (!winner) throw new Error(`Reservation ${key} conflicted but cannot be found`);
      return { reservation: winner, created: false };
    }
    await trx
      .insertInto('ledger')
      .values({
        account_id: accountId,
        amount: -amount,
        kind: 'reserve',
        reservation_id: reservation.id,
        description: `reserve ${key}`,
        created_at: now,
      })
      .execute();
    return { reservation, created: true };
  });
}

export interface ReserveManyInput {
  accountId: number;
  channel: PricedChannel;
  kind?: string;
  /** In priority order; `amount` defaults to the account's price for channel/kind. */
  items: { key: string; amount?: number }[];
}

/**
 * Reserves many sends in one transaction and a handful of statements. Items are taken in the given
 * order, each reserved whole if what is left of the balance covers it, otherwise listed as insufficient
 * (a later cheaper item may still fit). Keys already reserved count as reserved and are not charged
 * again; a key repeated in `items` is considered once.
 */
export async function reserveMany(
  db: Kysely<DB>,
  clock: Clock,
  input: ReserveManyInput,
): Promise<{ reserved: string[]; insufficient: string[] }> {
  const { accountId } = input;
  const channel = requireChannel(input.channel);
  const kind = requireKind(input.kind ?? 'message');
  input.items.forEach((item, i) => {
    requireReservationKey(item.key, `items[${i}].key`);
    if (item.amount !== undefined) requireKopecks(item.amount, `items[${i}].amount`);
  });
  const items = dedupeByKey(input.items);
  if (items.length === 0) return { reserved: [], insufficient: [] };
  return inTransaction(db, async (trx) => {
    const price = items.some((i) => i.amount === undefined)
      ? await getPrice(trx, accountId, channel, kind)
      : 0;
    // Holding the account row (no key update: inserts elsewhere that reference accounts are not blocked)
    // orders this against every other reserve, so the balance read here stays true until commit.
    const account = await trx
      .selectFrom('accounts')
      .select(['balance', 'leased'])
      .where('id', '=', accountId)
      .forNoKeyUpdate()
      .executeTakeFirst();
    if (!account) throw notFound('Account', 'accountId');
    const keys = items.map((i) => i.key);
    const existing = await sql<{ key: string }>`
      select key from reservations where account_id = ${accountId} and key = any(${keys}::text[])`.execute(
      trx,
    );
    const already = new Set(existing.rows.map((r) => r.key));

    const reserved: string[] = [];
    const insufficient: string[] = [];
    const newKeys: string[] = [];
    const newAmounts: number[] = [];
    // Money under the engine's send leases is spent already (src/billing/leases.ts).
    let left = account.balance - account.leased;
    for (const item of items) {
      if (already.has(item.key)) {
        reserved.push(item.key);
        continue;
      }
      const amount = item.amount ?? price;
      if (amount > left) {
        insufficient.push(item.key);
        continue;
      }
      left -= amount;
      reserved.push(item.key);
      newKeys.push(item.key);
      newAmounts.push(amount);
    }
    if (newKeys.length === 0) return { reserved, insufficient };

    // One statement: the reservations, their ledger rows, and the debit of exactly their sum.
    const now = clock.now();
    const result = await sql<{ count: number }>`
      with input as (
        select t.key, t.amount, t.ord
        from unnest(${newKeys}::text[], ${newAmounts}::int8[]) with ordinality as t(key, amount, ord)
      ), inserted as (
        insert into reservations (account_id, key, channel, kind, amount, status, created_at)
        select ${accountId}, key, ${channel}, ${kind}, amount, 'reserved', ${now}::timestamptz
        from input order by ord
        on conflict (account_id, key) do nothing
        returning id, key, amount
      ), entries as (
        insert into ledger (account_id, amount, kind, reservation_id, description, created_at)
        select ${accountId}, -amount, 'reserve', id, 'reserve ' || key, ${now}::timestamptz
        from inserted order by id
        returning amount
      ), debited as (
        update accounts set balance = balance + (select coalesce(sum(amount), 0) from entries)
        where id = ${accountId}
      )
      select count(*)::int8 as count from entries`.execute(trx);
    // Cannot happen while every reservation insert holds the account row first; refuse rather than lie.
    if (result.rows[0]?.count !== newKeys.length)
      throw new Error(`reserveMany inserted ${result.rows[0]?.count} of ${newKeys.length} reservations`);
    return { reserved, insufficient };
  });
}

function dedupeByKey<T extends { key: string }>(items: T[]): T[] {
  const seen = new Set<string>();
  return items.filter((item) => !seen.has(item.key) && seen.add(item.key));
}

/**
 * Marks a reserved send as delivered: reserved → captured (no money moves). `captured` is false when
 * it already was; a refunded reservation cannot be captured (conflict), an unknown key is not_found.
 */
export async function capture(
  db: Kysely<DB>,
  clock: Clock,
  input: { accountId: number; key: string },
): Promise<{ captured: boolean }> {
  const row = await db
    .updateTable('reservations')
    .set({ status: 'captured', settled_at: clock.now() })
    .where('account_id', '=', input.accountId)
    .where('key', '=', input.key)
    .where('status', '=', 'reserved')
    .returning('id')
    .executeTakeFirst();
  if (row) return { captured: true };
  const existing = await findReservation(db, input.accountId, input.key);
  if (!existing) throw notFound('Reservation', 'key');
  if (existing.status === 'refunded')
    throw new AppError('conflict', `Reservation ${input.key} was refunded and cannot be captured`, {
      field: 'key',
    });
  return { captured: false };
}

/** Set-based capture of many keys; unknown and already settled keys are skipped. Returns how many moved. */
export async function captureMany(
  db: Kysely<DB>,
  clock: Clock,
  accountId: number,
  keys: string[],
): Promise<number> {
  if (keys.length === 0) return 0;
  // Rows are locked in id order so concurrent set-based calls with overlapping keys cannot deadlock.
  const result = await sql<{ count: number }>`
    with locked as (
      select id from reservations
      where account_id = ${accountId} and key = any(${keys}::text[]) and status = 'reserved'
      order by id
      for no key update
    ), captured as (
      update reservations r set status = 'captured', settled_at = ${clock.now()}::timestamptz
      from locked where r.id = locked.id
      returning r.id
    )
    select count(*)::int8 as count from captured`.execute(db);
  return result.rows[0]?.count ?? 0;
}

/**
 * Returns a reservation's money, exactly once: from reserved or captured to refunded, one refund row,
 * one credit. A key that is unknown or already refunded changes nothing (`refunded: false`).
 */
export async function refund(
  db: Kysely<DB>,
  clock: Clock,
  input: { accountId: number; key: string; reason?: string },
): Promise<{ refunded: boolean; amount: number }> {
  const moved = await refundKeys(db, clock, input.accountId, [input.key], input.reason);
  return { refunded: moved.count > 0, amount: moved.amount };
}

/**
 * Set-based refund (one statement however many keys): each key not yet refunded is refunded exactly
 * once, also when called concurrently with overlapping keys. Returns how many were refunded.
 */
export async function refundMany(
  db: Kysely<DB>,
  clock: Clock,
  accountId: number,
  keys: string[],
  options: { reason?: string } = {},
): Promise<number> {
  return (await refundKeys(db, clock, accountId, keys, options.reason)).count;
}

async function refundKeys(
  db: Kysely<DB>,
  clock: Clock,
  accountId: number,
  keys: string[],
  reason: string | undefined,
): Promise<{ count: number; amount: number }> {
  if (keys.length === 0) return { count: 0, amount: 0 };
  if (reason !== undefined && (typeof reason !== 'string' || reason.length > 500))
    throw invalid('reason', 'Reason must be at most 500 characters');
  const now = clock.now();
  // The row lock re-checks `status <> 'refunded'` after waiting for a concurrent refund of the same row,
  // so the loser skips it; locking in id order keeps overlapping concurrent calls from deadlocking.
  // A single statement is atomic on its own, so no transaction is opened for it.
  const result = await sql<{ count: number; amount: number }>`
    with locked as (
      select id from reservations
      where account_id = ${accountId} and key = any(${keys}::text[]) and status <> 'refunded'
      order by id
      for no key update
    ), refunded as (
      update reservations r set status = 'refunded', settled_at = ${now}::timestamptz
      from locked where r.id = locked.id
      returning r.id, r.key, r.amount
    ), entries as (
      insert into ledger (account_id, amount, kind, reservation_id, description, created_at)
      select ${accountId}, amount, 'refund', id, coalesce(${reason ?? null}::text, 'refund ' || key), ${now}::timestamptz
      from refunded order by id
      returning amount
    ), credited as (
      update accounts set balance = balance + (select sum(amount) from entries)
      where id = ${accountId} and exists (select 1 from entries)
    )
    select count(*)::int8 as count, coalesce(sum(amount), 0)::int8 as amount
    from entries`.execute(db);
  const row = result.rows[0];
  return { count: row?.count ?? 0, amount: row?.amount ?? 0 };
}

/** Newest first; pass the last entry's id as `before` for the next page. */
export async function listLedger(
  db: Kysely<DB>,
  accountId: number,
  options: { limit: number; before?: number },
): Promise<{ entries: LedgerEntry[]; nextBefore: number | null }> {
  const { limit, before } = options;
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > 1000)
    throw invalid('limit', 'limit must be an integer from 1 to 1000');
  if (before !== undefined && (!Number.isSafeInteger(before) || before < 1))
    throw invalid('before', 'before must be a positive integer ledger id');
  let query = db.selectFrom('ledger').selectAll().where('account_id', '=', accountId);
  if (before !== undefined) query = query.where('id', '<', before);
  const rows = await query
    .orderBy('id', 'desc')
    .limit(limit + 1)
    .execute();
  const entries = rows.slice(0, limit);
  return { entries, nextBefore: rows.length > limit ? (entries.at(-1)?.id ?? null) : null };
}

/** Compares the balance with the sum of the ledger, both read by one statement (one snapshot). */
export async function auditBalance(
  db: Kysely<DB>,
  accountId: number,
): Promise<{ balance: number; ledgerSum: number; ok: boolean }> {
  const result = await sql<{ balance: number; ledger_sum: number }>`
    select a.balance,
      (select coalesce(sum(l.amount), 0) from ledger l where l.account_id = a.id)::int8 as ledger_sum
    from accounts a where a.id = ${accountId}`.execute(db);
  const row = result.rows[0];
  if (!row) throw notFound('Account', 'accountId');
  return { balance: row.balance, ledgerSum: row.ledger_sum, ok: row.balance === row.ledger_sum };
}

/**
 * Moves money for a batch of engine messages as one ledger row covering `items` of them: a debit when
 * they are sent (`reserve`) or a credit when some turn out undelivered (`refund`). Each message row keeps
 * its own cost and refunded flag; the caller flips the flag with `where not refunded` in the same
 * transaction, so every message is refunded at most once. A debit the balance cannot cover fails on the
 * balance constraints. The engine's sends debit through their credit leases instead (src/billing/leases.ts).
 */
export async function moveBatch(
  db: Kysely<DB>,
  clock: Clock,
  input: {
    accountId: number;
    kind: 'reserve' | 'refund';
    amount: number;
    items: number;
    description: string;
  },
): Promise<void> {
  const amount = requireKopecks(input.amount, 'amount');
  if (amount === 0 || input.items <= 0) return;
  const signed = input.kind === 'reserve' ? -amount : amount;
  await sql`
    with entry as (
      insert into ledger (account_id, amount, kind, items, description, created_at)
      values (${input.accountId}, ${signed}, ${input.kind}, ${input.items}, ${input.description}, ${clock.now().toISOString()}::timestamptz)
      returning amount
    )
    update accounts set balance = balance + (select amount from entry) where id = ${input.accountId}`.execute(
    db,
  );
}
