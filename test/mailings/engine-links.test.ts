import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditBalance, getBalance } from '../../src/billing/ledger.ts';
import { addToStopList } from '../../src/contacts/stop-list.ts';
import type { Database } from '../../src/db/database.ts';
import { CascadeEngine } from '../../src/mailings/engine/engine.ts';
import {
  channelStatuses,
  type MessageStatus,
  type SendChannel,
} from '../../src/mailings/scheme/vocabulary.ts';
import { cascadeWorld } from '../support/cascade.ts';
import { backends } from '../support/db.ts';

const content: Record<SendChannel, unknown> = {
  sms: { text: 'Текст' },
  viber: { format: 'text', text: 'Текст' },
  voice: { kind: 'tts', text: 'Текст', ivr: { '1': { action: 'record' }, '2': { action: 'unsubscribe' } } },
  vk: { text: 'Текст' },
  ok: { text: 'Текст' },
};

/** A block on `channel` with one status link per status, each to its own goal block named after it. */
function everyStatusScheme(channel: SendChannel) {
  const statuses = channelStatuses[channel] as readonly MessageStatus[];
  return {
    name: `all ${channel}`,
    blocks: [
      { id: 'first', kind: 'send', start: true, channel, decisionTimeSec: 600, content: content[channel] },
      ...statuses.map((s) => ({ id: `goal_${s}`, kind: 'goal' })),
    ],
    links: statuses.map((s) => ({
      id: `to_${s}`,
      from: 'first',
      to: `goal_${s}`,
      kind: 'status',
      status: s,
    })),
  };
}

/** What a provider reports for a message that ends in `status` (milestones come with the lower ones). */
function eventsFor(channel: SendChannel, status: MessageStatus) {
  switch (status) {
    case 'delivered':
    case 'answered':
      return [{ afterSec: 10, status }];
    case 'viewed':
      return [
        { afterSec: 10, status: 'delivered' as const },
        { afterSec: 20, status },
      ];
    case 'clicked':
      return channel === 'viber'
        ? [
            { afterSec: 10, status: 'delivered' as const },
            { afterSec: 20, status: 'viewed' as const },
            { afterSec: 30, status },
          ]
        : [
            { afterSec: 10, status: 'delivered' as const },
            { afterSec: 30, status },
          ];
    case 'ivr':
      return [
        { afterSec: 10, status: 'answered' as const },
        { afterSec: 15, status: 'ivr' as const, digits: '1' },
      ];
    case 'spam':
    case 'unsubscribed':
      return [
        { afterSec: 10, status: 'delivered' as const },
        { afterSec: 20, status },
      ];
    default:
      return [{ afterSec: 10, status }];
  }
}

