import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditBalance } from '../../src/billing/ledger.ts';
import type { Database } from '../../src/db/database.ts';
import { changeMailingState, requestRefund } from '../../src/mailings/mailings.ts';
import { cascadeWorld } from '../support/cascade.ts';
import { backends } from '../support/db.ts';

const sms = (id: string, extra: Record<string, unknown> = {}) => ({
  id,
  kind: 'send',
  channel: 'sms',
  decisionTimeSec: 600,
  content: { text: 'Текст' },
  ...extra,
});
const oneSms = { blocks: [sms('s', { start: true })], links: [] };

describe.each(backends)('cascade timing, money and control on $name', (backend) => {
  let database: Database;
  beforeAll(async () => {
    database = await backend.open();
  });
  afterAll(() => database.close());

  const sentAt = async (w: Awaited<ReturnType<typeof cascadeWorld>>, mailingId: number) =>
    (
      await w.db
        .selectFrom('messages')
        .select(['phone', 'block_id', 'sent_at', 'attempt'])
        .where('mailing_id', '=', mailingId)
        .orderBy('id')
        .execute()
    ).map((m) => ({ ...m, sent_at: new Date(m.sent_at!).toISOString() }));

  it('waits in a delay block and then follows its link to the next send and the goal', async () => {
    const w = await cascadeWorld(database);
    await w.addContacts([{ phone: '+79995000001' }]);
    w.provider.script('viber', '+79995000001', [{ afterSec: 10, status: 'delivered' }]);
    w.provider.script('sms', '+79995000001', [{ afterSec: 10, status: 'delivered' }]);
    const id = await w.mailing({
      scheme: {
        blocks: [
          {
            id: 'v',
            kind: 'send',
            start: true,
            channel: 'viber',
            decisionTimeSec: 600,
            content: { format: 'text', text: 'a' },
          },
          { id: 'wait', kind: 'delay', durationSec: 86_400 },
          sms('s'),
          { id: 'g', kind: 'goal' },
        ],
        links: [
          { id: 'l1', from: 'v', to: 'wait', kind: 'status', status: 'delivered' },
          { id: 'l2', from: 'wait', to: 's', kind: 'next' },
          { id: 'l3', from: 's', to: 'g', kind: 'status', status: 'delivered' },
        ],
      },
    });
    await w.run();
    const sends = await sentAt(w, id);
    expect(sends.map((s) => s.block_id)).toEqual(['v', 's']);
    // A delivered Viber message may still be reported as spam, so the block waits for its decision time
    // (10 min); the delay then holds the recipient for a day.
    expect(new Date(sends[1]!.sent_at).getTime() - new Date(sends[0]!.sent_at).getTime()).toBe(
      600_000 + 86_400_000,
    );
    expect((await w.recipients(id))[0]).toMatchObject({ end_reason: 'goal', block_id: 'g' });
  });

  it('evaluates the send window in each recipient zone', async () => {
    const w = await cascadeWorld(database, { start: '2026-11-25T05:00:00Z' }); // 08:00 Moscow, 15:00 Vladivostok
    await w.addContacts([
      { phone: '+79995100001', timezone: 'Europe/Moscow' },
      { phone: '+79995100002', timezone: 'Asia/Vladivostok' },
      { phone: '+79995100003' }, // no zone: the sender's (Moscow)
      { phone: '+79995100004', timezone: 'Europe/Kaliningrad' },
    ]);
    const id = await w.mailing({ scheme: oneSms, window: { from: '09:00', to: '21:00' } });
    await w.run();
    const byPhone = Object.fromEntries((await sentAt(w, id)).map((s) => [s.phone, s.sent_at]));
    expect(byPhone).toEqual({
      '+79995100001': '2026-11-25T06:00:00.000Z',
      '+79995100002': '2026-11-25T05:00:00.000Z',
      '+79995100003': '2026-11-25T06:00:00.000Z',
      '+79995100004': '2026-11-25T07:00:00.000Z',
    });
  });

  it("starts at the recipient's local time when asked to", async () => {
    const w = await cascadeWorld(database, { start: '2026-11-25T00:00:00Z' });
    await w.addContacts([
      { phone: '+79995200001', timezone: 'Europe/Moscow' },
      { phone: '+79995200002', timezone: 'Asia/Yekaterinburg' },
    ]);
    const id = await w.mailing({ scheme: oneSms, start_at: '2026-11-25T10:00', timezone_mode: 'recipient' });
    const mailing = await w.db
      .selectFrom('mailings')
      .select(['status'])
      .where('id', '=', id)
      .executeTakeFirstOrThrow();
    expect(mailing.status).toBe('scheduled');
    await w.run();
    const byPhone = Object.fromEntries((await sentAt(w, id)).map((s) => [s.phone, s.sent_at]));
    expect(byPhone).toEqual({
      '+79995200001': '2026-11-25T07:00:00.000Z',
      '+79995200002': '2026-11-25T05:00:00.000Z',
    });
  });

  it('spreads the first sends evenly until the end of smooth sending', async () => {
    const w = await cascadeWorld(database, { start: '2026-11-25T06:00:00Z' });
    await w.addContacts(Array.from({ length: 10 }, (_, i) => ({ phone: `+7999530000${i}` })));
    const id = await w.mailing({
      scheme: oneSms,
      smooth_until: '2026-11-25T19:00:00+03:00',
      sender_timezone: 'Europe/Moscow',
    });
    await w.run();
    const times = (await sentAt(w, id)).map((s) => new Date(s.sent_at).getTime()).sort((a, b) => a - b);
    expect(times).toHaveLength(10);
    const gaps = times.slice(1).map((t, i) => t - times[i]!);
    // 10 hours over 10 recipients: one every hour, the first at the start.
    expect(new Date(times[0]!).toISOString()).toBe('2026-11-25T06:00:00.000Z');
    expect(gaps.every((g) => g === 3_600_000)).toBe(true);
  });

  it('redials an unanswered call before deciding, then follows the answered link', async () => {
    const w = await cascadeWorld(database);
    await w.addContacts([{ phone: '+79995400001' }, { phone: '+79995400002' }]);
    w.provider.script(
      'voice',
      '+79995400001',
      [{ afterSec: 30, status: 'no_answer' }],
      [{ afterSec: 30, status: 'no_answer' }],
      [{ afterSec: 30, status: 'answered' }],
    );
    w.provider.script('voice', '+79995400002', [{ afterSec: 30, status: 'no_answer' }]);
    const id = await w.mailing({
      scheme: {
        blocks: [
          {
            id: 'call',
            kind: 'send',
            start: true,
            channel: 'voice',
            decisionTimeSec: 3600,
            content: { kind: 'tts', text: 'Алло', retry: { attempts: 2, intervalSec: 600 } },
          },
          { id: 'ok', kind: 'goal' },
          sms('fallback'),
        ],
        links: [
          { id: 'answered', from: 'call', to: 'ok', kind: 'status', status: 'answered' },
          { id: 'missed', from: 'call', to: 'fallback', kind: 'status', status: 'no_answer' },
        ],
      },
    });
    await w.run();
    const calls = (await sentAt(w, id)).filter((s) => s.block_id === 'call');
    expect(calls.filter((c) => c.phone === '+79995400001').map((c) => c.attempt)).toEqual([0, 1, 2]);
    expect(calls.filter((c) => c.phone === '+79995400002').map((c) => c.attempt)).toEqual([0, 1, 2]);
    const first = calls.filter((c) => c.phone === '+79995400001').map((c) => new Date(c.sent_at).getTime());
    expect(first[1]! - first[0]!).toBe(30_000 + 600_000);
    const rs = await w.recipients(id);
    expect(rs.map((r) => [r.phone, r.block_id])).toEqual([
      ['+79995400001', 'ok'],
      ['+79995400002', 'fallback'],
    ]);
    // Unanswered calls are refunded; the answered one is charged.
    const msgs = await w.messages(id);
    expect(msgs.filter((m) => m.channel === 'voice' && !m.refunded)).toHaveLength(1);
    expect((await auditBalance(w.db, w.accountId)).ok).toBe(true);
  });

  it('splits A/B variants exactly by the percentages, spread over the list', async () => {
    const w = await cascadeWorld(database);
    await w.addContacts(
      Array.from({ length: 100 }, (_, i) => ({ phone: `+7999560${String(i).padStart(4, '0')}` })),
    );
    const id = await w.mailing({
      variants: [
        { label: 'A', percent: 30, scheme: oneSms },
        {
          label: 'B',
          percent: 70,
          scheme: {
            blocks: [
              {
                id: 'v',
                kind: 'send',
                start: true,
                channel: 'viber',
                decisionTimeSec: 600,
                content: { format: 'text', text: 'b' },
              },
            ],
            links: [],
          },
        },
      ],
    });
    await w.run();
    const rs = await w.recipients(id);
    expect(rs.filter((r) => r.variant === 0)).toHaveLength(30);
    expect(rs.filter((r) => r.variant === 1)).toHaveLength(70);
    // Not the first 30 by phone order: the split is spread.
    expect(rs.slice(0, 30).every((r) => r.variant === 0)).toBe(false);
    const msgs = await w.messages(id);
    expect(msgs.filter((m) => m.channel === 'sms')).toHaveLength(30);
    expect(msgs.filter((m) => m.channel === 'viber')).toHaveLength(70);
  });

  it('refunds undelivered messages exactly once, also when a refund is requested afterwards', async () => {
    const w = await cascadeWorld(database);
    await w.addContacts([{ phone: '+79995700001' }, { phone: '+79995700002' }]);
    w.provider.script('sms', '+79995700001', [{ afterSec: 5, status: 'delivered' }]);
    w.provider.script('sms', '+79995700002', [{ afterSec: 5, status: 'undelivered' }]);
    const id = await w.mailing({ scheme: oneSms });
    await w.run();
    const refundsBefore = await w.db
      .selectFrom('ledger')
      .select('amount')
      .where('account_id', '=', w.accountId)
      .where('kind', '=', 'refund')
      .execute();
    expect(refundsBefore.map((r) => r.amount)).toEqual([250]);
    const again = await requestRefund(w.db, w.clock, w.accountId, id);
    expect(again).toEqual({ refunded: 0, amount: 0 });
    await expect(requestRefund(w.db, w.clock, w.accountId, id)).rejects.toMatchObject({ code: 'conflict' });
    const refundsAfter = await w.db
      .selectFrom('ledger')
      .select('amount')
      .where('account_id', '=', w.accountId)
      .where('kind', '=', 'refund')
      .execute();
    expect(refundsAfter).toHaveLength(1);
    expect((await auditBalance(w.db, w.accountId)).ok).toBe(true);
  });

  it('pauses, resumes and cancels', async () => {
    const w = await cascadeWorld(database);
    await w.addContacts([{ phone: '+79995800001' }, { phone: '+79995800002' }]);
    const scheme = {
      blocks: [sms('a', { start: true }), { id: 'd', kind: 'delay', durationSec: 3600 }, sms('b')],
      links: [
        { id: 'l1', from: 'a', to: 'd', kind: 'status', status: 'delivered' },
        { id: 'l2', from: 'd', to: 'b', kind: 'next' },
      ],
    };
    for (const p of ['+79995800001', '+79995800002'])
      w.provider.script('sms', p, [{ afterSec: 5, status: 'delivered' }]);
    const id = await w.mailing({ scheme });
    await w.engine.drain();
    w.clock.advance(10_000);
    await w.engine.drain(); // both delivered → in the delay block
    await changeMailingState(w.db, w.clock, w.accountId, id, 'pause');
    w.clock.advance(7_200_000);
    await w.engine.drain();
    expect((await w.messages(id)).filter((m) => m.block_id === 'b')).toHaveLength(0);
    expect(await w.engine.nextDueAt({ mailingId: id })).toBeNull();
    await changeMailingState(w.db, w.clock, w.accountId, id, 'resume');
    await w.engine.drain();
    expect((await w.messages(id)).filter((m) => m.block_id === 'b')).toHaveLength(2);
    await changeMailingState(w.db, w.clock, w.accountId, id, 'cancel');
    await w.run();
    const rs = await w.recipients(id);
    expect(rs.every((r) => r.state === 'done' && r.end_reason === 'cancelled')).toBe(true);
    await expect(changeMailingState(w.db, w.clock, w.accountId, id, 'resume')).rejects.toMatchObject({
      code: 'conflict',
    });
  });
});
