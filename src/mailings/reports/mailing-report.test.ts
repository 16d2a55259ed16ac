import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends } from '../../../test/support/db.ts';
import type { Database } from '../../db/database.ts';
import { AppError } from '../../shared/errors.ts';
import { channelMilestones, sendChannels } from '../scheme/vocabulary.ts';
import { emptyTotals, mailingReport, type ReportTotals } from './mailing-report.ts';
import { milestonePriority } from './report-vocabulary.ts';
import { addMessage, addRecipient, failure, newAccount, newMailing, seedSampleMailing } from './test-seed.ts';

const zeroTotals: ReportTotals = emptyTotals();

const buckets = (t: ReportTotals) =>
  t.onModeration + t.pending + t.running + t.goal + t.finished + t.interrupted + t.cancelled;

describe('report vocabulary', () => {
  it('orders milestones consistently with every channel', () => {
    for (const channel of sendChannels) {
      const own = channelMilestones[channel] as readonly string[];
      const positions = own.map((s) => (milestonePriority as readonly string[]).indexOf(s));
      expect(positions.every((p) => p >= 0)).toBe(true);
      expect([...positions].sort((a, b) => a - b)).toEqual(positions);
    }
  });
});

describe.each(backends)('mailingReport on $name', (backend) => {
  let database: Database;
  beforeAll(async () => {
    database = await backend.open();
  });
  afterAll(async () => {
    await database?.close();
  });
  const db = () => database.db;

  it('counts every total of a two-variant cascade', async () => {
    const accountId = await newAccount(db());
    const { mailingId } = await seedSampleMailing(db(), accountId);
    const report = await mailingReport(db(), accountId, mailingId);

    expect(report.mailing).toEqual({
      id: mailingId,
      name: 'Весенняя акция',
      status: 'running',
      tags: ['promo', 'spring'],
    });
    expect(report.totals).toEqual({
      ...zeroTotals,
      recipients: 10,
      reached: 5,
      goal: 2,
      finished: 2,
      pending: 1,
      running: 5,
      messages: 11,
      sent: 8,
      failed: 2,
      delivered: 5,
      undelivered: 4,
      viewed: 1,
      clicked: 2,
      replied: 1,
      spam: 1,
    });
    expect(buckets(report.totals)).toBe(report.totals.recipients);
    expect(report.money).toEqual({
      cost: 1650,
      refunded: 300,
      net: 1350,
      refundRequest: { at: null, amount: 0 },
    });

    const [a, b] = report.byVariant;
    expect(a).toMatchObject({
      variant: 0,
      label: 'A',
      percent: 50,
      money: { cost: 1000, refunded: 300, net: 700 },
    });
    expect(a!.totals).toEqual({
      ...zeroTotals,
      recipients: 7,
      reached: 3,
      goal: 1,
      finished: 2,
      pending: 1,
      running: 3,
      messages: 8,
      sent: 5,
      failed: 2,
      delivered: 3,
      undelivered: 4,
      viewed: 1,
      clicked: 1,
      replied: 1,
    });
    expect(b).toMatchObject({
      variant: 1,
      label: 'B',
      percent: 50,
      money: { cost: 650, refunded: 0, net: 650 },
    });
    expect(b!.totals).toEqual({
      ...zeroTotals,
      recipients: 3,
      reached: 2,
      goal: 1,
      running: 2,
      messages: 3,
      sent: 3,
      delivered: 2,
      clicked: 1,
      spam: 1,
    });

    const block = (variant: number, blockId: string) =>
      report.blocks.find((x) => x.variant === variant && x.blockId === blockId);
    expect(report.blocks.map((x) => `${x.variant}:${x.blockId}`)).toEqual([
      '0:b1',
      '0:b2',
      '0:d1',
      '0:g',
      '1:b1',
      '1:b2',
      '1:g',
    ]);
    expect(block(0, 'b1')).toEqual({
      variant: 0,
      blockId: 'b1',
      channel: 'viber',
      messages: 6,
      sent: 4,
      failed: 1,
      delivered: 2,
      undelivered: 3,
      viewed: 1,
      clicked: 1,
      replied: 1,
      cost: 750,
      current: 2,
      goal: 0,
    });
    expect(block(0, 'b2')).toMatchObject({
      channel: 'sms',
      messages: 2,
      sent: 1,
      failed: 1,
      delivered: 1,
      undelivered: 1,
      cost: 250,
      current: 1,
    });
    expect(block(0, 'd1')).toMatchObject({ channel: null, messages: 0, current: 1, goal: 0 });
    expect(block(0, 'g')).toMatchObject({ channel: null, current: 0, goal: 1 });
    expect(block(1, 'b1')).toMatchObject({
      channel: 'sms',
      messages: 2,
      delivered: 2,
      clicked: 1,
      viewed: 0,
      undelivered: 0,
      current: 1,
    });
    expect(block(1, 'b2')).toMatchObject({
      channel: 'viber',
      messages: 1,
      delivered: 0,
      undelivered: 0,
      current: 1,
    });
    expect(block(1, 'g')).toMatchObject({ goal: 1 });

    expect(report.links).toEqual([
      { variant: 0, linkId: 'l_click', count: 1 },
      { variant: 0, linkId: 'l_error', count: 1 },
      { variant: 0, linkId: 'l_undelivered', count: 2 },
      { variant: 0, linkId: 'l_yes', count: 1 },
      { variant: 1, linkId: 'l_click_b', count: 1 },
    ]);
  });

  it('tells interrupted from cancelled recipients of a cancelled mailing', async () => {
    const accountId = await newAccount(db());
    const mailingId = await newMailing(db(), accountId, { status: 'cancelled' });
    const started = await addRecipient(db(), accountId, mailingId, {
      phone: '+79990000001',
      state: 'done',
      endReason: 'cancelled',
    });
    await addMessage(db(), accountId, mailingId, {
      recipientId: started,
      phone: '+79990000001',
      channel: 'sms',
      statuses: ['delivered'],
      cost: 250,
    });
    await addRecipient(db(), accountId, mailingId, {
      phone: '+79990000002',
      state: 'done',
      endReason: 'cancelled',
    });
    await addRecipient(db(), accountId, mailingId, {
      phone: '+79990000003',
      state: 'done',
      endReason: 'goal',
      blockId: 'g',
    });
    // Still open in a cancelled mailing (cancelled before the recipient rows were closed).
    await addRecipient(db(), accountId, mailingId, { phone: '+79990000004', state: 'send' });
    const report = await mailingReport(db(), accountId, mailingId);
    expect(report.totals).toMatchObject({
      recipients: 4,
      interrupted: 1,
      cancelled: 2,
      goal: 1,
      pending: 0,
      running: 0,
      reached: 1,
    });
    expect(buckets(report.totals)).toBe(4);
  });

  it('counts recipients of a mailing on moderation as on moderation', async () => {
    const accountId = await newAccount(db());
    const mailingId = await newMailing(db(), accountId, { status: 'on_moderation' });
    await addRecipient(db(), accountId, mailingId, { phone: '+79990000001' });
    await addRecipient(db(), accountId, mailingId, { phone: '+79990000002' });
    const report = await mailingReport(db(), accountId, mailingId);
    expect(report.totals).toEqual({ ...zeroTotals, recipients: 2, onModeration: 2 });
    expect(report.byVariant).toEqual([
      {
        variant: 0,
        label: 'A',
        percent: 100,
        totals: { ...zeroTotals, recipients: 2, onModeration: 2 },
        money: { cost: 0, refunded: 0, net: 0 },
      },
    ]);
    expect(report.blocks).toEqual([expect.objectContaining({ blockId: 'b1', current: 2, messages: 0 })]);
  });

  it('reports an empty mailing with zeros and shows the full-refund request', async () => {
    const accountId = await newAccount(db());
    const mailingId = await newMailing(db(), accountId, { status: 'completed' });
    await db()
      .updateTable('mailings')
      .set({ refund_requested_at: new Date('2026-03-02T10:00:00Z'), refunded_amount: 400 })
      .where('id', '=', mailingId)
      .execute();
    const report = await mailingReport(db(), accountId, mailingId);
    expect(report.totals).toEqual(zeroTotals);
    expect(report.money.refundRequest).toEqual({ at: new Date('2026-03-02T10:00:00Z'), amount: 400 });
    expect(report.links).toEqual([]);
  });

  it("never shows another account's mailing or counts its rows", async () => {
    const a = await newAccount(db());
    const b = await newAccount(db());
    const { mailingId } = await seedSampleMailing(db(), a);
    const other = await seedSampleMailing(db(), b);
    const before = await mailingReport(db(), a, mailingId);

    const error = await failure(mailingReport(db(), a, other.mailingId));
    expect(error).toBeInstanceOf(AppError);
    expect(error).toMatchObject({ code: 'not_found', field: 'mailingId' });

    // A row claiming A's mailing but belonging to B (never written by the engine) is not counted either.
    const stray = await addRecipient(db(), b, mailingId, { phone: '+79990009999', state: 'waiting' });
    await addMessage(db(), b, mailingId, {
      recipientId: stray,
      phone: '+79990009999',
      channel: 'sms',
      statuses: ['delivered'],
      cost: 999,
    });
    expect(await mailingReport(db(), a, mailingId)).toEqual(before);
  });

  it('rejects a malformed mailing id', async () => {
    const accountId = await newAccount(db());
    const error = await failure(mailingReport(db(), accountId, -1));
    expect(error).toMatchObject({ code: 'validation_failed', field: 'mailingId' });
  });
});
