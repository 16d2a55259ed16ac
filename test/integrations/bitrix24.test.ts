import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Bitrix24Settings,
  bitrix24,
  bitrix24Settings,
} from '../../src/integrations/crm/bitrix24/index.ts';
import { HttpClient, MemoryTokenStore, type TokenSet } from '../../src/integrations/crm/http.ts';
import { settingsForm } from '../../src/integrations/crm/settings.ts';
import type { CrmContext, InboundRequest } from '../../src/integrations/crm/types.ts';
import { systemClock } from '../../src/shared/clock.ts';
import { Bitrix24Fake } from '../fakes/bitrix24.ts';
import { type CrmContractHarness, runCrmContract } from './crm-contract.ts';

let stores = 0;
const APP_TOKEN = '831c76b092f9f135d9b6b36c3a720757';
/** The unguessable last segment of our event URL (the hub fills webhookToken with it). */
const URL_TOKEN = 'Xq3v0m4-event-url-token-aaaaaaaaaaaaaaaaaaa';
const EVENT_URL = `https://chat.example.com/api/v1/hooks/crm/7/${URL_TOKEN}`;
/** What an Open Lines integration adds to the settings (the line, and the URL the hub fills). */
const OPEN_LINES = { openLines: true, openLinesLine: 107, inboundUrl: EVENT_URL };

type Mode = 'oauth' | 'webhook';

function settingsFor(
  fake: Bitrix24Fake,
  mode: Mode,
  overrides: Record<string, unknown> = {},
): Bitrix24Settings {
  return bitrix24Settings.parse({
    portal: 'example.bitrix24.ru',
    ...(mode === 'webhook'
      ? { webhookUrl: fake.webhookUrl }
      : {
          clientId: fake.clientId,
          clientSecret: fake.clientSecret,
          apiBaseUrl: fake.url,
          oauthServerUrl: fake.url,
        }),
    applicationToken: APP_TOKEN,
    webhookToken: URL_TOKEN,
    ...overrides,
  });
}

function contextFor(
  fake: Bitrix24Fake,
  mode: Mode,
  tokens: TokenSet | null,
  options: { timeoutMs?: number; settings?: Record<string, unknown> } = {},
): CrmContext<Bitrix24Settings> & { tokens: MemoryTokenStore } {
  stores += 1;
  return {
    settings: settingsFor(fake, mode, options.settings),
    http: new HttpClient({ timeoutMs: options.timeoutMs ?? 5000 }),
    tokens: new MemoryTokenStore(`bitrix24-test:${stores}`, tokens),
    clock: systemClock,
  };
}

function inboundRequest(
  body: string,
  contentType = 'application/x-www-form-urlencoded',
  path = `/${URL_TOKEN}`,
): InboundRequest {
  return {
    method: 'POST',
    path,
    query: new URLSearchParams(),
    headers: { 'content-type': contentType },
    rawBody: body,
  };
}

function messageEvent(token: string, extra: Record<string, string> = {}): string {
  return new URLSearchParams({
    event: 'ONIMCONNECTORMESSAGEADD',
    'data[CONNECTOR]': 'omnitalk',
    'data[LINE]': '107',
    'data[MESSAGES][0][im][chat_id]': '1807',
    'data[MESSAGES][0][im][message_id]': '86497',
    'data[MESSAGES][0][message][user_id]': '27',
    'data[MESSAGES][0][message][text]': '[b]Светлана Иванова:[/b] [br]Добрый день!',
    'data[MESSAGES][0][chat][id]': 'dialog-42',
    ts: '1773759161',
    'auth[domain]': 'example.bitrix24.ru',
    'auth[member_id]': 'bac1cd5c8940947a75e0d71b1a84e348',
    'auth[application_token]': token,
    ...extra,
  }).toString();
}

