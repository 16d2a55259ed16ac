import type { Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends } from '../../../test/support/db.ts';
import type { Database } from '../../db/database.ts';
import type { DB } from '../../db/schema.ts';
import { addMessage, addRecipient, failure, newAccount, newMailing } from './test-seed.ts';
import { type TimeSeriesOptions, timeSeries } from './time-series.ts';

const at = (iso: string) => new Date(iso);

/** Two mailings around midnight Moscow time (21:00 UTC); Moscow is UTC+3 all year. */
async function seed(db: Kysely<DB>, accountId: number) {
  const promo = await newMailing(db, accountId, {
    status: 'running',
    tags: ['promo'],
    variants: [
      { label: 'A', percent: 50 },
      { label: 'B', percent: 50 },
    ],
  });
  const news = await newMailing(db, accountId, { status: 'completed', tags: ['news'] });
  const r1 = await addRecipient(db, accountId, promo, {
    phone: '+79990000001',
    state: 'done',
    endReason: 'goal',
    finishedAt: at('2026-03-01T20:45:00Z'),
  });
  const r2 = await addRecipient(db, accountId, promo, {
    phone: '+79990000002',
    state: 'done',
    endReason: 'goal',
    finishedAt: at('2026-03-02T10:00:00Z'),
  });
  const r3 = await addRecipient(db, accountId, promo, {
    phone: '+79990000003',
    state: 'done',
    endReason: 'finished',
  });
  const r4 = await addRecipient(db, accountId, news, {
    phone: '+79990000004',
    state: 'done',
    endReason: 'finished',
  });
  const r5 = await addRecipient(db, accountId, promo, {
    phone: '+79990000005',
    variant: 1,
    state: 'waiting',
  });
  await addMessage(db, accountId, promo, {
    recipientId: r1,
    phone: '+79990000001',
    channel: 'viber',
    statuses: ['clicked', 'delivered'],
    createdAt: at('2026-03-01T20:29:00Z'),
    sentAt: at('2026-03-01T20:30:00Z'),
  });
  // Created before midnight, sent after it: counted when sent.
  await addMessage(db, accountId, promo, {
    recipientId: r2,
    phone: '+79990000002',
    channel: 'sms',
    statuses: ['delivered'],
    createdAt: at('2026-03-01T20:59:00Z'),
    sentAt: at('2026-03-01T21:10:00Z'),
  });
  await addMessage(db, accountId, promo, {
    recipientId: r3,
    phone: '+79990000003',
    channel: 'sms',
    state: 'failed',
    errorReason: 'insufficient_funds',
    createdAt: at('2026-03-01T21:20:00Z'),
  });
  await addMessage(db, accountId, news, {
    recipientId: r4,
    phone: '+79990000004',
    channel: 'viber',
    statuses: ['undelivered'],
    createdAt: at('2026-03-02T08:00:00Z'),
  });
  await addMessage(db, accountId, promo, {
    recipientId: r5,
    phone: '+79990000005',
    channel: 'viber',
    variant: 1,
    statuses: ['delivered'],
    createdAt: at('2026-03-02T09:00:00Z'),
  });
  return { promo, news };
}

const point = (
  t: string,
  values: Partial<{
    sent: number;
    delivered: number;
    clicked: number;
    undelivered: number;
    goal: number;
  }> = {},
) => ({
  t,
  sent: 0,
  delivered: 0,
  clicked: 0,
  undelivered: 0,
  goal: 0,
  ...values,
});

describe.each(backends)('timeSeries on $name', (backend) => {
  let database: Database;
  let accountId: number;
  let mailings: Awaited<ReturnType<typeof seed>>;
  beforeAll(async () => {
    database = await backend.open();
    accountId = await newAccount(database.db);
    mailings = await seed(database.db, accountId);
    // The same again in another account: it must never show up.
    await seed(database.db, await newAccount(database.db));
  });
  afterAll(async () => {
    await database?.close();
  });
  const series = (options: Partial<TimeSeriesOptions>) =>
    timeSeries(database.db, accountId, {
      bucket: 'day',
      from: '2026-02-28T21:00:00Z',
      to: '2026-03-02T21:00:00Z',
      ...options,
    });

  it('buckets by day in Moscow time by default', async () => {
    expect(await series({})).toEqual([
      point('2026-03-01T00:00:00.000+03:00', { sent: 1, delivered: 1, clicked: 1, goal: 1 }),
      point('2026-03-02T00:00:00.000+03:00', { sent: 3, delivered: 2, undelivered: 2, goal: 1 }),
    ]);
  });

  it('buckets in the given zone', async () => {
    expect(
      await series({ timezone: 'UTC', from: '2026-03-01T00:00:00Z', to: '2026-03-03T00:00:00Z' }),
    ).toEqual([
      point('2026-03-01T00:00:00.000Z', { sent: 2, delivered: 2, clicked: 1, undelivered: 1, goal: 1 }),
      point('2026-03-02T00:00:00.000Z', { sent: 2, delivered: 1, undelivered: 1, goal: 1 }),
    ]);
  });

  it('buckets by hour, with empty hours present', async () => {
    expect(
      await series({ bucket: 'hour', from: '2026-03-01T19:00:00Z', to: '2026-03-01T22:00:00Z' }),
    ).toEqual([
      point('2026-03-01T22:00:00.000+03:00'),
      point('2026-03-01T23:00:00.000+03:00', { sent: 1, delivered: 1, clicked: 1, goal: 1 }),
      point('2026-03-02T00:00:00.000+03:00', { sent: 1, delivered: 1, undelivered: 1 }),
    ]);
  });

  it('filters by channel, tag, mailing status, variant and mailing', async () => {
    expect(await series({ channel: 'sms' })).toEqual([
      point('2026-03-01T00:00:00.000+03:00'),
      point('2026-03-02T00:00:00.000+03:00', { sent: 1, delivered: 1, undelivered: 1, goal: 1 }),
    ]);
    const newsOnly = [
      point('2026-03-01T00:00:00.000+03:00'),
      point('2026-03-02T00:00:00.000+03:00', { sent: 1, undelivered: 1 }),
    ];
    expect(await series({ tag: 'news' })).toEqual(newsOnly);
    expect(await series({ status: 'completed' })).toEqual(newsOnly);
    expect(await series({ mailingId: mailings.news })).toEqual(newsOnly);
    expect(await series({ tag: 'nothing' })).toEqual([
      point('2026-03-01T00:00:00.000+03:00'),
      point('2026-03-02T00:00:00.000+03:00'),
    ]);
    expect(await series({ variant: 1, mailingId: mailings.promo })).toEqual([
      point('2026-03-01T00:00:00.000+03:00'),
      point('2026-03-02T00:00:00.000+03:00', { sent: 1, delivered: 1 }),
    ]);
  });

  it('rejects bad options naming the field', async () => {
    const cases: [Partial<TimeSeriesOptions>, string][] = [
      [{ bucket: 'week' as never }, 'bucket'],
      [{ from: '2026-03-05T00:00:00Z' }, 'from'],
      [{ from: 'soon' }, 'from'],
      [{ to: undefined as never }, 'to'],
      [{ timezone: 'Mars/Olympus' }, 'timezone'],
      [{ channel: 'pigeon' as never }, 'channel'],
      [{ status: 'lost' as never }, 'status'],
      [{ bucket: 'hour', from: '2020-01-01T00:00:00Z' }, 'to'],
    ];
    for (const [options, field] of cases) {
      const error = await failure(series(options));
      expect(error, JSON.stringify(options)).toMatchObject({ code: 'validation_failed', field });
    }
  });
});
