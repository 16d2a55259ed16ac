import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditBalance, getBalance } from '../../src/billing/ledger.ts';
import type { Database } from '../../src/db/database.ts';
import { cascadeWorld } from '../support/cascade.ts';
import { backends } from '../support/db.ts';
import { ScriptedProvider } from '../support/scripted-channel.ts';

const viberThenSms = {
  name: 'Viber → SMS',
  blocks: [
    {
      id: 'viber',
      kind: 'send',
      start: true,
      channel: 'viber',
      decisionTimeSec: 600,
      content: { format: 'text', text: 'Привет, {{name}}' },
    },
    { id: 'sms', kind: 'send', channel: 'sms', decisionTimeSec: 600, content: { text: 'Привет, {{name}}' } },
    { id: 'goal', kind: 'goal' },
  ],
  links: [
    { id: 'v_undelivered', from: 'viber', to: 'sms', kind: 'status', status: 'undelivered' },
    { id: 'v_delivered', from: 'viber', to: 'goal', kind: 'status', status: 'delivered' },
    { id: 's_delivered', from: 'sms', to: 'goal', kind: 'status', status: 'delivered' },
  ],
};

describe.each(backends)('cascade engine basics on $name', (backend) => {
  let database: Database;
  beforeAll(async () => {
    database = await backend.open();
  });
  afterAll(() => database.close());

  it('falls through from Viber to SMS on undelivered and reaches the goal, charging and refunding exactly', async () => {
    const w = await cascadeWorld(database);
    await w.addContacts([
      { phone: '+79990000001', name: 'Анна' },
      { phone: '+79990000002', name: 'Борис' },
      { phone: '+79990000003', name: 'Вера' },
    ]);
    w.provider
      .script('viber', '+79990000001', [{ afterSec: 30, status: 'delivered' }])
      .script('viber', '+79990000002', [{ afterSec: 30, status: 'undelivered' }])
      .script('sms', '+79990000002', [{ afterSec: 20, status: 'delivered' }])
      .script('viber', '+79990000003', [])
      .script('sms', '+79990000003', []);
    const id = await w.mailing({ scheme: viberThenSms });
    await w.run();
    const recipients = await w.recipients(id);
    expect(recipients.map((r) => [r.phone, r.state, r.end_reason, r.block_id])).toEqual([
      ['+79990000001', 'done', 'goal', 'goal'],
      ['+79990000002', 'done', 'goal', 'goal'],
      ['+79990000003', 'done', 'finished', 'sms'],
    ]);
    const messages = await w.messages(id);
    expect(messages.map((m) => [m.phone, m.channel, m.link_id, m.refunded])).toEqual([
      ['+79990000001', 'viber', 'v_delivered', false],
      ['+79990000002', 'viber', 'v_undelivered', true],
      ['+79990000002', 'sms', 's_delivered', false],
      ['+79990000003', 'viber', 'v_undelivered', true],
      ['+79990000003', 'sms', null, true],
    ]);
    expect(w.provider.calls.map((c) => c.content)).toContainEqual({ format: 'text', text: 'Привет, Анна' });
    // viber 150 ×3, sms 250 ×2; refunds: two undelivered vibers and one silent sms.
    expect(await getBalance(w.db, w.accountId)).toBe(100_000 - 150 * 3 - 250 * 2 + 150 * 2 + 250);
    expect((await auditBalance(w.db, w.accountId)).ok).toBe(true);
    const mailing = await w.db
      .selectFrom('mailings')
      .select(['status'])
      .where('id', '=', id)
      .executeTakeFirstOrThrow();
    expect(mailing.status).toBe('completed');
    // Delivered early: recipient 1 reached the goal before the decision time (early move-on).
    expect(new Set(w.provider.calls.map((c) => c.key)).size).toBe(w.provider.calls.length);
  });

  it("matches each event to its own provider's message when two providers use the same message id", async () => {
    // Both providers call a recipient's message by the phone number, so the Viber and the SMS message of one
    // recipient share an id; events are told apart by provider only.
    const w = await cascadeWorld(database, { provider: new ScriptedProvider((m) => `id-${m.to}`) });
    await w.addContacts([
      { phone: '+79990000011', name: 'Анна' },
      { phone: '+79990000012', name: 'Борис' },
    ]);
    w.provider
      .script('viber', '+79990000011', [{ afterSec: 30, status: 'undelivered' }])
      .script('sms', '+79990000011', [
        { afterSec: 10, status: 'delivered' },
        { afterSec: 20, reply: 'стоп' },
      ])
      .script('viber', '+79990000012', [{ afterSec: 30, status: 'delivered' }]);
    const id = await w.mailing({ scheme: viberThenSms });
    await w.run();
    const messages = await w.messages(id);
    expect(messages.map((m) => [m.phone, m.channel, m.statuses, m.link_id])).toEqual([
      ['+79990000011', 'viber', ['undelivered'], 'v_undelivered'],
      ['+79990000011', 'sms', ['delivered'], 's_delivered'],
      ['+79990000012', 'viber', ['delivered'], 'v_delivered'],
    ]);
    const replies = await w.db
      .selectFrom('messages')
      .select(['channel', 'replies'])
      .where('mailing_id', '=', id)
      .where('phone', '=', '+79990000011')
      .orderBy('id')
      .execute();
    expect(replies).toEqual([
      { channel: 'viber', replies: [] },
      { channel: 'sms', replies: ['стоп'] },
    ]);
  });
});
