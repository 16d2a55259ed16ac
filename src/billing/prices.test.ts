import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends } from '../../test/support/db.ts';
import type { Database } from '../db/database.ts';
import type { PricedChannel } from '../db/schema.ts';
import { AppError } from '../shared/errors.ts';
import { getPrice, listPrices, setPrice } from './prices.ts';

describe.each(backends)('prices on $name', (backend) => {
  let database: Database;
  let accountSeq = 0;
  beforeAll(async () => {
    database = await backend.open();
  });
  afterAll(async () => {
    await database?.close();
  });

  const newAccount = async () => {
    const row = await database.db
      .insertInto('accounts')
      .values({ name: `prices ${++accountSeq}`, created_at: new Date('2026-01-01T00:00:00Z') })
      .returning('id')
      .executeTakeFirstOrThrow();
    return row.id;
  };

  const rejects = async (promise: Promise<unknown>, code: string, field: string) => {
    const error = await promise.then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(AppError);
    expect(error).toMatchObject({ code, field });
  };

  it('uses the seeded defaults: call password is 70 kopecks', async () => {
    const accountId = await newAccount();
    expect(await getPrice(database.db, accountId, 'call_password')).toBe(70);
    expect(await getPrice(database.db, accountId, 'sms', 'message')).toBe(250);
  });

  it('an account override wins over the default and only for that account', async () => {
    const a = await newAccount();
    const b = await newAccount();
    expect(
      await setPrice(database.db, { accountId: a, channel: 'sms', kind: 'message', price: 199 }),
    ).toEqual({
      accountId: a,
      channel: 'sms',
      kind: 'message',
      price: 199,
    });
    await setPrice(database.db, { accountId: a, channel: 'sms', kind: 'message', price: 180 });
    expect(await getPrice(database.db, a, 'sms')).toBe(180);
    expect(await getPrice(database.db, b, 'sms')).toBe(250);
    await setPrice(database.db, { accountId: a, channel: 'sms', kind: 'message', price: 0 });
    expect(await getPrice(database.db, a, 'sms')).toBe(0);
  });

  it('a missing price is not_found naming the channel', async () => {
    const accountId = await newAccount();
    await rejects(getPrice(database.db, accountId, 'viber', 'carousel'), 'not_found', 'channel');
    await setPrice(database.db, { accountId: null, channel: 'viber', kind: 'carousel', price: 300 });
    expect(await getPrice(database.db, accountId, 'viber', 'carousel')).toBe(300);
    // Upserting the default again replaces it rather than adding a second default.
    await setPrice(database.db, { accountId: null, channel: 'viber', kind: 'carousel', price: 310 });
    expect(await getPrice(database.db, accountId, 'viber', 'carousel')).toBe(310);
    const defaults = await database.db
      .selectFrom('price_list')
      .select('price')
      .where('account_id', 'is', null)
      .where('channel', '=', 'viber')
      .where('kind', '=', 'carousel')
      .execute();
    expect(defaults).toEqual([{ price: 310 }]);
  });

  it('validates price, channel, kind and account', async () => {
    const accountId = await newAccount();
    const base = { accountId, channel: 'sms' as PricedChannel, kind: 'message' };
    await rejects(setPrice(database.db, { ...base, price: -1 }), 'validation_failed', 'price');
    await rejects(setPrice(database.db, { ...base, price: 1.5 }), 'validation_failed', 'price');
    await rejects(setPrice(database.db, { ...base, price: Number.NaN }), 'validation_failed', 'price');
    await rejects(
      setPrice(database.db, { ...base, channel: 'telegram' as PricedChannel, price: 1 }),
      'validation_failed',
      'channel',
    );
    await rejects(setPrice(database.db, { ...base, kind: '', price: 1 }), 'validation_failed', 'kind');
    await rejects(
      setPrice(database.db, { ...base, accountId: 9_999_999, price: 1 }),
      'not_found',
      'accountId',
    );
    await rejects(getPrice(database.db, accountId, 'fax' as PricedChannel), 'validation_failed', 'channel');
    expect(await getPrice(database.db, accountId, 'sms')).toBe(250);
  });

  it('lists the effective price list: defaults overlaid with the account overrides', async () => {
    const accountId = await newAccount();
    await setPrice(database.db, { accountId, channel: 'whatsapp', kind: 'message', price: 350 });
    const list = await listPrices(database.db, accountId);
    expect(list.find((p) => p.channel === 'whatsapp' && p.kind === 'message')).toEqual({
      channel: 'whatsapp',
      kind: 'message',
      price: 350,
      source: 'account',
    });
    expect(list.find((p) => p.channel === 'call_password')).toEqual({
      channel: 'call_password',
      kind: 'message',
      price: 70,
      source: 'default',
    });
    expect(list.filter((p) => p.channel === 'whatsapp' && p.kind === 'message')).toHaveLength(1);
    const defaults = await listPrices(database.db, null);
    expect(defaults.every((p) => p.source === 'default')).toBe(true);
    expect(defaults.find((p) => p.channel === 'whatsapp' && p.kind === 'message')?.price).toBe(400);
  });
});
