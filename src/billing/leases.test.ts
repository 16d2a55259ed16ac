import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends } from '../../test/support/db.ts';
import type { Database } from '../db/database.ts';
import { ManualClock } from '../shared/clock.ts';
import { AppError } from '../shared/errors.ts';
import { holdLease, leaseCredit, reclaimDeadLeases, releaseLease, settleLease } from './leases.ts';
import { auditBalance, getBalance, reserve, reserveMany, topUp } from './ledger.ts';

describe.each(backends)('credit leases on $name', (backend) => {
  let database: Database;
  const clock = new ManualClock('2026-12-01T10:00:00Z');
  let seq = 0;
  beforeAll(async () => {
    database = await backend.open();
  });
  afterAll(async () => {
    await database?.close();
  });
  const db = () => database.db;

  const newAccount = async (balance: number) => {
    const row = await db()
      .insertInto('accounts')
      .values({ name: `leases ${++seq}`, created_at: clock.now() })
      .returning('id')
      .executeTakeFirstOrThrow();
    if (balance > 0) await topUp(db(), clock, { accountId: row.id, amount: balance });
    return row.id;
  };
  /** accounts.leased, and the sum of the account's lease rows (they must agree). */
  const leased = async (accountId: number) => {
    const r = await sql<{ leased: number; rows: number }>`
      select a.leased, (select coalesce(sum(amount), 0) from engine_leases l where l.account_id = a.id)::int8 as rows
      from accounts a where a.id = ${accountId}`.execute(db());
    const row = r.rows[0]!;
    expect(Number(row.rows)).toBe(Number(row.leased));
    return Number(row.leased);
  };

  it('grants at most the free money, and what is leased cannot be spent by anything else', async () => {
    const account = await newAccount(1000);
    const a = await leaseCredit(db(), account, 600);
    expect(a).toMatchObject({ accountId: account, amount: 600 });
    const b = await leaseCredit(db(), account, 600);
    expect(b).toMatchObject({ amount: 400 }); // only what is left
    expect(await leaseCredit(db(), account, 100)).toBeNull(); // nothing free
    expect(await leased(account)).toBe(1000);
    expect(await getBalance(db(), account)).toBe(1000); // nothing debited yet

    // A reservation of the OTP API and a batch of reservations see no free money.
    const refused = await reserve(db(), clock, { accountId: account, key: 'otp:1', channel: 'sms' }).catch(
      (e: unknown) => e,
    );
    expect(refused).toBeInstanceOf(AppError);
    expect((refused as AppError).code).toBe('insufficient_funds');
    const many = await reserveMany(db(), clock, {
      accountId: account,
      channel: 'sms',
      items: [{ key: 'm:1', amount: 1 }],
    });
    expect(many).toEqual({ reserved: [], insufficient: ['m:1'] });
    // Nor can a direct debit take it: the balance may not fall below what is leased.
    await expect(
      sql`update accounts set balance = balance - 1 where id = ${account}`.execute(db()),
    ).rejects.toThrow(/accounts_leased_covered/);

    await releaseLease(db(), a!);
    await releaseLease(db(), b!);
    expect(await leased(account)).toBe(0);
    expect((await auditBalance(db(), account)).ok).toBe(true);
  });

  it('settles a batch: the cost spent debited with one ledger row, the rest of the lease freed', async () => {
    const account = await newAccount(1000);
    const lease = (await leaseCredit(db(), account, 750))!;
    await db()
      .transaction()
      .execute(async (trx) => {
        await holdLease(trx, lease);
        await settleLease(trx, clock, lease, { amount: 500, items: 2, description: '2 sent' });
      });
    expect(await leased(account)).toBe(0);
    expect(await getBalance(db(), account)).toBe(500);
    const ledger = await db()
      .selectFrom('ledger')
      .select(['kind', 'amount', 'items'])
      .where('account_id', '=', account)
      .orderBy('id')
      .execute();
    expect(ledger).toEqual([
      { kind: 'topup', amount: 1000, items: null },
      { kind: 'reserve', amount: -500, items: 2 },
    ]);
    expect((await auditBalance(db(), account)).ok).toBe(true);

    // Spending nothing writes no ledger row; spending more than the lease is refused and changes nothing.
    const idle = (await leaseCredit(db(), account, 250))!;
    await settleLease(db(), clock, idle, { amount: 0, items: 0, description: 'none sent' });
    const over = (await leaseCredit(db(), account, 250))!;
    await expect(settleLease(db(), clock, over, { amount: 500, items: 2, description: 'x' })).rejects.toThrow(
      /spent 500 of 250/,
    );
    await releaseLease(db(), over);
    expect(await getBalance(db(), account)).toBe(500);
    expect(await leased(account)).toBe(0);
    expect(
      await db().selectFrom('ledger').select('id').where('account_id', '=', account).execute(),
    ).toHaveLength(2);
  });

  it('a settlement rolled back with its batch leaves the lease to be released, never debited', async () => {
    const account = await newAccount(1000);
    const lease = (await leaseCredit(db(), account, 500))!;
    await expect(
      db()
        .transaction()
        .execute(async (trx) => {
          await holdLease(trx, lease);
          await settleLease(trx, clock, lease, { amount: 500, items: 2, description: 'sent' });
          throw new Error('the batch failed after settling');
        }),
    ).rejects.toThrow(/failed after settling/);
    expect(await leased(account)).toBe(500);
    expect(await getBalance(db(), account)).toBe(1000);
    await releaseLease(db(), lease);
    expect(await leased(account)).toBe(0);
    expect((await auditBalance(db(), account)).ok).toBe(true);
  });

  it('gives back the leases of dead workers after the grace period, and only those', async () => {
    const account = await newAccount(1000);
    const dead = (await leaseCredit(db(), account, 300))!;
    const young = (await leaseCredit(db(), account, 200))!;
    await sql`update engine_leases set created_at = now() - interval '10 minutes' where id = ${dead.id}`.execute(
      db(),
    );
    expect(await reclaimDeadLeases(db(), 300)).toBe(1);
    expect(await leased(account)).toBe(200);
    await releaseLease(db(), young);
    expect(await leased(account)).toBe(0);
    expect(await getBalance(db(), account)).toBe(1000);
  });

  it.runIf(backend.name === 'postgres')(
    'never takes back the lease of a live batch, however old',
    async () => {
      const account = await newAccount(1000);
      const lease = (await leaseCredit(db(), account, 400))!;
      await sql`update engine_leases set created_at = now() - interval '1 hour' where id = ${lease.id}`.execute(
        db(),
      );
      let reclaimedMeanwhile = -1;
      await db()
        .transaction()
        .execute(async (trx) => {
          await holdLease(trx, lease);
          reclaimedMeanwhile = await reclaimDeadLeases(db(), 300); // another connection
          await settleLease(trx, clock, lease, { amount: 400, items: 1, description: 'sent' });
        });
      expect(reclaimedMeanwhile).toBe(0);
      expect(await leased(account)).toBe(0);
      expect(await getBalance(db(), account)).toBe(600);
      expect((await auditBalance(db(), account)).ok).toBe(true);
    },
  );

  it('names the account when it does not exist', async () => {
    await expect(leaseCredit(db(), 987654321, 100)).rejects.toMatchObject({ code: 'not_found' });
    await expect(leaseCredit(db(), 987654321, 0)).rejects.toMatchObject({ code: 'not_found' });
  });
});
