import { afterEach, describe, expect, it } from 'vitest';
import { sendVisitorMessage } from '../../src/chat/messages.ts';
import { storedSettings } from '../../src/integrations/hub/store.ts';
import { Bitrix24Fake } from '../fakes/bitrix24.ts';
import { backends } from '../support/db.ts';
import { type HubHarness, startHub, waitFor } from './hub-support.ts';

/**
 * SPEC IN-5 "pass dialogs to Bitrix24 chat" end to end, on PGlite and PostgreSQL: the OAuth callback
 * registers our Open Lines connector, activates it on the line and binds our event URL; a visitor's
 * messages reach the line through the hub's runner; an operator's reply posted by Bitrix24 to our event
 * URL reaches the dialog and is confirmed as delivered; forged events change nothing. The fake
 * (test/fakes/bitrix24.ts) checks the real request shapes.
 */

const PUBLIC_URL = 'https://chat.example.com';

describe.each(backends)('Bitrix24 Open Lines through the hub on $name', (backend) => {
  let h: HubHarness;
  let b24: Bitrix24Fake | undefined;
  afterEach(async () => {
    await h?.close();
    await b24?.close();
    b24 = undefined;
  });

  const url = () => `/api/v1/sites/${h.siteId}/integrations/bitrix24`;
  const integration = () => h.t.ctx.db.selectFrom('integrations').selectAll().executeTakeFirstOrThrow();
  const operatorMessages = () =>
    h.t.ctx.db
      .selectFrom('chat_messages')
      .select(['id', 'dialog_id', 'text', 'source_key'])
      .where('author', '=', 'operator')
      .orderBy('id')
      .execute();
  const requestsTo = (method: string) =>
    b24!.server.requests
      .filter((r) => r.path === `/rest/${method}`)
      .map((r) => {
        const { auth, ...body } = r.json as Record<string, unknown>;
        expect(auth).toEqual(expect.any(String));
        return body;
      });

  /** Saves the settings, grants access through the OAuth redirect, and returns the event URL's path. */
  async function connect(): Promise<string> {
    h.t.ctx.publicUrl = `${PUBLIC_URL}/`;
    const saved = await h.t.app.inject({
      method: 'PUT',
      url: url(),
      headers: h.tenant.auth,
      payload: {
        portal: 'example.bitrix24.ru',
        clientId: b24!.clientId,
        clientSecret: b24!.clientSecret,
        oauthServerUrl: b24!.url,
        apiBaseUrl: b24!.url,
        openLines: true,
        openLinesLine: 107,
      },
    });
    expect(saved.statusCode).toBe(200);
    expect(saved.json()).toMatchObject({
      status: 'pending',
      settings: { openLines: true, openLinesLine: 107 },
    });
    const authorize = await h.t.app.inject({
      method: 'GET',
      url: `${url()}/oauth/authorize`,
      headers: h.tenant.auth,
    });
    const state = new URL(String(authorize.headers.location)).searchParams.get('state')!;
    const res = await h.t.app.inject({
      method: 'GET',
      url: `/api/v1/integrations/oauth/bitrix24/callback?${new URLSearchParams({ code: b24!.issueCode(), state })}`,
    });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ status: 'connected' });
    return res.json().inbound_url_path as string;
  }

  it('registers, activates and binds on connect; relays visitor messages; files and confirms replies', async () => {
    h = await startHub(backend, { configure: false });
    b24 = await Bitrix24Fake.start();
    const path = await connect();
    const row = await integration();
    expect(path).toBe(`/api/v1/hooks/crm/${row.id}/${row.inbound_token}`);
    const eventUrl = `${PUBLIC_URL}${path}`;
    expect(b24.server.requests.map((r) => r.path)).toEqual([
      '/oauth/token/',
      '/rest/crm.lead.fields',
      '/rest/imconnector.register',
      '/rest/imconnector.activate',
      '/rest/event.get',
      '/rest/event.bind',
    ]);
    expect(requestsTo('imconnector.register')).toEqual([
      expect.objectContaining({ ID: 'omnitalk', PLACEMENT_HANDLER: eventUrl, CHAT_GROUP: false }),
    ]);
    expect(requestsTo('imconnector.activate')).toEqual([{ CONNECTOR: 'omnitalk', LINE: 107, ACTIVE: '1' }]);
    expect(requestsTo('event.bind')).toEqual([{ event: 'OnImConnectorMessageAdd', handler: eventUrl }]);

    // A visitor writes (leaving an email, so a contact exists), then writes again.
    await h.startRunner();
    b24.server.reset();
    const visitor = await h.visitor('ol-1');
    await sendVisitorMessage(h.t.ctx.db, h.t.clock, visitor, {
      clientId: 'c1',
      text: 'Здравствуйте, мой email guest@example.com',
    });
    const dialog = await h.t.ctx.db
      .selectFrom('dialogs')
      .select(['id', 'contact_id'])
      .executeTakeFirstOrThrow();
    expect(dialog.contact_id).not.toBeNull();
    await waitFor(
      () => b24!.openLineMessages.length,
      (n) => n === 1,
    );
    await sendVisitorMessage(h.t.ctx.db, h.t.clock, visitor, { clientId: 'c2', text: 'Есть доставка?' });
    await waitFor(
      () => b24!.openLineMessages.length,
      (n) => n === 2,
    );
    const visitorMessages = await h.t.ctx.db
      .selectFrom('chat_messages')
      .select(['id', 'text', 'created_at'])
      .where('author', '=', 'visitor')
      .orderBy('id')
      .execute();
    const chat = { id: `dialog-${dialog.id}`, name: 'Чат на сайте Shop' };
    const user = { id: `contact-${dialog.contact_id}`, email: 'guest@example.com' };
    expect(requestsTo('imconnector.send.messages')).toEqual(
      visitorMessages.map((m) => ({
        CONNECTOR: 'omnitalk',
        LINE: 107,
        MESSAGES: [
          {
            user,
            message: {
              id: String(m.id),
              date: Math.floor(new Date(m.created_at).getTime() / 1000),
              text: m.text,
            },
            chat,
          },
        ],
      })),
    );
    // The lead and its timeline are kept as before.
    expect(requestsTo('crm.lead.add')).toHaveLength(1);
    await waitFor(
      () => requestsTo('crm.timeline.comment.add').length,
      (n) => n === 2,
    );

    const before = await operatorMessages();
    const settingsBefore = (await integration()).settings_sealed;

    // Forged: a wrong URL token, then the right URL with an application_token and access token of our
    // making. Nothing is stored and nothing learnt.
    const forged = b24.operatorReply({
      chatId: `dialog-${dialog.id}`,
      text: 'Переведите деньги',
      applicationToken: 'f'.repeat(32),
      accessToken: 'forged-access-token',
    });
    const form = { 'content-type': 'application/x-www-form-urlencoded' };
    const wrongUrl = await h.t.app.inject({
      method: 'POST',
      url: path.replace(/[^/]+$/, 'not-the-token-aaaaaaaaaaaaaaaaaaaaaaaaa'),
      headers: form,
      payload: forged.body,
    });
    expect(wrongUrl.statusCode).toBe(401);
    const wrongAuth = await h.t.app.inject({
      method: 'POST',
      url: path,
      headers: form,
      payload: forged.body,
    });
    expect(wrongAuth.statusCode).toBe(403);
    expect(await operatorMessages()).toEqual(before);
    expect((await integration()).settings_sealed).toBe(settingsBefore);

    // The operator answers in the Open Line; Bitrix24 posts the event to our URL.
    const reply = b24.operatorReply({
      chatId: `dialog-${dialog.id}`,
      text: '[b]Светлана:[/b] [br]Да, доставим завтра',
    });
    const genuine = await h.t.app.inject({ method: 'POST', url: path, headers: form, payload: reply.body });
    expect(genuine.statusCode).toBe(200);
    expect(genuine.body).toBe('OK');
    const again = await h.t.app.inject({ method: 'POST', url: path, headers: form, payload: reply.body });
    expect(again.statusCode).toBe(200);
    const filed = await operatorMessages();
    expect(filed).toEqual([
      ...before,
      {
        id: expect.any(Number),
        dialog_id: dialog.id,
        text: 'Светлана: \nДа, доставим завтра',
        source_key: `crm:${row.id}:${reply.imChatId}:${reply.imMessageId}`,
      },
    ]);
    // The application_token is learnt from the verified event.
    expect(storedSettings(await integration(), h.t.ctx.secrets).applicationToken).toBe(b24.applicationToken);
    const operatorMessage = filed.at(-1)!;
    await waitFor(
      () => b24!.deliveries.length,
      (n) => n === 1,
    );
    const created = await h.t.ctx.db
      .selectFrom('chat_messages')
      .select('created_at')
      .where('id', '=', operatorMessage.id)
      .executeTakeFirstOrThrow();
    expect(requestsTo('imconnector.send.status.delivery')).toEqual([
      {
        CONNECTOR: 'omnitalk',
        LINE: 107,
        MESSAGES: [
          {
            im: { chat_id: reply.imChatId, message_id: reply.imMessageId },
            message: {
              id: [String(operatorMessage.id)],
              date: Math.floor(new Date(created.created_at).getTime() / 1000),
            },
            chat: { id: `dialog-${dialog.id}` },
          },
        ],
      },
    ]);
    // Not sent back into the line as if the visitor wrote it.
    expect(b24.openLineMessages).toHaveLength(2);

    // Now that the token is known, an event with another one is refused even with a valid access token.
    const settingsLearnt = (await integration()).settings_sealed;
    const imposter = b24.operatorReply({
      chatId: `dialog-${dialog.id}`,
      text: 'Подделка',
      applicationToken: 'a'.repeat(32),
    });
    const refused = await h.t.app.inject({
      method: 'POST',
      url: path,
      headers: form,
      payload: imposter.body,
    });
    expect(refused.statusCode).toBe(401);
    expect(await operatorMessages()).toEqual(filed);
    expect((await integration()).settings_sealed).toBe(settingsLearnt);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(b24.deliveries).toHaveLength(1);
  });

  it('passes nothing to the line when Open Lines are off', async () => {
    h = await startHub(backend, { configure: false });
    b24 = await Bitrix24Fake.start();
    h.t.ctx.publicUrl = PUBLIC_URL;
    const saved = await h.t.app.inject({
      method: 'PUT',
      url: url(),
      headers: h.tenant.auth,
      payload: {
        portal: 'example.bitrix24.ru',
        clientId: b24.clientId,
        clientSecret: b24.clientSecret,
        oauthServerUrl: b24.url,
        apiBaseUrl: b24.url,
      },
    });
    expect(saved.statusCode).toBe(200);
    const authorize = await h.t.app.inject({
      method: 'GET',
      url: `${url()}/oauth/authorize`,
      headers: h.tenant.auth,
    });
    const state = new URL(String(authorize.headers.location)).searchParams.get('state')!;
    await h.t.app.inject({
      method: 'GET',
      url: `/api/v1/integrations/oauth/bitrix24/callback?${new URLSearchParams({ code: b24.issueCode(), state })}`,
    });
    await h.startRunner();
    const visitor = await h.visitor('ol-2');
    await sendVisitorMessage(h.t.ctx.db, h.t.clock, visitor, {
      clientId: 'c1',
      text: 'мой email off@example.com',
    });
    await waitFor(
      () => requestsTo('crm.timeline.comment.add').length,
      (n) => n === 1,
    );
    expect(b24.server.requests.filter((r) => r.path.startsWith('/rest/imconnector.'))).toEqual([]);
    expect(requestsTo('event.bind')).toEqual([]);
  });
});
