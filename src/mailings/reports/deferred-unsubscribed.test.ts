import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends } from '../../../test/support/db.ts';
import type { Database } from '../../db/database.ts';
import { ManualClock } from '../../shared/clock.ts';
import { listDeferredMailings } from './deferred.ts';
import { addRecipient, failure, newAccount, newMailing } from './test-seed.ts';
import { type UnsubscribedEntry, unsubscribedReport } from './unsubscribed.ts';

describe.each(backends)('deferred mailings and the unsubscribed report on $name', (backend) => {
  let database: Database;
  const clock = new ManualClock('2026-03-01T10:00:00Z');
  beforeAll(async () => {
    database = await backend.open();
  });
  afterAll(async () => {
    await database?.close();
  });
  const db = () => database.db;

  it('lists mailings that start later, soonest first, with their recipient counts', async () => {
    const a = await newAccount(db());
    const b = await newAccount(db());
    const tomorrow = await newMailing(db(), a, {
      name: 'Завтра',
      status: 'scheduled',
      startAt: new Date('2026-03-02T07:00:00Z'),
      tags: ['promo'],
      variants: [
        { label: 'A', percent: 70 },
        { label: 'B', percent: 30 },
      ],
    });
    await addRecipient(db(), a, tomorrow, { phone: '+79990000001' });
    await addRecipient(db(), a, tomorrow, { phone: '+79990000002' });
    await addRecipient(db(), a, tomorrow, { phone: '+79990000003', variant: 1 });
    const moderated = await newMailing(db(), a, {
      name: 'На модерации',
      status: 'on_moderation',
      startAt: new Date('2026-03-01T12:00:00Z'),
      recipientsTotal: 50,
    });
    await newMailing(db(), a, { status: 'scheduled', startAt: new Date('2026-03-01T09:00:00Z') });
    await newMailing(db(), a, { status: 'running', startAt: new Date('2026-03-05T09:00:00Z') });
    await newMailing(db(), a, { status: 'draft', startAt: new Date('2026-03-05T09:00:00Z') });
    await newMailing(db(), b, { status: 'scheduled', startAt: new Date('2026-03-05T09:00:00Z') });

    const list = await listDeferredMailings(db(), clock, a);
    expect(list).toEqual([
      {
        id: moderated,
        name: 'На модерации',
        status: 'on_moderation',
        tags: [],
        startAt: new Date('2026-03-01T12:00:00Z'),
        createdAt: expect.any(Date),
        recipients: 50,
        byVariant: [{ variant: 0, label: 'A', percent: 100, recipients: 0 }],
      },
      {
        id: tomorrow,
        name: 'Завтра',
        status: 'scheduled',
        tags: ['promo'],
        startAt: new Date('2026-03-02T07:00:00Z'),
        createdAt: expect.any(Date),
        recipients: 3,
        byVariant: [
          { variant: 0, label: 'A', percent: 70, recipients: 2 },
          { variant: 1, label: 'B', percent: 30, recipients: 1 },
        ],
      },
    ]);
    expect(await listDeferredMailings(db(), new ManualClock('2026-03-03T00:00:00Z'), a)).toEqual([]);
    expect((await listDeferredMailings(db(), clock, b)).map((m) => m.status)).toEqual(['scheduled']);
  });

  it('lists unsubscribed numbers with the mailing that caused each, newest first', async () => {
    const a = await newAccount(db());
    const b = await newAccount(db());
    const mine = await newMailing(db(), a, { name: 'Моя рассылка' });
    const theirs = await newMailing(db(), b, { name: 'Чужая рассылка' });
    const t = new Date('2026-03-01T09:00:00Z');
    const later = new Date('2026-03-01T09:01:00Z');
    const earlier = new Date('2026-03-01T08:59:00Z');
    await db()
      .insertInto('stop_list')
      .values([
        { account_id: a, phone: '+79990000001', source: 'viber', mailing_id: mine, created_at: t },
        {
          account_id: a,
          phone: '+79990000002',
          source: 'voice',
          reason: 'IVR 9',
          mailing_id: mine,
          created_at: t,
        },
        { account_id: a, phone: '+79990000003', source: 'manual', mailing_id: null, created_at: later },
        // A mailing id that is not this account's: its name must not show.
        { account_id: a, phone: '+79990000004', source: 'sms', mailing_id: theirs, created_at: earlier },
        { account_id: b, phone: '+79990000001', source: 'viber', mailing_id: theirs, created_at: t },
      ])
      .execute();

    const all = await unsubscribedReport(db(), a, { limit: 100 });
    expect(all.next).toBeNull();
    expect(all.items).toEqual([
      { phone: '+79990000003', source: 'manual', reason: '', createdAt: later, mailing: null },
      {
        phone: '+79990000002',
        source: 'voice',
        reason: 'IVR 9',
        createdAt: t,
        mailing: { id: mine, name: 'Моя рассылка' },
      },
      {
        phone: '+79990000001',
        source: 'viber',
        reason: '',
        createdAt: t,
        mailing: { id: mine, name: 'Моя рассылка' },
      },
      {
        phone: '+79990000004',
        source: 'sms',
        reason: '',
        createdAt: earlier,
        mailing: { id: theirs, name: null },
      },
    ]);

    const paged: UnsubscribedEntry[] = [];
    let after: string | undefined;
    for (let i = 0; i < 10; i++) {
      const page = await unsubscribedReport(db(), a, { limit: 1, after });
      paged.push(...page.items);
      if (!page.next) break;
      after = page.next;
    }
    expect(paged).toEqual(all.items);

    expect((await unsubscribedReport(db(), a, { source: 'viber' })).items.map((e) => e.phone)).toEqual([
      '+79990000001',
    ]);
    expect((await unsubscribedReport(db(), a, { phone: '0004' })).items.map((e) => e.phone)).toEqual([
      '+79990000004',
    ]);
    expect((await unsubscribedReport(db(), a, { from: t, to: later })).items.map((e) => e.phone)).toEqual([
      '+79990000002',
      '+79990000001',
    ]);
    expect((await unsubscribedReport(db(), b)).items).toEqual([
      {
        phone: '+79990000001',
        source: 'viber',
        reason: '',
        createdAt: t,
        mailing: { id: theirs, name: 'Чужая рассылка' },
      },
    ]);

    for (const [options, field] of [
      [{ source: 'carrier-pigeon' }, 'source'],
      [{ after: 'nonsense' }, 'after'],
      [{ limit: 0 }, 'limit'],
      [{ from: later, to: t }, 'from'],
    ] as const) {
      const error = await failure(unsubscribedReport(db(), a, options as never));
      expect(error).toMatchObject({ code: 'validation_failed', field });
    }
  });
});
