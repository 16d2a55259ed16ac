import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../src/db/database.ts';
import { chatHooks } from '../../src/mailings/engine/chat-hooks.ts';
import { CascadeEngine, type ChatReply } from '../../src/mailings/engine/engine.ts';
import { cascadeWorld } from '../support/cascade.ts';
import { backends } from '../support/db.ts';

/**
 * The IVR operator-connection caps (SPEC ML-2), the stop list filled from mailings (Viber "unsubscribed",
 * the IVR unsubscribe key, an SMS reply STOP), and replies handed to the chat when the mailing asks for it.
 */
const phones = (n: number, prefix: string) =>
  Array.from({ length: n }, (_, i) => `${prefix}${String(i + 1).padStart(2, '0')}`);

function callScheme(connect: Record<string, number>, decisionTimeSec = 3600) {
  return {
    blocks: [
      {
        id: 'call',
        kind: 'send',
        start: true,
        channel: 'voice',
        decisionTimeSec,
        content: {
          kind: 'tts',
          text: 'Нажмите 1, чтобы поговорить с менеджером',
          ivr: { '1': { action: 'connect', phone: '+78001234567', ...connect } },
        },
      },
      { id: 'done', kind: 'goal' },
    ],
    links: [{ id: 'answered', from: 'call', to: 'done', kind: 'status', status: 'answered' }],
  };
}

