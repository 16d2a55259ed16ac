import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends } from '../../../test/support/db.ts';
import type { Database } from '../../db/database.ts';
import { listMessages, type MessagePageOptions, type MessageRow } from './messages.ts';
import { listRecipients, type RecipientPageOptions, type RecipientRow } from './recipients.ts';
import { failure, newAccount, seedSampleMailing } from './test-seed.ts';

describe.each(backends)('message and recipient lists on $name', (backend) => {
  let database: Database;
  let accountId: number;
  let otherAccountId: number;
  let sample: Awaited<ReturnType<typeof seedSampleMailing>>;
  let other: Awaited<ReturnType<typeof seedSampleMailing>>;
  beforeAll(async () => {
    database = await backend.open();
    accountId = await newAccount(database.db);
    otherAccountId = await newAccount(database.db);
    sample = await seedSampleMailing(database.db, accountId);
    other = await seedSampleMailing(database.db, otherAccountId, 'Чужая рассылка');
  });
  afterAll(async () => {
    await database?.close();
  });
  const db = () => database.db;

  /** Every page, following `next`. */
  const allMessages = async (options: MessagePageOptions = {}, account = accountId) => {
    const rows: MessageRow[] = [];
    let after: string | undefined;
    for (let i = 0; i < 100; i++) {
      const page = await listMessages(db(), account, { ...options, after });
      rows.push(...page.items);
      if (!page.next) return rows;
      after = page.next;
    }
    throw new Error('paging did not end');
  };
  const ids = (rows: { id: number }[]) => rows.map((r) => r.id);
  const m = () => sample.messages;

  it('pages through every message newest first, and oldest first', async () => {
    const all = Object.values(m());
    const newest = await allMessages({ limit: 3 });
    expect(ids(newest)).toEqual([...all].sort((a, b) => b - a));
    const oldest = await allMessages({ limit: 4, order: 'oldest' });
    expect(ids(oldest)).toEqual([...all].sort((a, b) => a - b));
    const first = await listMessages(db(), accountId, { limit: 20 });
    expect(first.next).toBeNull();
  });

  it('returns one row per message with its shown status, channel, block, cost and phone', async () => {
    const rows = await allMessages();
    const byId = new Map(rows.map((r) => [r.id, r]));
    expect(byId.get(m().m1)).toMatchObject({
      mailingId: sample.mailingId,
      mailingName: 'Весенняя акция',
      status: 'clicked',
      channel: 'viber',
      blockId: 'b1',
      variant: 0,
      variantLabel: 'A',
      cost: 150,
      refunded: false,
      phone: '+79990000001',
      linkId: 'l_click',
      createdAt: sample.at(1),
      sentAt: sample.at(1),
    });
    expect(byId.get(m().m4)).toMatchObject({
      status: 'error',
      errorReason: 'stop_listed',
      sentAt: null,
      state: 'failed',
    });
    expect(byId.get(m().m5)?.status).toBe('queued');
    expect(byId.get(m().m6)?.status).toBe('undelivered');
    expect(byId.get(m().m8)).toMatchObject({ status: 'delivered', replies: ['Да, интересно'] });
    expect(byId.get(m().m10)?.status).toBe('delivered');
    expect(byId.get(m().m11)).toMatchObject({ status: 'spam', variantLabel: 'B' });
  });

  it('filters by status, channel, variant, block, phone and time, combined', async () => {
    const sorted = (list: number[]) => [...list].sort((a, b) => b - a);
    expect(ids(await allMessages({ status: 'clicked' }))).toEqual(sorted([m().m1, m().m9]));
    expect(ids(await allMessages({ status: 'undelivered' }))).toEqual(sorted([m().m2, m().m6]));
    expect(ids(await allMessages({ status: 'error' }))).toEqual(sorted([m().m4, m().m7]));
    expect(ids(await allMessages({ channel: 'sms' }))).toEqual(sorted([m().m3, m().m7, m().m9, m().m10]));
    expect(ids(await allMessages({ variant: 1 }))).toEqual(sorted([m().m9, m().m10, m().m11]));
    expect(ids(await allMessages({ blockId: 'b2' }))).toEqual(sorted([m().m3, m().m7, m().m11]));
    expect(ids(await allMessages({ blockId: 'b2', channel: 'sms', variant: 0 }))).toEqual(
      sorted([m().m3, m().m7]),
    );
    expect(ids(await allMessages({ phone: '+7 999 000-00-02' }))).toEqual(sorted([m().m2, m().m3]));
    expect(ids(await allMessages({ phone: '0006' }))).toEqual(sorted([m().m6, m().m7]));
    expect(ids(await allMessages({ from: sample.at(3), to: sample.at(5) }))).toEqual(
      sorted([m().m3, m().m4]),
    );
    expect(ids(await allMessages({ from: sample.at(3).toISOString(), status: 'delivered' }))).toEqual(
      sorted([m().m3, m().m8, m().m10]),
    );
    expect(ids(await allMessages({ mailingId: sample.mailingId, status: 'sent' }))).toEqual([]);
  });

  it("never lists another account's messages", async () => {
    const mine = await allMessages();
    expect(mine.every((r) => r.mailingId === sample.mailingId)).toBe(true);
    expect(await allMessages({ mailingId: other.mailingId })).toEqual([]);
    const theirs = await allMessages({}, otherAccountId);
    expect(ids(theirs).sort()).toEqual(Object.values(other.messages).sort());
  });

  it('rejects bad filters naming the field', async () => {
    const cases: [MessagePageOptions, string][] = [
      [{ status: 'bogus' as never }, 'status'],
      [{ channel: 'fax' as never }, 'channel'],
      [{ from: '2026-03-02T00:00:00Z', to: '2026-03-01T00:00:00Z' }, 'from'],
      [{ from: 'yesterday' }, 'from'],
      [{ limit: 0 }, 'limit'],
      [{ limit: 5000 }, 'limit'],
      [{ after: 'abc' }, 'after'],
      [{ variant: -1 }, 'variant'],
      [{ blockId: 'b 1' }, 'blockId'],
      [{ phone: '12' }, 'phone'],
      [{ mailingId: 1.5 }, 'mailingId'],
      [{ order: 'random' as never }, 'order'],
    ];
    for (const [options, field] of cases) {
      const error = await failure(listMessages(db(), accountId, options));
      expect(error, JSON.stringify(options)).toMatchObject({ code: 'validation_failed', field });
    }
  });

  const allRecipients = async (options: RecipientPageOptions = {}, account = accountId) => {
    const rows: RecipientRow[] = [];
    let after: string | undefined;
    for (;;) {
      const page = await listRecipients(db(), account, { limit: 4, ...options, after });
      rows.push(...page.items);
      if (!page.next) return rows;
      after = page.next;
    }
  };

  it('lists recipients with the same buckets the report counts', async () => {
    const rows = await allRecipients();
    const r = sample.recipients;
    expect(ids(rows)).toEqual(Object.values(r).sort((a, b) => a - b));
    const status = new Map(rows.map((x) => [x.id, x.status]));
    expect(status.get(r.r1)).toBe('goal');
    expect(status.get(r.r3)).toBe('finished');
    expect(status.get(r.r4)).toBe('pending');
    expect(status.get(r.r5)).toBe('running');
    expect(status.get(r.r7)).toBe('running');
    expect(ids(await allRecipients({ status: 'running' }))).toEqual([r.r2, r.r5, r.r7, r.r9, r.r10]);
    expect(ids(await allRecipients({ state: 'done', endReason: 'goal' }))).toEqual([r.r1, r.r8]);
    expect(ids(await allRecipients({ variant: 1, blockId: 'b2' }))).toEqual([r.r10]);
    expect(rows.find((x) => x.id === r.r8)).toMatchObject({
      phone: '+79990000008',
      variantLabel: 'B',
      blockId: 'g',
      step: 1,
    });
    expect(await allRecipients({ mailingId: other.mailingId })).toEqual([]);
    const error = await failure(listRecipients(db(), accountId, { state: 'asleep' as never }));
    expect(error).toMatchObject({ code: 'validation_failed', field: 'state' });
  });
});
