import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getBalance, topUp } from '../../src/billing/ledger.ts';
import type { ChannelAdapter } from '../../src/channels/types.ts';
import {
  type ChannelReply,
  openDialogsFromAnswerReplies,
  openDialogsFromReplies,
  retryPendingAnswers,
} from '../../src/chat/channel-replies.ts';
import type { SendChannel } from '../../src/mailings/scheme/vocabulary.ts';
import { backends } from '../support/db.ts';
import { ScriptedProvider } from '../support/scripted-channel.ts';
import { type ChatWorld, chatWorld } from './setup.ts';

describe.each(backends)('dialogs from mailing replies on $name', (backend) => {
  let w: ChatWorld;
  const provider = new ScriptedProvider();
  let failing = false;
  const scripted = provider.adapters();
  // The sms adapter can be made unreachable (throws) to prove the retry of pending answers.
  const adapters: Record<SendChannel, ChannelAdapter> = {
    ...scripted,
    sms: {
      ...scripted.sms,
      submit: (messages, ctx) => {
        if (failing) throw new Error('provider unreachable');
        return scripted.sms.submit(messages, ctx);
      },
    },
  };
  let chatMailing: number;
  let plainMailing: number;

  beforeAll(async () => {
    w = await chatWorld(backend, { operators: 1, adapters });
    const insert = (replies: boolean) =>
      w.t.ctx.db
        .insertInto('mailings')
        .values({
          account_id: w.tenant.accountId,
          name: replies ? 'С ответами в чат' : 'Без ответов',
          status: 'running',
          settings: '{}',
          replies_to_chat: replies,
          created_at: w.t.clock.now(),
        })
        .returning('id')
        .executeTakeFirstOrThrow();
    chatMailing = (await insert(true)).id;
    plainMailing = (await insert(false)).id;
    await topUp(w.t.ctx.db, w.t.clock, { accountId: w.tenant.accountId, amount: 10_000 });
  });
  afterAll(() => w.close());

  const reply = (over: Partial<ChannelReply> = {}): ChannelReply => ({
    accountId: w.tenant.accountId,
    mailingId: chatMailing,
    messageId: 501,
    phone: '+79161230001',
    channel: 'viber',
    text: 'Да, интересно',
    at: new Date('2026-11-25T10:00:00Z'),
    ...over,
  });
  const outbox = (kind: string) =>
    w.t.ctx.db
      .selectFrom('outbox')
      .select(['kind', 'payload'])
      .where('account_id', '=', w.tenant.accountId)
      .where('kind', '=', kind as never)
      .orderBy('id')
      .execute();

  it('opens a dialog for a reply to a mailing with replies-to-chat, with its contact, live to operators', async () => {
    const op = await w.operator(0);
    const opened = op.socket.expect(
      'dialog.updated',
      (f) => (f.dialog as { channel: string }).channel === 'viber',
    );
    const message = op.socket.expect(
      'message.new',
      (f) => (f.message as { text: string }).text === 'Да, интересно',
    );
    const [outcome] = await openDialogsFromReplies(w.t.ctx.db, w.t.clock, [reply()]);
    expect(outcome).toMatchObject({ opened: true, mailingId: chatMailing });
    expect(outcome!.chatMessageId).toBeGreaterThan(0);
    const dialog = (await opened).dialog as Record<string, unknown>;
    expect(dialog).toMatchObject({
      channel: 'viber',
      address: '+79161230001',
      mailing_id: chatMailing,
      status: 'open',
    });
    expect((await message).message).toMatchObject({ author: 'visitor', dialog_id: outcome!.dialogId });
    // Assigned round-robin to the only online operator; the contact is known by its phone.
    const stored = await w.api<{ operator_id: number; contact: { phone: string } }>(
      'GET',
      `/api/v1/dialogs/${outcome!.dialogId}`,
    );
    expect(stored.body).toMatchObject({
      operator_id: w.operators[0]!.id,
      contact: { phone: '+79161230001' },
    });
    expect((await outbox('contact.captured')).at(-1)?.payload).toMatchObject({
      source: 'channel',
      contact: { phone: '+79161230001' },
      dialog_id: outcome!.dialogId,
    });
    expect((await outbox('dialog.opened')).at(-1)?.payload).toMatchObject({
      channel: 'viber',
      mailing_id: chatMailing,
    });
    const card = await w.api<{ channel: string; mailing: { id: number } }>(
      'GET',
      `/api/v1/dialogs/${outcome!.dialogId}/card`,
    );
    expect(card.body).toMatchObject({ channel: 'viber', mailing: { id: chatMailing } });
    op.socket.close();
  });

  it('continues the open dialog, ignores mailings without replies-to-chat and replies applied twice', async () => {
    const again = await openDialogsFromReplies(w.t.ctx.db, w.t.clock, [
      reply(), // the same reply once more (an engine retry)
      reply({ text: 'Когда доставка?', at: new Date('2026-11-25T10:05:00Z') }),
      reply({ mailingId: plainMailing, phone: '+79161230002', text: 'не в чат' }),
      reply({ channel: 'voice', phone: '+79161230003', text: '1' }),
    ]);
    expect(again).toHaveLength(2);
    expect(again[0]).toMatchObject({ opened: false, chatMessageId: null });
    expect(again[1]).toMatchObject({ opened: false });
    expect(again[1]!.dialogId).toBe(again[0]!.dialogId);
    const dialogs = await w.t.ctx.db
      .selectFrom('dialogs')
      .select('address')
      .where('account_id', '=', w.tenant.accountId)
      .where('channel', '<>', 'web')
      .execute();
    expect(dialogs.map((d) => d.address)).toEqual(['+79161230001']);
    const contacts = await w.t.ctx.db
      .selectFrom('contacts')
      .select('id')
      .where('account_id', '=', w.tenant.accountId)
      .where('phone', '=', '+79161230001')
      .execute();
    expect(contacts).toHaveLength(1);
  });

  it("opens nothing when the engine's transaction rolls back", async () => {
    await expect(
      w.t.ctx.db.transaction().execute(async (trx) => {
        await openDialogsFromReplies(trx, w.t.clock, [reply({ phone: '+79161230009', messageId: 777 })]);
        throw new Error('engine failed');
      }),
    ).rejects.toThrow('engine failed');
    const none = await w.t.ctx.db
      .selectFrom('dialogs')
      .select('id')
      .where('address', '=', '+79161230009')
      .execute();
    expect(none).toEqual([]);
  });

  it("sends the operator's answer back on the channel once, charged, with the delivery state live", async () => {
    const [outcome] = await openDialogsFromReplies(w.t.ctx.db, w.t.clock, [
      reply({ channel: 'sms', phone: '+79161230004', messageId: 601, text: 'Перезвоните' }),
    ]);
    const op = await w.operator(0);
    const balance = await getBalance(w.t.ctx.db, w.tenant.accountId);
    const updated = op.socket.expect(
      'message.updated',
      (f) => (f.message as { delivery: string }).delivery === 'sent',
    );
    const ack = await op.socket.request({
      type: 'message.send',
      dialog_id: outcome!.dialogId,
      client_id: 'answer-1',
      text: 'Перезвоним в течение часа',
    });
    expect(ack.type).toBe('ack');
    const id = (ack.data as { message: { id: number } }).message.id;
    expect((await updated).message).toMatchObject({ id, delivery: 'sent' });
    const calls = provider.calls.filter((c) => c.key === `chat:${id}`);
    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatchObject({
      channel: 'sms',
      to: '+79161230004',
      content: { text: 'Перезвоним в течение часа' },
    });
    expect(await getBalance(w.t.ctx.db, w.tenant.accountId)).toBe(balance - 250);

    // A resend of the same client id sends nothing again.
    const resend = await op.socket.request({
      type: 'message.send',
      dialog_id: outcome!.dialogId,
      client_id: 'answer-1',
      text: 'Перезвоним в течение часа',
    });
    expect(resend.data).toMatchObject({ duplicate: true });
    expect(provider.calls.filter((c) => c.key === `chat:${id}`)).toHaveLength(1);

    // The customer writes back to the answer: the engine finds no mailing message for that event, the
    // chat matches it to the answer and continues the dialog; unknown ids are left to the engine.
    const back = await openDialogsFromAnswerReplies(w.t.ctx.db, w.t.clock, [
      {
        provider: 'scripted-sms',
        providerMessageId: `pm-chat:${id}`,
        text: 'Жду звонка',
        at: w.t.clock.now(),
      },
      { provider: 'scripted-sms', providerMessageId: 'pm-unknown', text: '?', at: w.t.clock.now() },
    ]);
    expect(back).toHaveLength(1);
    expect(back[0]).toMatchObject({ dialogId: outcome!.dialogId, opened: false });
    const twice = await openDialogsFromAnswerReplies(w.t.ctx.db, w.t.clock, [
      {
        provider: 'scripted-sms',
        providerMessageId: `pm-chat:${id}`,
        text: 'Жду звонка',
        at: w.t.clock.now(),
      },
    ]);
    expect(twice[0]!.chatMessageId).toBeNull();

    // Longer than an SMS may be, and files, are refused before anything is stored or sent.
    const long = await op.socket.request({
      type: 'message.send',
      dialog_id: outcome!.dialogId,
      client_id: 'long',
      text: 'я'.repeat(1001),
    });
    expect(long).toMatchObject({ type: 'error', code: 'too_large', field: 'text' });

    // After the dialog is closed, a late reply to the answer opens a new dialog for the number.
    await op.socket.request({ type: 'dialog.close', dialog_id: outcome!.dialogId });
    const [late] = await openDialogsFromAnswerReplies(w.t.ctx.db, w.t.clock, [
      {
        provider: 'scripted-sms',
        providerMessageId: `pm-chat:${id}`,
        text: 'Так и не позвонили',
        at: w.t.clock.now(),
      },
    ]);
    expect(late).toMatchObject({ opened: true });
    expect(late!.dialogId).not.toBe(outcome!.dialogId);
    op.socket.close();
  });

  it('a refused send is failed and refunded; an unreachable provider is retried with the same key', async () => {
    provider.script('viber', '+79161230005', { error: 'stop_listed' });
    const [refused] = await openDialogsFromReplies(w.t.ctx.db, w.t.clock, [
      reply({ phone: '+79161230005', messageId: 701, text: 'Отпишите меня' }),
    ]);
    const balance = await getBalance(w.t.ctx.db, w.tenant.accountId);
    const actor = { accountId: w.tenant.accountId, userId: w.operators[0]!.id };
    const { sendOperatorMessage } = await import('../../src/chat/messages.ts');
    const failed = await sendOperatorMessage(
      w.t.ctx.db,
      w.t.clock,
      actor,
      { dialogId: refused!.dialogId, text: 'Хорошо' },
      { adapters },
    );
    expect(failed.message).toMatchObject({ delivery: 'failed' });
    expect(failed.message.delivery_error).toContain('stop_listed');
    expect(await getBalance(w.t.ctx.db, w.tenant.accountId)).toBe(balance);

    const [sms] = await openDialogsFromReplies(w.t.ctx.db, w.t.clock, [
      reply({ channel: 'sms', phone: '+79161230006', messageId: 702, text: 'Алло' }),
    ]);
    failing = true;
    const pending = await sendOperatorMessage(
      w.t.ctx.db,
      w.t.clock,
      actor,
      { dialogId: sms!.dialogId, text: 'Слушаю' },
      { adapters },
    );
    expect(pending.message.delivery).toBe('pending');
    failing = false;
    expect(await retryPendingAnswers(w.t.ctx.db, w.t.clock, adapters)).toBe(0); // too early
    w.t.clock.advance(60_000);
    expect(await retryPendingAnswers(w.t.ctx.db, w.t.clock, adapters)).toBe(1);
    const row = await w.t.ctx.db
      .selectFrom('chat_messages')
      .select(['delivery', 'provider_message_id'])
      .where('id', '=', pending.message.id)
      .executeTakeFirstOrThrow();
    expect(row).toMatchObject({ delivery: 'sent', provider_message_id: `pm-chat:${pending.message.id}` });
    // Reserved once although submitted twice.
    const reservations = await w.t.ctx.db
      .selectFrom('reservations')
      .select('id')
      .where('key', '=', `chat:${pending.message.id}`)
      .execute();
    expect(reservations).toHaveLength(1);
  });
});
