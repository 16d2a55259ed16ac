import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends } from '../../test/support/db.ts';
import type { Database } from '../db/database.ts';
import type { PricedChannel } from '../db/schema.ts';
import { ManualClock } from '../shared/clock.ts';
import { AppError } from '../shared/errors.ts';
import {
  auditBalance,
  capture,
  captureMany,
  findReservation,
  getBalance,
  listLedger,
  refund,
  refundMany,
  reserve,
  reserveMany,
  topUp,
} from './ledger.ts';
import { setPrice } from './prices.ts';

describe.each(backends)('ledger on $name', (backend) => {
  let database: Database;
  const clock = new ManualClock('2026-03-01T10:00:00Z');
  let accountSeq = 0;
  beforeAll(async () => {
    database = await backend.open();
  });
  afterAll(async () => {
    await database?.close();
  });

  const db = () => database.db;

  const newAccount = async (balance = 0) => {
    const row = await db()
      .insertInto('accounts')
      .values({ name: `ledger ${++accountSeq}`, created_at: clock.now() })
      .returning('id')
      .executeTakeFirstOrThrow();
    if (balance > 0)
      await topUp(db(), clock, { accountId: row.id, amount: balance, description: 'test funds' });
    return row.id;
  };

  const expectAudited = async (accountId: number, balance: number) => {
    const audit = await auditBalance(db(), accountId);
    expect(audit).toEqual({ balance, ledgerSum: balance, ok: true });
  };

  const failure = async (promise: Promise<unknown>) =>
    promise.then(
      () => {
        throw new Error('expected a failure');
      },
      (e: unknown) => e,
    );

  const counts = async (accountId: number) => {
    const ledger = await db()
      .selectFrom('ledger')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('account_id', '=', accountId)
      .executeTakeFirstOrThrow();
    const reservations = await db()
      .selectFrom('reservations')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('account_id', '=', accountId)
      .executeTakeFirstOrThrow();
    return { ledger: Number(ledger.n), reservations: Number(reservations.n) };
  };

  it('top-up credits the balance with one ledger row and validates the amount', async () => {
    const accountId = await newAccount();
    const admin = await db()
      .insertInto('users')
      .values({
        account_id: null,
        email: `admin${accountSeq}@example.com`,
        password_hash: 'x',
        role: 'admin',
        is_platform_admin: true,
        created_at: clock.now(),
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    const result = await topUp(db(), clock, {
      accountId,
      amount: 50_000,
      description: 'invoice 17',
      createdBy: admin.id,
    });
    expect(result.balance).toBe(50_000);
    expect(result.entry).toMatchObject({
      amount: 50_000,
      kind: 'topup',
      description: 'invoice 17',
      created_by: admin.id,
    });
    expect(await getBalance(db(), accountId)).toBe(50_000);
    for (const amount of [0, -5, 1.5, Number.POSITIVE_INFINITY]) {
      expect(await failure(topUp(db(), clock, { accountId, amount, description: '' }))).toMatchObject({
        code: 'validation_failed',
        field: 'amount',
      });
    }
    expect(await failure(topUp(db(), clock, { accountId: 9_999_999, amount: 1 }))).toMatchObject({
      code: 'not_found',
      field: 'accountId',
    });
    expect(await failure(topUp(db(), clock, { accountId, amount: 1, createdBy: 9_999_999 }))).toMatchObject({
      code: 'not_found',
      field: 'createdBy',
    });
    await expectAudited(accountId, 50_000);
  });

  it('reserve at the price, capture on delivery, refund an undelivered send', async () => {
    const accountId = await newAccount(1_000);
    const first = await reserve(db(), clock, { accountId, key: 'message:1', channel: 'call_password' });
    expect(first.created).toBe(true);
    expect(first.reservation).toMatchObject({
      amount: 70,
      status: 'reserved',
      channel: 'call_password',
      kind: 'message',
    });
    expect(await getBalance(db(), accountId)).toBe(930);

    expect(await capture(db(), clock, { accountId, key: 'message:1' })).toEqual({ captured: true });
    expect(await capture(db(), clock, { accountId, key: 'message:1' })).toEqual({ captured: false });
    expect((await findReservation(db(), accountId, 'message:1'))?.status).toBe('captured');
    expect(await getBalance(db(), accountId)).toBe(930);

    await reserve(db(), clock, { accountId, key: 'message:2', channel: 'sms', amount: 500 });
    expect(await getBalance(db(), accountId)).toBe(430);
    expect(await refund(db(), clock, { accountId, key: 'message:2', reason: 'undelivered' })).toEqual({
      refunded: true,
      amount: 500,
    });
    expect(await getBalance(db(), accountId)).toBe(930);
    const page = await listLedger(db(), accountId, { limit: 1 });
    expect(page.entries[0]).toMatchObject({ kind: 'refund', amount: 500, description: 'undelivered' });

    // A refunded reservation is never captured; an unknown key is not_found.
    expect(await failure(capture(db(), clock, { accountId, key: 'message:2' }))).toMatchObject({
      code: 'conflict',
      field: 'key',
    });
    expect(await failure(capture(db(), clock, { accountId, key: 'message:404' }))).toMatchObject({
      code: 'not_found',
      field: 'key',
    });
    await expectAudited(accountId, 930);
  });

  it('refunds exactly once, from reserved or captured, and ignores unknown keys', async () => {
    const accountId = await newAccount(1_000);
    await reserve(db(), clock, { accountId, key: 'a', channel: 'sms', amount: 100 });
    await reserve(db(), clock, { accountId, key: 'b', channel: 'sms', amount: 200 });
    await capture(db(), clock, { accountId, key: 'b' });
    expect(await getBalance(db(), accountId)).toBe(700);

    expect((await refund(db(), clock, { accountId, key: 'a' })).refunded).toBe(true);
    expect((await refund(db(), clock, { accountId, key: 'a' })).refunded).toBe(false);
    expect((await refund(db(), clock, { accountId, key: 'b' })).refunded).toBe(true);
    expect(await refund(db(), clock, { accountId, key: 'b' })).toEqual({ refunded: false, amount: 0 });
    expect((await refund(db(), clock, { accountId, key: 'nope' })).refunded).toBe(false);
    expect(await getBalance(db(), accountId)).toBe(1_000);
    expect(await counts(accountId)).toEqual({ ledger: 5, reservations: 2 });
    await expectAudited(accountId, 1_000);
  });

  it('two concurrent refunds of one key refund once', async () => {
    const accountId = await newAccount(5_000);
    for (let i = 0; i < 20; i++) await reserve(db(), clock, { accountId, key: `m${i}`, channel: 'viber' });
    expect(await getBalance(db(), accountId)).toBe(5_000 - 20 * 150);
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => [
        refund(db(), clock, { accountId, key: `m${i}` }),
        refund(db(), clock, { accountId, key: `m${i}` }),
      ]).flat(),
    );
    expect(results.filter((r) => r.refunded)).toHaveLength(20);
    expect(await getBalance(db(), accountId)).toBe(5_000);
    await expectAudited(accountId, 5_000);
  });

  it('reserve is idempotent by key: the same key never charges twice', async () => {
    const accountId = await newAccount(1_000);
    const first = await reserve(db(), clock, { accountId, key: 'message:7', channel: 'sms', amount: 300 });
    const again = await reserve(db(), clock, { accountId, key: 'message:7', channel: 'sms', amount: 300 });
    expect(again.created).toBe(false);
    expect(again.reservation.id).toBe(first.reservation.id);
    expect(await getBalance(db(), accountId)).toBe(700);
    // Still the same reservation after it was refunded: a retried send is not charged again.
    await refund(db(), clock, { accountId, key: 'message:7' });
    const afterRefund = await reserve(db(), clock, {
      accountId,
      key: 'message:7',
      channel: 'sms',
      amount: 300,
    });
    expect(afterRefund).toMatchObject({
      created: false,
      reservation: { id: first.reservation.id, status: 'refunded' },
    });
    expect(await getBalance(db(), accountId)).toBe(1_000);

    // Concurrent reserves of one key: one charge, all see the same reservation.
    const racers = await Promise.all(
      Array.from({ length: 10 }, () =>
        reserve(db(), clock, { accountId, key: 'message:8', channel: 'sms', amount: 400 }),
      ),
    );
    expect(racers.filter((r) => r.created)).toHaveLength(1);
    expect(new Set(racers.map((r) => r.reservation.id)).size).toBe(1);
    expect(await getBalance(db(), accountId)).toBe(600);
    await expectAudited(accountId, 600);
  });

  it('insufficient funds is an error naming the balance and writes nothing', async () => {
    const accountId = await newAccount(100);
    const before = await counts(accountId);
    const error = await failure(reserve(db(), clock, { accountId, key: 'big', channel: 'sms', amount: 101 }));
    expect(error).toBeInstanceOf(AppError);
    expect(error).toMatchObject({ code: 'insufficient_funds', field: 'balance' });
    expect(await counts(accountId)).toEqual(before);
    expect(await findReservation(db(), accountId, 'big')).toBeUndefined();
    expect(await getBalance(db(), accountId)).toBe(100);
    // Exactly the balance is enough.
    await reserve(db(), clock, { accountId, key: 'exact', channel: 'sms', amount: 100 });
    expect(await getBalance(db(), accountId)).toBe(0);
    await expectAudited(accountId, 0);

    expect(
      await failure(reserve(db(), clock, { accountId: 9_999_999, key: 'x', channel: 'sms' })),
    ).toMatchObject({
      code: 'not_found',
      field: 'accountId',
    });
    for (const [input, field] of [
      [{ key: '', channel: 'sms' }, 'key'],
      [{ key: 'k', channel: 'pigeon' }, 'channel'],
      [{ key: 'k', channel: 'sms', amount: -1 }, 'amount'],
      [{ key: 'k', channel: 'sms', amount: 0.5 }, 'amount'],
    ] as const) {
      const bad = { accountId, ...input, channel: input.channel as PricedChannel };
      expect(await failure(reserve(db(), clock, bad))).toMatchObject({ code: 'validation_failed', field });
    }
    expect(
      await failure(reserve(db(), clock, { accountId, key: 'k', channel: 'sms', kind: 'nope' })),
    ).toMatchObject({
      code: 'not_found',
      field: 'channel',
    });
  });

  it('uses the account price override and composes into a caller transaction', async () => {
    const accountId = await newAccount(1_000);
    await setPrice(db(), { accountId, channel: 'call_password', kind: 'message', price: 55 });
    await reserve(db(), clock, { accountId, key: 'cp', channel: 'call_password' });
    expect(await getBalance(db(), accountId)).toBe(945);

    // Rolled back with the caller's transaction.
    await expect(
      db()
        .transaction()
        .execute(async (trx) => {
          await reserve(trx, clock, { accountId, key: 'rolled-back', channel: 'sms', amount: 100 });
          await refund(trx, clock, { accountId, key: 'cp' });
          expect(await getBalance(trx, accountId)).toBe(900);
          throw new Error('abort');
        }),
    ).rejects.toThrow('abort');
    expect(await findReservation(db(), accountId, 'rolled-back')).toBeUndefined();
    expect(await getBalance(db(), accountId)).toBe(945);

    // insufficient_funds inside a caller's transaction leaves it usable and wrote nothing.
    await db()
      .transaction()
      .execute(async (trx) => {
        const error = await failure(
          reserve(trx, clock, { accountId, key: 'too-big', channel: 'sms', amount: 5_000 }),
        );
        expect(error).toMatchObject({ code: 'insufficient_funds' });
        await reserve(trx, clock, { accountId, key: 'fits', channel: 'sms', amount: 45 });
      });
    expect(await findReservation(db(), accountId, 'too-big')).toBeUndefined();
    expect(await getBalance(db(), accountId)).toBe(900);
    await expectAudited(accountId, 900);
  });

  it('60 parallel reserves of 100 against 1,000 never overdraw: 10 succeed, 50 are insufficient', async () => {
    const accountId = await newAccount(1_000);
    const outcomes = await Promise.allSettled(
      Array.from({ length: 60 }, (_, i) =>
        reserve(db(), clock, { accountId, key: `race:${i}`, channel: 'sms', amount: 100 }),
      ),
    );
    const ok = outcomes.filter((o) => o.status === 'fulfilled');
    const failed = outcomes.filter((o) => o.status === 'rejected');
    expect(ok).toHaveLength(10);
    expect(failed).toHaveLength(50);
    for (const f of failed) expect(f.reason).toMatchObject({ code: 'insufficient_funds', field: 'balance' });
    expect(await getBalance(db(), accountId)).toBe(0);
    expect(await counts(accountId)).toEqual({ ledger: 11, reservations: 10 });
    await expectAudited(accountId, 0);
  });

  it('reserveMany reserves in order while money lasts, per item, idempotently', async () => {
    const accountId = await newAccount(1_000);
    await reserve(db(), clock, { accountId, key: 'k0', channel: 'sms', amount: 100 });
    const result = await reserveMany(db(), clock, {
      accountId,
      channel: 'sms',
      items: [
        { key: 'k0', amount: 100 }, // already reserved: counted, not charged
        { key: 'k1', amount: 400 },
        { key: 'k2', amount: 400 },
        { key: 'k3', amount: 400 }, // 100 left: does not fit
        { key: 'k4', amount: 60 }, // a cheaper later item still fits
        { key: 'k1', amount: 400 }, // repeated key: considered once
        { key: 'k5' }, // the sms price, 250: does not fit
        { key: 'k6', amount: 40 },
        { key: 'k7', amount: 0 },
      ],
    });
    expect(result).toEqual({ reserved: ['k0', 'k1', 'k2', 'k4', 'k6', 'k7'], insufficient: ['k3', 'k5'] });
    expect(await getBalance(db(), accountId)).toBe(0);
    expect((await findReservation(db(), accountId, 'k4'))?.amount).toBe(60);
    expect(await reserveMany(db(), clock, { accountId, channel: 'sms', items: [] })).toEqual({
      reserved: [],
      insufficient: [],
    });
    // Again: everything already reserved stays reserved and costs nothing.
    expect(
      await reserveMany(db(), clock, {
        accountId,
        channel: 'sms',
        items: [{ key: 'k1' }, { key: 'k3', amount: 1 }],
      }),
    ).toEqual({ reserved: ['k1'], insufficient: ['k3'] });
    expect(await counts(accountId)).toEqual({ ledger: 7, reservations: 6 });
    await expectAudited(accountId, 0);
    expect(
      await failure(
        reserveMany(db(), clock, { accountId, channel: 'sms', items: [{ key: 'x', amount: -1 }] }),
      ),
    ).toMatchObject({ code: 'validation_failed', field: 'items[0].amount' });
    expect(
      await failure(
        reserveMany(db(), clock, { accountId: 9_999_999, channel: 'sms', items: [{ key: 'x' }] }),
      ),
    ).toMatchObject({ code: 'not_found', field: 'accountId' });
  });

  it('reserveMany racing with itself and with reserve never overdraws', async () => {
    const accountId = await newAccount(1_000);
    const many = Array.from({ length: 6 }, (_, batch) =>
      reserveMany(db(), clock, {
        accountId,
        channel: 'sms',
        items: Array.from({ length: 10 }, (_, i) => ({ key: `batch${batch}:${i}`, amount: 100 })),
      }),
    );
    const single = Array.from({ length: 20 }, (_, i) =>
      reserve(db(), clock, { accountId, key: `single:${i}`, channel: 'sms', amount: 100 }).then(
        () => true,
        () => false,
      ),
    );
    const [batches, singles] = await Promise.all([Promise.all(many), Promise.all(single)]);
    const reserved = batches.reduce((n, b) => n + b.reserved.length, 0) + singles.filter(Boolean).length;
    const insufficient =
      batches.reduce((n, b) => n + b.insufficient.length, 0) + singles.filter((s) => !s).length;
    expect(reserved).toBe(10);
    expect(insufficient).toBe(70);
    expect(await getBalance(db(), accountId)).toBe(0);
    expect(await counts(accountId)).toEqual({ ledger: 11, reservations: 10 });
    await expectAudited(accountId, 0);

    // Overlapping keys: every call agrees on the same ten, each charged once.
    const other = await newAccount(1_000);
    const items = Array.from({ length: 20 }, (_, i) => ({ key: `shared:${i}`, amount: 100 }));
    const overlapping = await Promise.all(
      Array.from({ length: 8 }, () => reserveMany(db(), clock, { accountId: other, channel: 'sms', items })),
    );
    const firstTen = items.slice(0, 10).map((i) => i.key);
    for (const r of overlapping)
      expect(r).toEqual({ reserved: firstTen, insufficient: items.slice(10).map((i) => i.key) });
    expect(await counts(other)).toEqual({ ledger: 11, reservations: 10 });
    await expectAudited(other, 0);
  });

  it('refundMany refunds a set once, also when calls overlap concurrently', async () => {
    const accountId = await newAccount(10_000);
    const keys = Array.from({ length: 50 }, (_, i) => `msg:${i}`);
    const reserved = await reserveMany(db(), clock, {
      accountId,
      channel: 'sms',
      items: keys.map((key) => ({ key, amount: 100 })),
    });
    expect(reserved.reserved).toHaveLength(50);
    expect(await getBalance(db(), accountId)).toBe(5_000);
    expect(await captureMany(db(), clock, accountId, keys.slice(0, 10))).toBe(10);
    expect(await captureMany(db(), clock, accountId, keys.slice(0, 10))).toBe(0);

    // Overlapping windows in both directions, all at once; the 10 captured ones are refundable too.
    const windows = Array.from({ length: 12 }, (_, i) => {
      const slice = keys.slice(i * 3, i * 3 + 20);
      return i % 2 ? [...slice].reverse() : [...slice, 'unknown'];
    });
    const refunded = await Promise.all(windows.map((w) => refundMany(db(), clock, accountId, w)));
    const touched = new Set(windows.flat().filter((k) => k !== 'unknown'));
    expect(refunded.reduce((a, b) => a + b, 0)).toBe(touched.size);
    expect(await getBalance(db(), accountId)).toBe(5_000 + touched.size * 100);
    expect(await refundMany(db(), clock, accountId, keys)).toBe(50 - touched.size);
    expect(await refundMany(db(), clock, accountId, keys)).toBe(0);
    expect(await refundMany(db(), clock, accountId, [])).toBe(0);
    expect(await getBalance(db(), accountId)).toBe(10_000);
    const refunds = await db()
      .selectFrom('ledger')
      .select('reservation_id')
      .where('account_id', '=', accountId)
      .where('kind', '=', 'refund')
      .execute();
    expect(new Set(refunds.map((r) => r.reservation_id)).size).toBe(50);
    expect(refunds).toHaveLength(50);
    await expectAudited(accountId, 10_000);
  });

  it('lists the ledger newest first with keyset paging', async () => {
    const accountId = await newAccount();
    for (let i = 1; i <= 5; i++) await topUp(db(), clock, { accountId, amount: i, description: `t${i}` });
    const first = await listLedger(db(), accountId, { limit: 2 });
    expect(first.entries.map((e) => e.description)).toEqual(['t5', 't4']);
    expect(first.nextBefore).toBe(first.entries[1]?.id);
    const second = await listLedger(db(), accountId, { limit: 2, before: first.nextBefore! });
    expect(second.entries.map((e) => e.description)).toEqual(['t3', 't2']);
    const last = await listLedger(db(), accountId, { limit: 2, before: second.nextBefore! });
    expect(last).toMatchObject({ nextBefore: null });
    expect(last.entries.map((e) => e.description)).toEqual(['t1']);
    expect(await failure(listLedger(db(), accountId, { limit: 0 }))).toMatchObject({ field: 'limit' });
    // Another account's ledger is not visible.
    expect((await listLedger(db(), await newAccount(), { limit: 10 })).entries).toEqual([]);
    await expectAudited(accountId, 15);
  });

  it('the database refuses an overdraft and a second refund row even from hand-written SQL', async () => {
    const accountId = await newAccount(100);
    await expect(
      db().updateTable('accounts').set({ balance: -1 }).where('id', '=', accountId).execute(),
    ).rejects.toThrow();
    const { reservation } = await reserve(db(), clock, {
      accountId,
      key: 'once',
      channel: 'sms',
      amount: 10,
    });
    await refund(db(), clock, { accountId, key: 'once' });
    await expect(
      db()
        .insertInto('ledger')
        .values({
          account_id: accountId,
          amount: 10,
          kind: 'refund',
          reservation_id: reservation.id,
          created_at: clock.now(),
        })
        .execute(),
    ).rejects.toThrow();
    await expectAudited(accountId, 100);
  });
});