function harness(mode: Mode) {
  return async (): Promise<CrmContractHarness<Bitrix24Settings>> => {
    const fake = await Bitrix24Fake.start();
    const fresh = () => (mode === 'oauth' ? fake.issueTokens() : null);
    return {
      connector: bitrix24,
      server: fake.server,
      ctx: async (options) => contextFor(fake, mode, fresh(), options),
      badCredentials: async () =>
        mode === 'oauth'
          ? contextFor(fake, mode, {
              accessToken: 'forged',
              refreshToken: 'forged',
              expiresAt: Date.now() + 3600_000,
            })
          : contextFor(fake, mode, null, { settings: { webhookUrl: `${fake.url}/rest/1/wrongcode/` } }),
      records: () =>
        [...fake.entities.values()].map((e) => ({
          id: e.ID,
          name: String(e.fields.NAME ?? ''),
          phones: e.PHONE.map((m) => m.VALUE),
          emails: e.EMAIL.map((m) => m.VALUE),
          notes: e.comments,
        })),
      seed: (data) => {
        fake.seed('CONTACT', data);
      },
      isCreate: (r) => r.path.endsWith('/crm.lead.add'),
      userIds: ['1', '10', '63'],
      rateLimited: {
        response: {
          status: 503,
          body: { error: 'QUERY_LIMIT_EXCEEDED', error_description: 'Too many requests' },
        },
        retryAfterMs: 1000,
      },
      ...(mode === 'oauth'
        ? {
            tokens: { expire: () => fake.expireAccessTokens(), isRefresh: (r) => r.path === '/oauth/token/' },
          }
        : {}),
      inbound: {
        genuine: () => inboundRequest(messageEvent(APP_TOKEN)),
        forged: () => [
          inboundRequest(messageEvent('0000000000000000000000000000000')),
          inboundRequest(messageEvent('')),
          inboundRequest(messageEvent(APP_TOKEN), undefined, '/not-the-url-token-aaaaaaaaaaaaaaaaaa'),
          inboundRequest(
            JSON.stringify({ event: 'ONIMCONNECTORMESSAGEADD', auth: { application_token: 'x' } }),
            'application/json',
          ),
        ],
      },
      close: () => fake.close(),
    };
  };
}

runCrmContract('bitrix24 (application, OAuth)', harness('oauth'));
runCrmContract('bitrix24 (inbound webhook)', harness('webhook'));

