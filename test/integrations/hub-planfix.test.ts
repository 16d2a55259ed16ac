import { afterEach, describe, expect, it } from 'vitest';
import { sendVisitorMessage } from '../../src/chat/messages.ts';
import { PlanfixFake } from '../fakes/planfix.ts';
import { backends } from '../support/db.ts';
import { type HubHarness, startHub, waitFor } from './hub-support.ts';

/**
 * Planfix (IN-10) through the hub's receiver URL: a manager's task comment reaches the visitor's dialog
 * as a message of the operator mapped to that manager (Planfix names the author, not an id), or under
 * the manager's name when nobody is mapped; a chat Planfix started by phone lands in the contact's
 * dialog (a new one when there is none) and the answer gives Planfix our contact id as the chat id; a
 * forged request changes nothing; the replies are not pushed back to Planfix as visitor messages.
 */
describe.each(backends)('Planfix manager replies into the chat on $name', (backend) => {
  let h: HubHarness | null = null;
  let planfix: PlanfixFake | null = null;
  afterEach(async () => {
    await h?.close();
    await planfix?.close();
    h = null;
    planfix = null;
  });

  it('files replies under the mapped operator or the manager’s name, by chat id or phone; forged ones change nothing', async () => {
    h = await startHub(backend, { configure: false });
    planfix = await PlanfixFake.start();
    const db = h.t.ctx.db;
    const url = `/api/v1/sites/${h.siteId}/integrations/planfix`;
    const put = await h.t.app.inject({
      method: 'PUT',
      url,
      headers: h.tenant.auth,
      payload: {
        account: 'acme',
        planfixToken: planfix.planfixToken,
        restToken: planfix.restToken,
        apiBaseUrl: planfix.url,
      },
    });
    expect(put.statusCode).toBe(200);
    const state = put.json() as {
      inbound_url_path: string;
      settings: { chatApiKey: string; providerId: string };
    };
    // Our key and provider id are generated and shown (they are entered in Planfix); Planfix's are not.
    expect(state.settings.chatApiKey.length).toBeGreaterThanOrEqual(20);
    expect(state.settings.providerId).toBe(`omnitalk-site-${h.siteId}`);
    expect(put.body).not.toContain(planfix.planfixToken);
    expect(put.body).not.toContain(planfix.restToken);

    const ops = (
      await h.t.app.inject({ method: 'GET', url: `${url}/operators`, headers: h.tenant.auth })
    ).json();
    const operatorId: number = ops.operators[0].id;
    expect(ops.crm_users.map((u: { name: string }) => u.name)).toEqual(['Пётр Петров', 'Мария Иванова']);
    const mapped = await h.t.app.inject({
      method: 'PUT',
      url: `${url}/operators`,
      headers: h.tenant.auth,
      payload: { mapping: [{ user_id: operatorId, crm_user_id: '5' }] },
    });
    expect(mapped.statusCode).toBe(200);

    // A visitor who left a phone in the chat: a contact with a web dialog.
    const visitor = await h.visitor('pf-1');
    await sendVisitorMessage(db, h.t.clock, visitor, { clientId: 'a', text: 'Здравствуйте' });
    await sendVisitorMessage(db, h.t.clock, visitor, { clientId: 'b', text: 'мой телефон +7 916 700-11-22' });
    const webDialog = await db
      .selectFrom('dialogs')
      .select(['id', 'contact_id'])
      .where('visitor_id', '=', visitor.id)
      .executeTakeFirstOrThrow();
    const contactId = webDialog.contact_id!;
    expect(contactId).toBeGreaterThan(0);

    const post = (fields: Record<string, string>) =>
      h!.t.app.inject({
        method: 'POST',
        url: state.inbound_url_path,
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        payload: new URLSearchParams({
          cmd: 'newMessage',
          providerId: state.settings.providerId,
          token: state.settings.chatApiKey,
          ...fields,
        }).toString(),
      });
    const counts = async () => ({
      messages: (await db.selectFrom('chat_messages').select('id').execute()).length,
      dialogs: (await db.selectFrom('dialogs').select('id').execute()).length,
      contacts: (await db.selectFrom('contacts').select('id').execute()).length,
      outbox: (await db.selectFrom('outbox').select('id').execute()).length,
    });
    const before = await counts();

    // Forged: another key, no key, another provider, a GET. Rejected, nothing written.
    const forged = [
      await post({ chatId: String(contactId), message: 'x', messageId: 'f1', token: 'y'.repeat(43) }),
      await post({ chatId: String(contactId), message: 'x', messageId: 'f2', token: '' }),
      await post({ chatId: String(contactId), message: 'x', messageId: 'f3', providerId: 'someone-else' }),
      await post({ contactPhone: '79990001122', message: 'x', messageId: 'f4', token: 'z'.repeat(43) }),
    ];
    expect(forged.map((r) => r.statusCode)).toEqual([401, 401, 403, 401]);
    const get = await h.t.app.inject({ method: 'GET', url: state.inbound_url_path });
    expect(get.statusCode).toBe(400);
    expect(await counts()).toEqual(before);

    // Пётр Петров is mapped to our operator: his comment is that operator's message in the web dialog.
    const mine = await post({
      chatId: String(contactId),
      message: 'Добрый день! Чем помочь?',
      messageId: '4188849',
      userName: 'Пётр',
      userLastName: 'Петров',
    });
    expect(mine.statusCode).toBe(200);
    expect(mine.json()).toEqual({ chatId: String(contactId), contactId: String(contactId) });
    // Мария Иванова is nobody's: her comment shows her name.
    await post({
      chatId: String(contactId),
      message: 'Я подключусь позже',
      messageId: '4188850',
      userName: 'Мария',
      userLastName: 'Иванова',
    });
    // Planfix redelivers a comment: stored once.
    await post({
      chatId: String(contactId),
      message: 'Добрый день! Чем помочь?',
      messageId: '4188849',
      userName: 'Пётр',
      userLastName: 'Петров',
    });
    const web = await db
      .selectFrom('chat_messages')
      .select(['author', 'operator_id', 'text'])
      .where('dialog_id', '=', webDialog.id)
      .where('author', '=', 'operator')
      .orderBy('id')
      .execute();
    expect(web).toEqual([
      { author: 'operator', operator_id: operatorId, text: 'Добрый день! Чем помочь?' },
      { author: 'operator', operator_id: null, text: 'Мария Иванова: Я подключусь позже' },
    ]);

    // A chat Planfix started from the known contact's phone: into the contact's web dialog, and Planfix
    // learns our contact id as the chat id.
    const byKnownPhone = await post({
      contactPhone: '79167001122',
      message: 'Вам звонили из отдела продаж',
      messageId: '4188851',
      userName: 'Пётр',
      userLastName: 'Петров',
    });
    expect(byKnownPhone.json()).toEqual({ chatId: String(contactId), contactId: String(contactId) });
    expect(
      (
        await db
          .selectFrom('chat_messages')
          .select('dialog_id')
          .where('source_key', 'like', '%:4188851')
          .executeTakeFirstOrThrow()
      ).dialog_id,
    ).toBe(webDialog.id);

    // From a phone we have never seen: a new phone dialog with the contact captured, assigned to the
    // mapped operator; a redelivery answers the same ids and opens nothing more.
    const fresh = {
      contactPhone: '8 (999) 000-11-22',
      message: 'Напоминаем о встрече',
      messageId: '4188852',
    };
    const byNewPhone = await post({ ...fresh, userName: 'Пётр', userLastName: 'Петров' });
    expect(byNewPhone.statusCode).toBe(200);
    const opened = await db
      .selectFrom('dialogs')
      .innerJoin('contacts', 'contacts.id', 'dialogs.contact_id')
      .select([
        'dialogs.id',
        'dialogs.channel',
        'dialogs.address',
        'dialogs.operator_id',
        'contacts.id as contact_id',
      ])
      .where('contacts.phone', '=', '+79990001122')
      .execute();
    expect(opened).toHaveLength(1);
    expect(opened[0]).toMatchObject({ channel: 'phone', address: '+79990001122', operator_id: operatorId });
    const newContact = String(opened[0]!.contact_id);
    expect(byNewPhone.json()).toEqual({ chatId: newContact, contactId: newContact });
    const again = await post({ ...fresh, userName: 'Пётр', userLastName: 'Петров' });
    expect(again.json()).toEqual({ chatId: newContact, contactId: newContact });
    const inOpened = await db
      .selectFrom('chat_messages')
      .select(['author', 'operator_id', 'text'])
      .where('dialog_id', '=', opened[0]!.id)
      .execute();
    expect(inOpened).toEqual([{ author: 'operator', operator_id: operatorId, text: 'Напоминаем о встрече' }]);
    // The chat it started continues under our contact id.
    await post({
      chatId: newContact,
      message: 'Ждём вас',
      messageId: '4188853',
      userName: 'Пётр',
      userLastName: 'Петров',
    });
    expect(
      (await db.selectFrom('chat_messages').select('id').where('dialog_id', '=', opened[0]!.id).execute())
        .length,
    ).toBe(2);

    // The runner pushes both contacts to Planfix, but never the managers' own comments back as if the
    // visitor had written them.
    await h.startRunner({ rateLimit: { requestsPerSecond: 50 } });
    await waitFor(
      () => db.selectFrom('integration_events').select('status').execute(),
      (rows) => rows.length > 0 && rows.every((r) => r.status === 'done'),
      30_000,
    );
    const posted = planfix.server.requests
      .filter((r) => r.path === '/webchat/api' && r.form.get('cmd') === 'newMessage')
      .map((r) => r.form.get('message') ?? '');
    expect(posted.join('\n')).toContain('Здравствуйте');
    for (const staff of [
      'Чем помочь',
      'Я подключусь позже',
      'Вам звонили',
      'Напоминаем о встрече',
      'Ждём вас',
    ])
      expect(posted.join('\n')).not.toContain(staff);
  });
});