describe.each(backends)('engine caps and stop list on %s', (backend) => {
  let database: Database;
  beforeAll(async () => {
    database = await backend.open();
  });
  afterAll(async () => {
    await database.close();
  });

  async function calls(w: Awaited<ReturnType<typeof cascadeWorld>>, id: number) {
    const rows = await w.db
      .selectFrom('messages')
      .select(['phone', 'sent_at', 'decided_at'])
      .where('mailing_id', '=', id)
      .orderBy('sent_at')
      .orderBy('phone')
      .execute();
    return rows.map((r) => ({
      phone: r.phone,
      sent: new Date(r.sent_at!).getTime(),
      decided: new Date(r.decided_at!).getTime(),
    }));
  }

  it('never has more calls in progress than the menu allows operator connections at once', async () => {
    const w = await cascadeWorld(database);
    const list = phones(5, '+799961000');
    await w.addContacts(list.map((phone) => ({ phone })));
    for (const p of list) w.provider.script('voice', p, [{ afterSec: 30, status: 'answered' }]);
    const id = await w.mailing({ scheme: callScheme({ maxSimultaneous: 2 }, 120) });
    await w.run();
    const placed = await calls(w, id);
    expect(placed).toHaveLength(5);
    // At every moment a call was placed, at most two calls (this one included) were still undecided.
    for (const c of placed) {
      const inProgress = placed.filter((o) => o.sent <= c.sent && o.decided > c.sent).length;
      expect(inProgress).toBeLessThanOrEqual(2);
    }
    // And it does go on: the first two at once, the rest as earlier calls end.
    expect(placed[1]!.sent).toBe(placed[0]!.sent);
    expect(placed[2]!.sent).toBeGreaterThan(placed[0]!.sent);
    expect((await w.recipients(id)).every((r) => r.state === 'done' && r.end_reason === 'goal')).toBe(true);
  });

  it('places no more calls per minute than maxPerMinute', async () => {
    const w = await cascadeWorld(database);
    const list = phones(7, '+799962000');
    await w.addContacts(list.map((phone) => ({ phone })));
    for (const p of list) w.provider.script('voice', p, [{ afterSec: 5, status: 'answered' }]);
    const id = await w.mailing({ scheme: callScheme({ maxPerMinute: 3 }) });
    await w.run();
    const placed = await calls(w, id);
    expect(placed).toHaveLength(7);
    for (const c of placed) {
      const window = placed.filter((o) => o.sent >= c.sent && o.sent < c.sent + 60_000).length;
      expect(window).toBeLessThanOrEqual(3);
    }
    // Without the cap all seven would go in the first tick.
    expect(placed[6]!.sent - placed[0]!.sent).toBeGreaterThanOrEqual(120_000);
  });

  it('adds Viber unsubscribes and SMS STOP replies to the stop list with the mailing that caused them', async () => {
    const w = await cascadeWorld(database);
    await w.addContacts([{ phone: '+79996300001' }, { phone: '+79996300002' }, { phone: '+79996300003' }]);
    w.provider.script('viber', '+79996300001', [
      { afterSec: 5, status: 'delivered' },
      { afterSec: 9, status: 'viewed' },
      { afterSec: 12, status: 'unsubscribed' },
    ]);
    w.provider.script('viber', '+79996300002', [{ afterSec: 5, status: 'undelivered' }]);
    w.provider.script('viber', '+79996300003', [{ afterSec: 5, status: 'delivered' }]);
    w.provider.script('sms', '+79996300002', [
      { afterSec: 5, status: 'delivered' },
      { afterSec: 20, reply: ' Стоп! ' },
    ]);
    const scheme = {
      blocks: [
        {
          id: 'v',
          kind: 'send',
          start: true,
          channel: 'viber',
          decisionTimeSec: 600,
          content: { format: 'text', text: 'Акция' },
        },
        { id: 's', kind: 'send', channel: 'sms', decisionTimeSec: 600, content: { text: 'Акция' } },
      ],
      links: [{ id: 'fallback', from: 'v', to: 's', kind: 'status', status: 'undelivered' }],
    };
    const id = await w.mailing({ scheme });
    await w.run();
    const stop = await w.db
      .selectFrom('stop_list')
      .select(['phone', 'source', 'mailing_id'])
      .where('account_id', '=', w.accountId)
      .orderBy('phone')
      .execute();
    expect(stop).toEqual([
      { phone: '+79996300001', source: 'viber', mailing_id: id },
      { phone: '+79996300002', source: 'sms', mailing_id: id },
    ]);
    // The next mailing does not reach them: their messages fail as stop_listed before any provider call.
    const before = w.provider.calls.length;
    const again = await w.mailing({ scheme });
    await w.run();
    const msgs = await w.messages(again);
    expect(msgs.map((m) => [m.phone, m.error_reason])).toEqual([
      ['+79996300001', 'stop_listed'],
      ['+79996300002', 'stop_listed'],
      ['+79996300003', null],
    ]);
    expect(w.provider.calls.slice(before).map((c) => c.to)).toEqual(['+79996300003']);
  });

  it('hands replies to the chat only for mailings with replies-to-chat on', async () => {
    const w = await cascadeWorld(database);
    const seen: ChatReply[] = [];
    const engine = new CascadeEngine({
      db: w.db,
      clock: w.clock,
      adapters: w.provider.adapters(),
      onReplies: async (_db, replies) => {
        seen.push(...replies);
      },
    });
    w.engine = engine;
    await w.addContacts([{ phone: '+79996400001' }]);
    w.provider.script('sms', '+79996400001', [
      { afterSec: 5, status: 'delivered' },
      { afterSec: 30, reply: 'А когда доставка?' },
    ]);
    const scheme = {
      blocks: [
        {
          id: 's',
          kind: 'send',
          start: true,
          channel: 'sms',
          decisionTimeSec: 600,
          content: { text: 'Заказ готов' },
        },
      ],
      links: [],
    };
    const withChat = await w.mailing({ scheme, replies_to_chat: true });
    await w.run();
    const without = await w.mailing({ scheme });
    await w.run();
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({
      accountId: w.accountId,
      mailingId: withChat,
      phone: '+79996400001',
      channel: 'sms',
      text: 'А когда доставка?',
    });
    expect(seen.some((r) => r.mailingId === without)).toBe(false);
  });

  it("opens the contact's chat dialog from a reply when the mailing has replies-to-chat on (CH-5)", async () => {
    const w = await cascadeWorld(database);
    w.engine = new CascadeEngine({
      db: w.db,
      clock: w.clock,
      adapters: w.provider.adapters(),
      ...chatHooks(w.clock),
    });
    await w.addContacts([{ phone: '+79996500001' }, { phone: '+79996500002' }]);
    for (const p of ['+79996500001', '+79996500002'])
      w.provider.script('viber', p, [
        { afterSec: 5, status: 'delivered' },
        { afterSec: 40, reply: `Хочу заказать (${p})` },
      ]);
    const scheme = {
      blocks: [
        {
          id: 'v',
          kind: 'send',
          start: true,
          channel: 'viber',
          decisionTimeSec: 600,
          content: { format: 'text', text: 'Новинки' },
        },
      ],
      links: [],
    };
    const id = await w.mailing({ scheme, replies_to_chat: true });
    await w.run();
    const dialogs = await w.db
      .selectFrom('dialogs')
      .select(['id', 'channel', 'address', 'mailing_id', 'status'])
      .where('account_id', '=', w.accountId)
      .orderBy('address')
      .execute();
    expect(dialogs.map((d) => [d.channel, d.address, d.mailing_id, d.status])).toEqual([
      ['viber', '+79996500001', id, 'open'],
      ['viber', '+79996500002', id, 'open'],
    ]);
    const texts = await w.db
      .selectFrom('chat_messages')
      .select(['dialog_id', 'text', 'author'])
      .where(
        'dialog_id',
        'in',
        dialogs.map((d) => d.id),
      )
      .orderBy('dialog_id')
      .execute();
    expect(texts.map((t) => [t.author, t.text])).toEqual([
      ['visitor', 'Хочу заказать (+79996500001)'],
      ['visitor', 'Хочу заказать (+79996500002)'],
    ]);
  });
});