describe.each(backends)('cascade links and statuses on $name', (backend) => {
  let database: Database;
  beforeAll(async () => {
    database = await backend.open();
  });
  afterAll(() => database.close());

  it.each(['sms', 'viber', 'voice', 'vk', 'ok'] as const)(
    'takes the status link for every status of %s',
    async (channel) => {
      const w = await cascadeWorld(database);
      const statuses = channelStatuses[channel] as readonly MessageStatus[];
      const phones = statuses.map((_, i) => `+7999100${String(i).padStart(4, '0')}`);
      await w.addContacts(phones.map((phone) => ({ phone })));
      statuses.forEach((s, i) => {
        w.provider.script(channel, phones[i]!, eventsFor(channel, s));
      });
      const id = await w.mailing({ scheme: everyStatusScheme(channel) });
      await w.run();
      const recipients = await w.recipients(id);
      expect(recipients.map((r) => r.block_id)).toEqual(statuses.map((s) => `goal_${s}`));
      expect(recipients.every((r) => r.end_reason === 'goal')).toBe(true);
      expect((await auditBalance(w.db, w.accountId)).ok).toBe(true);
    },
  );

  it('falls back to the next lower milestone that has a link, and moves on early when settled', async () => {
    const w = await cascadeWorld(database);
    await w.addContacts([{ phone: '+79991000001' }, { phone: '+79991000002' }]);
    w.provider.script('viber', '+79991000001', eventsFor('viber', 'clicked'));
    w.provider.script('sms', '+79991000002', [{ afterSec: 5, status: 'delivered' }]);
    const viber = await w.mailing({
      scheme: {
        blocks: [
          {
            id: 'v',
            kind: 'send',
            start: true,
            channel: 'viber',
            decisionTimeSec: 3600,
            content: content.viber,
          },
          { id: 'g', kind: 'goal' },
        ],
        links: [{ id: 'delivered', from: 'v', to: 'g', kind: 'status', status: 'delivered' }],
      },
    });
    await w.run();
    const [m] = await w.messages(viber);
    expect(m).toMatchObject({ link_id: 'delivered', final_status: 'clicked' });

    // SMS with links only for delivered/undelivered: once delivered nothing can change the route.
    const early = await w.mailing({
      recipients: { group_ids: [w.groupId], filter: { vars: {} } },
      scheme: {
        blocks: [
          { id: 's', kind: 'send', start: true, channel: 'sms', decisionTimeSec: 3600, content: content.sms },
          { id: 'g', kind: 'goal' },
          { id: 'u', kind: 'goal' },
        ],
        links: [
          { id: 'ok', from: 's', to: 'g', kind: 'status', status: 'delivered' },
          { id: 'no', from: 's', to: 'u', kind: 'status', status: 'undelivered' },
        ],
      },
    });
    const started = w.clock.now().getTime();
    w.provider.script('sms', '+79991000001', [{ afterSec: 5, status: 'delivered' }]);
    await w.run();
    const decided = await w.db
      .selectFrom('messages')
      .select(['phone', 'decided_at', 'link_id'])
      .where('mailing_id', '=', early)
      .orderBy('phone')
      .execute();
    expect(decided.map((d) => d.link_id)).toEqual(['ok', 'ok']);
    expect(decided.every((d) => new Date(d.decided_at!).getTime() - started < 3600_000)).toBe(true);
  });

  it('fires response, ivr and error links at once', async () => {
    const w = await cascadeWorld(database);
    await w.addContacts([{ phone: '+79992000001' }, { phone: '+79992000002' }, { phone: '+79992000003' }]);
    w.provider.script('sms', '+79992000001', [
      { afterSec: 5, status: 'delivered' },
      { afterSec: 60, reply: 'Да, ЕЩЁ хочу' },
    ]);
    w.provider.script('sms', '+79992000002', [
      { afterSec: 5, status: 'delivered' },
      { afterSec: 60, reply: 'нет' },
    ]);
    w.provider.script('sms', '+79992000003', { error: 'invalid_number' });
    const id = await w.mailing({
      scheme: {
        blocks: [
          { id: 's', kind: 'send', start: true, channel: 'sms', decisionTimeSec: 3600, content: content.sms },
          { id: 'yes', kind: 'goal' },
          { id: 'err', kind: 'goal' },
        ],
        links: [
          { id: 'r', from: 's', to: 'yes', kind: 'response', words: ['еще'] },
          { id: 'e', from: 's', to: 'err', kind: 'error', errors: ['invalid_number'] },
        ],
      },
    });
    await w.run();
    const msgs = await w.db
      .selectFrom('messages')
      .select(['phone', 'link_id', 'decided_at', 'sent_at', 'error_reason', 'refunded'])
      .where('mailing_id', '=', id)
      .orderBy('phone')
      .execute();
    expect(msgs.map((m) => [m.link_id, m.error_reason])).toEqual([
      ['r', null],
      [null, null],
      ['e', 'invalid_number'],
    ]);
    // The response link fired on the reply (60 s), not at the decision time (1 h).
    expect(new Date(msgs[0]!.decided_at!).getTime() - new Date(msgs[0]!.sent_at!).getTime()).toBe(60_000);
    // A send the provider refused is never charged (the debit follows the provider's answer).
    expect(msgs[2]!.refunded).toBe(false);

    const voice = await w.mailing({
      recipients: { group_ids: [w.groupId], filter: { vars: {} } },
      scheme: {
        blocks: [
          {
            id: 'call',
            kind: 'send',
            start: true,
            channel: 'voice',
            decisionTimeSec: 3600,
            content: content.voice,
          },
          { id: 'pressed', kind: 'goal' },
        ],
        links: [{ id: 'ivr2', from: 'call', to: 'pressed', kind: 'ivr', digits: ['2'] }],
      },
    });
    w.provider.script('voice', '+79992000001', [
      { afterSec: 10, status: 'answered' },
      { afterSec: 20, status: 'ivr', digits: '2' },
    ]);
    w.provider.script('voice', '+79992000002', [
      { afterSec: 10, status: 'answered' },
      { afterSec: 20, status: 'ivr', digits: '1' },
    ]);
    w.provider.script('voice', '+79992000003', [{ afterSec: 10, status: 'no_answer' }]);
    await w.run();
    const calls = await w.recipients(voice);
    expect(calls.map((c) => [c.end_reason, c.block_id])).toEqual([
      ['goal', 'pressed'],
      ['finished', 'call'],
      ['finished', 'call'],
    ]);
  });

  it('sends nothing to a stop-listed number and takes the error link', async () => {
    const w = await cascadeWorld(database);
    await w.addContacts([{ phone: '+79993000001' }, { phone: '+79993000002' }]);
    await addToStopList(w.db, w.clock, w.accountId, { phone: '+79993000002', source: 'sms' });
    w.provider.script('sms', '+79993000001', [{ afterSec: 5, status: 'delivered' }]);
    const id = await w.mailing({
      scheme: {
        blocks: [
          { id: 's', kind: 'send', start: true, channel: 'sms', decisionTimeSec: 600, content: content.sms },
          { id: 'stopped', kind: 'goal' },
        ],
        links: [{ id: 'e', from: 's', to: 'stopped', kind: 'error', errors: ['stop_listed'] }],
      },
    });
    await w.run();
    expect(w.provider.calls.map((c) => c.to)).toEqual(['+79993000001']);
    const msgs = await w.messages(id);
    expect(msgs.map((m) => [m.phone, m.state, m.error_reason, m.link_id, m.cost])).toEqual([
      ['+79993000001', 'submitted', null, null, 250],
      ['+79993000002', 'failed', 'stop_listed', 'e', 0],
    ]);
  });

  it('refuses sends beyond the balance with insufficient_funds and never overdraws', async () => {
    const w = await cascadeWorld(database, { balance: 500 });
    await w.addContacts([{ phone: '+79994000001' }, { phone: '+79994000002' }, { phone: '+79994000003' }]);
    const id = await w.mailing({
      scheme: {
        blocks: [
          { id: 's', kind: 'send', start: true, channel: 'sms', decisionTimeSec: 600, content: content.sms },
          { id: 'poor', kind: 'goal' },
        ],
        links: [{ id: 'e', from: 's', to: 'poor', kind: 'error', errors: ['insufficient_funds'] }],
      },
    });
    for (const p of ['+79994000001', '+79994000002', '+79994000003'])
      w.provider.script('sms', p, [{ afterSec: 5, status: 'delivered' }]);
    await w.run();
    const msgs = await w.messages(id);
    expect(msgs.filter((m) => m.error_reason === 'insufficient_funds')).toHaveLength(1);
    expect(msgs.filter((m) => m.state === 'submitted')).toHaveLength(2);
    expect((await w.recipients(id)).filter((r) => r.block_id === 'poor')).toHaveLength(1);
    expect(await getBalance(w.db, w.accountId)).toBe(0);
    expect((await auditBalance(w.db, w.accountId)).ok).toBe(true);
  });

  it.runIf(backend.name === 'postgres')(
    'two workers send for one account at once: neither waits for the other, together they never overdraw',
    async () => {
      // SMS costs 250; the balance covers three of the four recipients.
      const w = await cascadeWorld(database, { balance: 750 });
      const phones = ['+79994100001', '+79994100002', '+79994100003', '+79994100004'];
      await w.addContacts(phones.map((phone) => ({ phone })));
      const id = await w.mailing({
        scheme: {
          blocks: [
            {
              id: 's',
              kind: 'send',
              start: true,
              channel: 'sms',
              decisionTimeSec: 600,
              content: content.sms,
            },
            { id: 'poor', kind: 'goal' },
          ],
          links: [{ id: 'e', from: 's', to: 'poor', kind: 'error', errors: ['insufficient_funds'] }],
        },
      });
      for (const p of phones) w.provider.script('sms', p, [{ afterSec: 5, status: 'delivered' }]);
      // Worker A's provider call hangs until released, in the middle of its batch's transaction.
      let release!: () => void;
      const gate = new Promise<void>((resolve) => {
        release = resolve;
      });
      let entered!: () => void;
      const inCall = new Promise<void>((resolve) => {
        entered = resolve;
      });
      const plain = w.provider.adapters();
      const gated = {
        ...plain,
        sms: {
          ...plain.sms,
          submit: async (...args: Parameters<typeof plain.sms.submit>) => {
            entered();
            await gate;
            return plain.sms.submit(...args);
          },
        },
      };
      const a = new CascadeEngine({ db: w.db, clock: w.clock, adapters: gated, batchSize: 2 });
      const b = new CascadeEngine({ db: w.db, clock: w.clock, adapters: plain, batchSize: 2 });
      const aDone = a.sendDue();
      await inCall;
      // B claims the other two and finishes its whole batch while A is still inside its provider call.
      const bDone = await Promise.race([
        b.sendDue().then((n) => ({ n })),
        new Promise<null>((resolve) => setTimeout(() => resolve(null), 10_000)),
      ]);
      expect(bDone).toEqual({ n: 2 });
      release();
      expect(await aDone).toBe(2);
      const msgs = await w.messages(id);
      // A leased 500 for its two; B could lease only the 250 left: one sent, one refused.
      expect(msgs.filter((m) => m.state === 'submitted')).toHaveLength(3);
      expect(msgs.filter((m) => m.error_reason === 'insufficient_funds')).toHaveLength(1);
      await w.run();
      expect((await w.recipients(id)).filter((r) => r.block_id === 'poor')).toHaveLength(1);
      expect(await getBalance(w.db, w.accountId)).toBe(0);
      expect((await auditBalance(w.db, w.accountId)).ok).toBe(true);
      const open = await w.db
        .selectFrom('engine_leases')
        .select('id')
        .where('account_id', '=', w.accountId)
        .execute();
      expect(open).toEqual([]);
    },
  );
});