describe('Bitrix24 connector: requests on the wire', () => {
  let fake: Bitrix24Fake;
  beforeAll(async () => {
    fake = await Bitrix24Fake.start();
  });
  afterAll(() => fake.close());

  it('needs a webhook or application keys, and keeps both secret', () => {
    expect(bitrix24Settings.safeParse({ portal: 'example.bitrix24.ru' }).success).toBe(false);
    const form = settingsForm(bitrix24Settings);
    expect(form.filter((f) => f.secret).map((f) => f.key)).toEqual(['webhookUrl', 'clientSecret']);
    expect(form.map((f) => f.key)).not.toContain('applicationToken');
    expect(bitrix24.baseUrl(settingsFor(fake, 'webhook'))).toBe(`${fake.url}/rest/1/${fake.webhookCode}`);
    expect(bitrix24.baseUrl(settingsFor(fake, 'oauth', { apiBaseUrl: undefined }))).toBe(
      'https://example.bitrix24.ru/rest',
    );
  });

  it('creates a lead through the webhook with contact data, source and responsible manager', async () => {
    const ctx = contextFor(fake, 'webhook', null);
    fake.server.reset();
    const ref = await bitrix24.createEntity(
      ctx,
      {
        contactId: 'c-7',
        name: 'Иван Петров',
        phones: ['+79161234567'],
        emails: ['ivan@example.com'],
        comment: 'Нужна доставка',
        siteName: 'shop.example.com',
      },
      { responsibleUserId: '27' },
    );
    expect(ref.kind).toBe('lead');
    const [add] = fake.server.requests;
    expect(add?.method).toBe('POST');
    expect(add?.path).toBe(`/rest/1/${fake.webhookCode}/crm.lead.add`);
    expect(add?.json).toEqual({
      fields: {
        TITLE: 'Онлайн-чат: Иван Петров',
        NAME: 'Иван',
        LAST_NAME: 'Петров',
        PHONE: [{ VALUE: '+79161234567', VALUE_TYPE: 'WORK' }],
        EMAIL: [{ VALUE: 'ivan@example.com', VALUE_TYPE: 'WORK' }],
        ASSIGNED_BY_ID: 27,
        SOURCE_ID: 'WEB',
        SOURCE_DESCRIPTION: 'Онлайн-чат shop.example.com',
        STATUS_ID: 'NEW',
        OPENED: 'Y',
        ORIGINATOR_ID: 'omnitalk',
        ORIGIN_ID: 'c-7',
        COMMENTS: 'Нужна доставка',
      },
      params: { REGISTER_SONET_EVENT: 'Y' },
    });
  });

  it('searches leads, then contacts, by phone and by email with findbycomm', async () => {
    const tokens = fake.issueTokens();
    const ctx = contextFor(fake, 'oauth', tokens);
    const contact = fake.seed('CONTACT', { name: 'Мария', phones: [], emails: ['maria@example.com'] });
    fake.server.reset();
    const ref = await bitrix24.findContact(ctx, { phones: ['+79031112233'], emails: ['Maria@Example.com'] });
    expect(ref).toEqual({ kind: 'contact', id: contact.ID });
    const bodies = fake.server.requests.map((r) => {
      const { auth, ...rest } = r.json as Record<string, unknown>;
      expect(auth).toBe(tokens.accessToken);
      return [r.path, rest];
    });
    expect(bodies).toEqual([
      ['/rest/crm.duplicate.findbycomm', { entity_type: 'LEAD', type: 'PHONE', values: ['+79031112233'] }],
      [
        '/rest/crm.duplicate.findbycomm',
        { entity_type: 'LEAD', type: 'EMAIL', values: ['Maria@Example.com'] },
      ],
      ['/rest/crm.duplicate.findbycomm', { entity_type: 'CONTACT', type: 'PHONE', values: ['+79031112233'] }],
      [
        '/rest/crm.duplicate.findbycomm',
        { entity_type: 'CONTACT', type: 'EMAIL', values: ['Maria@Example.com'] },
      ],
    ]);
  });

  it('adds missing phones and emails as new multi-field values and comments on the timeline', async () => {
    const ctx = contextFor(fake, 'webhook', null);
    const lead = fake.seed('LEAD', { name: '', phones: ['8 (916) 222-33-44'], emails: [] });
    fake.server.reset();
    await bitrix24.updateEntity(
      ctx,
      { kind: 'lead', id: lead.ID },
      {
        contactId: 'c',
        name: 'Ольга Смирнова',
        phones: ['+79162223344', '+79165556677'],
        emails: ['olga@example.com'],
      },
    );
    await bitrix24.attachNote(ctx, { kind: 'lead', id: lead.ID }, { kind: 'transcript', text: 'Диалог' });
    const calls = fake.server.requests.map((r) => [r.path.split('/').pop(), r.json]);
    expect(calls).toEqual([
      ['crm.lead.get', { id: Number(lead.ID) }],
      [
        'crm.lead.update',
        {
          id: Number(lead.ID),
          fields: {
            PHONE: [{ VALUE: '+79165556677', VALUE_TYPE: 'WORK' }],
            EMAIL: [{ VALUE: 'olga@example.com', VALUE_TYPE: 'WORK' }],
            NAME: 'Ольга',
            LAST_NAME: 'Смирнова',
          },
        },
      ],
      [
        'crm.timeline.comment.add',
        { fields: { ENTITY_ID: Number(lead.ID), ENTITY_TYPE: 'lead', COMMENT: 'Диалог' } },
      ],
    ]);
    expect(lead.PHONE.map((m) => m.VALUE)).toEqual(['8 (916) 222-33-44', '+79165556677']);
  });

  it('reports a deleted lead as not found', async () => {
    const ctx = contextFor(fake, 'webhook', null);
    await expect(
      bitrix24.updateEntity(
        ctx,
        { kind: 'lead', id: '999999' },
        { contactId: 'c', name: null, phones: ['+79160000001'], emails: [] },
      ),
    ).rejects.toMatchObject({ kind: 'permanent', reason: 'not_found' });
  });

  it('pages through user.get fifty at a time', async () => {
    const ctx = contextFor(fake, 'webhook', null);
    fake.server.reset();
    const users = await bitrix24.listUsers(ctx);
    expect(users).toHaveLength(fake.users.length);
    expect(users.find((u) => u.id === '13')?.active).toBe(false);
    expect(fake.server.requests.map((r) => (r.json as { start: number }).start)).toEqual([0, 50]);
  });

  it('exchanges the install code at the OAuth server and takes the portal from client_endpoint', async () => {
    const ctx = contextFor(fake, 'oauth', null, { settings: { portal: 'typed-by-user.bitrix24.ru' } });
    const url = new URL(bitrix24.oauth.authorizeUrl(ctx.settings, 's1'));
    expect(url.toString()).toBe(
      `https://typed-by-user.bitrix24.ru/oauth/authorize/?client_id=${fake.clientId}&state=s1`,
    );
    fake.server.reset();
    const code = fake.issueCode();
    const stored = await bitrix24.oauth.exchangeCode(
      ctx,
      new URLSearchParams({ code, state: 's1', domain: 'evil.example.com', member_id: 'x' }),
    );
    expect(stored.portal).toBe('example.bitrix24.ru');
    const [exchange] = fake.server.requests;
    expect(exchange?.method).toBe('GET');
    expect(exchange?.path).toBe('/oauth/token/');
    expect(Object.fromEntries(exchange!.query)).toEqual({
      grant_type: 'authorization_code',
      code,
      client_id: fake.clientId,
      client_secret: fake.clientSecret,
    });
    expect((await ctx.tokens.load())?.extra).toEqual({
      member_id: 'a223c6b3710f85df22e9377d6c4f7553',
      client_endpoint: 'https://example.bitrix24.ru/rest/',
    });
  });

  it('refreshes on expired_token with the refresh grant and asks to reinstall on invalid_grant', async () => {
    const initial = fake.issueTokens();
    const ctx = contextFor(fake, 'oauth', initial);
    fake.expireAccessTokens();
    fake.server.reset();
    await bitrix24.testConnection(ctx);
    const refresh = fake.server.requests.find((r) => r.path === '/oauth/token/');
    expect(Object.fromEntries(refresh!.query)).toEqual({
      grant_type: 'refresh_token',
      refresh_token: initial.refreshToken,
      client_id: fake.clientId,
      client_secret: fake.clientSecret,
    });
    const stale = contextFor(fake, 'oauth', { ...initial, accessToken: 'expired' });
    await expect(bitrix24.testConnection(stale)).rejects.toMatchObject({
      reason: 'reauthorization_required',
    });
  });

  it('turns an Open Lines operator reply into a staff message and checks the application token', async () => {
    const ctx = contextFor(fake, 'oauth', fake.issueTokens(), { settings: OPEN_LINES });
    const result = await bitrix24.parseInbound(ctx, inboundRequest(messageEvent(APP_TOKEN)));
    expect(result).toEqual({
      ok: true,
      events: [
        {
          type: 'staff_message',
          conversationRef: 'dialog-42',
          crmUserId: '27',
          text: 'Светлана Иванова: \nДобрый день!',
          externalMessageId: '1807:86497',
        },
      ],
      reply: { status: 200, contentType: 'text/plain; charset=utf-8', body: 'OK' },
    });
    const json = JSON.stringify({
      event: 'ONIMCONNECTORMESSAGEADD',
      data: {
        CONNECTOR: 'omnitalk',
        LINE: 107,
        MESSAGES: [{ im: { message_id: 1 }, message: { user_id: 5, text: 'Привет' }, chat: { id: 'd-1' } }],
      },
      auth: { application_token: APP_TOKEN },
    });
    expect(await bitrix24.parseInbound(ctx, inboundRequest(json, 'application/json'))).toMatchObject({
      ok: true,
      events: [{ type: 'staff_message', conversationRef: 'd-1', text: 'Привет' }],
    });
    // Another line or another connector of the same app: not ours.
    const others: Record<string, string>[] = [{ 'data[LINE]': '108' }, { 'data[CONNECTOR]': 'someone_else' }];
    for (const extra of others) {
      expect(await bitrix24.parseInbound(ctx, inboundRequest(messageEvent(APP_TOKEN, extra)))).toMatchObject({
        ok: true,
        events: [{ type: 'ignored' }],
      });
    }
    // No token known and no application to verify the event's auth with (a webhook): refused.
    const noToken = contextFor(fake, 'webhook', null, { settings: { applicationToken: undefined } });
    expect(await bitrix24.parseInbound(noToken, inboundRequest(messageEvent(APP_TOKEN)))).toMatchObject({
      ok: false,
      status: 403,
    });
    // A wrong URL token is refused before the body is read.
    expect(
      await bitrix24.parseInbound(ctx, inboundRequest(messageEvent(APP_TOKEN), undefined, '/wrong')),
    ).toMatchObject({ ok: false, status: 401 });
    const other = new URLSearchParams({
      event: 'ONIMCONNECTORDIALOGFINISH',
      'auth[application_token]': APP_TOKEN,
    });
    expect(await bitrix24.parseInbound(ctx, inboundRequest(other.toString()))).toMatchObject({
      ok: true,
      events: [{ type: 'ignored' }],
    });
  });

  it('ignores prototype keys in form events', async () => {
    const ctx = contextFor(fake, 'webhook', null);
    const body = `${messageEvent(APP_TOKEN)}&data[__proto__][polluted]=1`;
    await bitrix24.parseInbound(ctx, inboundRequest(body));
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe('Bitrix24 Open Lines: requests on the wire', () => {
  let fake: Bitrix24Fake;
  beforeAll(async () => {
    fake = await Bitrix24Fake.start();
  });
  afterAll(() => fake.close());

  const openLinesCtx = (settings: Record<string, unknown> = {}) =>
    contextFor(fake, 'oauth', fake.issueTokens(), { settings: { ...OPEN_LINES, ...settings } });
  const calls = () =>
    fake.server.requests.map((r) => {
      const { auth: _auth, ...body } = (r.json ?? {}) as Record<string, unknown>;
      return [r.path, body];
    });

  it('needs the application and a line: webhooks get no imconnector methods', () => {
    const base = { portal: 'example.bitrix24.ru', openLines: true };
    expect(
      bitrix24Settings.safeParse({ ...base, webhookUrl: fake.webhookUrl, openLinesLine: 1 }).error?.issues[0]
        ?.path,
    ).toEqual(['openLines']);
    expect(
      bitrix24Settings.safeParse({ ...base, clientId: 'a', clientSecret: 'b' }).error?.issues[0]?.path,
    ).toEqual(['openLinesLine']);
    expect(settingsForm(bitrix24Settings).map((f) => f.key)).toEqual(
      expect.arrayContaining(['openLines', 'openLinesLine']),
    );
    expect(settingsForm(bitrix24Settings).map((f) => f.key)).not.toContain('inboundUrl');
  });

  it('registers the connector, activates it on the line and binds our event URL on connect, once', async () => {
    const ctx = openLinesCtx();
    fake.server.reset();
    await bitrix24.testConnection(ctx);
    const [, register, activate, get, bind, ...rest] = calls();
    expect(rest).toEqual([]);
    expect(register).toEqual([
      '/rest/imconnector.register',
      {
        ID: 'omnitalk',
        NAME: 'omnitalk',
        ICON: {
          DATA_IMAGE: expect.stringMatching(/^data:image\/svg\+xml,%3Csvg/),
          COLOR: '#2f80ed',
          SIZE: '90%',
          POSITION: 'center',
        },
        ICON_DISABLED: expect.objectContaining({ COLOR: '#99adb3' }),
        PLACEMENT_HANDLER: EVENT_URL,
        CHAT_GROUP: false,
      },
    ]);
    expect(activate).toEqual([
      '/rest/imconnector.activate',
      { CONNECTOR: 'omnitalk', LINE: 107, ACTIVE: '1' },
    ]);
    expect(get).toEqual(['/rest/event.get', {}]);
    expect(bind).toEqual(['/rest/event.bind', { event: 'OnImConnectorMessageAdd', handler: EVENT_URL }]);
    for (const r of fake.server.requests) expect((r.json as { auth?: string }).auth).toBeTruthy();
    expect(fake.handlers).toEqual([
      { event: 'ONIMCONNECTORMESSAGEADD', handler: EVENT_URL, auth_type: '0', offline: 0 },
    ]);

    // Saved again: registered and activated again, the bound handler is left alone.
    fake.server.reset();
    await bitrix24.testConnection(ctx);
    expect(calls().map(([path]) => path)).toEqual([
      '/rest/crm.lead.fields',
      '/rest/imconnector.register',
      '/rest/imconnector.activate',
      '/rest/event.get',
    ]);
    expect(fake.handlers).toHaveLength(1);
  });

  it('refuses to connect without our public URL, and registers nothing', async () => {
    fake.server.reset();
    await expect(bitrix24.testConnection(openLinesCtx({ inboundUrl: undefined }))).rejects.toMatchObject({
      reason: 'not_configured',
      field: 'openLines',
    });
    expect(calls().map(([path]) => path)).toEqual(['/rest/crm.lead.fields']);
  });

  it("sends visitors' messages with the visitor, our dialog and our message ids", async () => {
    const ctx = openLinesCtx();
    await bitrix24.testConnection(ctx);
    fake.server.reset();
    const sentAt = new Date('2026-11-25T09:00:00Z');
    await bitrix24.chatRelay.send(ctx, [
      {
        conversationRef: 'dialog-42',
        messageId: '901',
        text: 'Здравствуйте, есть доставка?',
        sentAt,
        visitor: {
          contactId: '17',
          name: 'Иван Петров-Водкин 2',
          phones: ['+79161234567'],
          emails: ['ivan@example.com'],
          siteName: 'shop.example.com',
        },
      },
    ]);
    expect(calls()).toEqual([
      [
        '/rest/imconnector.send.messages',
        {
          CONNECTOR: 'omnitalk',
          LINE: 107,
          MESSAGES: [
            {
              user: {
                id: 'contact-17',
                name: 'Иван',
                last_name: 'Петров-Водкин',
                phone: '+79161234567',
                email: 'ivan@example.com',
              },
              message: { id: '901', date: sentAt.getTime() / 1000, text: 'Здравствуйте, есть доставка?' },
              chat: { id: 'dialog-42', name: 'Чат на сайте shop.example.com' },
            },
          ],
        },
      ],
    ]);
    expect(fake.openLineMessages.at(-1)).toMatchObject({ line: 107, chat: { id: 'dialog-42' } });
  });

  it('confirms delivery with the Open Line ids of the event and our message id', async () => {
    const ctx = openLinesCtx();
    fake.server.reset();
    await bitrix24.chatRelay.confirmDelivered(ctx, [
      {
        conversationRef: 'dialog-42',
        externalMessageId: '1807:86497',
        messageId: '905',
        deliveredAt: new Date('2026-11-25T09:01:00Z'),
      },
    ]);
    expect(calls()).toEqual([
      [
        '/rest/imconnector.send.status.delivery',
        {
          CONNECTOR: 'omnitalk',
          LINE: 107,
          MESSAGES: [
            {
              im: { chat_id: 1807, message_id: 86497 },
              message: { id: ['905'], date: Date.parse('2026-11-25T09:01:00Z') / 1000 },
              chat: { id: 'dialog-42' },
            },
          ],
        },
      ],
    ]);
  });

  it('reports a line that is not active as settings to fix (the integration pauses)', async () => {
    const ctx = openLinesCtx({ openLinesLine: 999 });
    const message = {
      conversationRef: 'dialog-1',
      messageId: '1',
      text: 'x',
      sentAt: new Date(),
      visitor: { contactId: '1', name: null, phones: [], emails: ['a@example.com'] },
    };
    await expect(bitrix24.chatRelay.send(ctx, [message])).rejects.toMatchObject({
      kind: 'permanent',
      reason: 'not_configured',
      vendorCode: 'NOT_ACTIVE_LINE',
    });
    // Through a webhook the method is refused outright.
    const hook = contextFor(fake, 'webhook', null, { settings: { clientId: undefined } });
    await expect(
      bitrix24.chatRelay.send({ ...hook, settings: { ...hook.settings, openLinesLine: 107 } }, [message]),
    ).rejects.toMatchObject({ reason: 'not_configured' });
  });

  it('answers the connector settings slider (PLACEMENT_HANDLER) on the event URL with a page, nothing else', async () => {
    const ctx = openLinesCtx();
    const body = new URLSearchParams({
      DOMAIN: 'example.bitrix24.ru',
      AUTH_ID: 'x',
      PLACEMENT: 'SETTING_CONNECTOR',
      PLACEMENT_OPTIONS: JSON.stringify({ LINE: 107, ACTIVE_STATUS: 1 }),
    }).toString();
    expect(await bitrix24.parseInbound(ctx, inboundRequest(body))).toMatchObject({
      ok: true,
      events: [{ type: 'ignored', reason: 'placement' }],
      reply: { status: 200, contentType: 'text/html; charset=utf-8' },
    });
    expect(await bitrix24.parseInbound(ctx, inboundRequest(body, undefined, '/wrong'))).toMatchObject({
      ok: false,
      status: 401,
    });
  });

  it('learns the application token from an event whose auth checks out against the portal', async () => {
    const tokens = fake.issueTokens();
    const ctx = contextFor(
      fake,
      'oauth',
      { ...tokens, extra: { member_id: fake.memberId } },
      {
        settings: { ...OPEN_LINES, applicationToken: undefined },
      },
    );
    const reply = fake.operatorReply({ chatId: 'dialog-42', text: 'Добрый день!', line: 107 });
    fake.server.reset();
    const result = await bitrix24.parseInbound(ctx, inboundRequest(reply.body));
    expect(result).toMatchObject({
      ok: true,
      events: [
        { type: 'settings_learned', settings: { applicationToken: fake.applicationToken } },
        {
          type: 'staff_message',
          conversationRef: 'dialog-42',
          text: 'Добрый день!',
          externalMessageId: `${reply.imChatId}:${reply.imMessageId}`,
        },
      ],
    });
    // Checked with the event's own access token, at the portal of our settings.
    const check = fake.server.requests.at(-1)!;
    expect(check.path).toBe('/rest/app.info');
    expect((check.json as { auth: string }).auth).toBe(
      new URLSearchParams(reply.body).get('auth[access_token]'),
    );

    // A forged access token, or another portal's member_id, teaches nothing.
    const forged = fake.operatorReply({ chatId: 'dialog-42', text: 'x', accessToken: 'forged', line: 107 });
    expect(await bitrix24.parseInbound(ctx, inboundRequest(forged.body))).toMatchObject({
      ok: false,
      status: 403,
    });
    const otherPortal = `${fake.operatorReply({ chatId: 'dialog-42', text: 'x', line: 107 }).body}&auth[member_id]=0000`;
    expect(await bitrix24.parseInbound(ctx, inboundRequest(otherPortal))).toMatchObject({
      ok: false,
      status: 403,
    });
    // Once a token is known, a different one is refused without a check.
    fake.server.reset();
    const known = openLinesCtx();
    const wrong = fake.operatorReply({ chatId: 'dialog-42', text: 'x', line: 107 });
    expect(await bitrix24.parseInbound(known, inboundRequest(wrong.body))).toMatchObject({
      ok: false,
      status: 401,
    });
    expect(fake.server.requests).toHaveLength(0);
  });
});
