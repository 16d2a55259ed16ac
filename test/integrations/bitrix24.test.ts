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

function inboundRequest(body: string, contentType = 'application/x-www-form-urlencoded'): InboundRequest {
  return {
    method: 'POST',
    path: '/',
    query: new URLSearchParams(),
    headers: { 'content-type': contentType },
    rawBody: body,
  };
}

function messageEvent(token: string): string {
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
    const ctx = contextFor(fake, 'webhook', null);
    const result = await bitrix24.parseInbound(ctx, inboundRequest(messageEvent(APP_TOKEN)));
    expect(result).toEqual({
      ok: true,
      events: [
        {
          type: 'staff_message',
          conversationRef: 'dialog-42',
          crmUserId: '27',
          text: 'Светлана Иванова: \nДобрый день!',
          externalMessageId: '86497',
        },
      ],
      reply: { status: 200, contentType: 'text/plain; charset=utf-8', body: 'OK' },
    });
    const json = JSON.stringify({
      event: 'ONIMCONNECTORMESSAGEADD',
      data: {
        MESSAGES: [{ im: { message_id: 1 }, message: { user_id: 5, text: 'Привет' }, chat: { id: 'd-1' } }],
      },
      auth: { application_token: APP_TOKEN },
    });
    expect(await bitrix24.parseInbound(ctx, inboundRequest(json, 'application/json'))).toMatchObject({
      ok: true,
      events: [{ type: 'staff_message', conversationRef: 'd-1', text: 'Привет' }],
    });
    const noToken = contextFor(fake, 'webhook', null, { settings: { applicationToken: undefined } });
    expect(await bitrix24.parseInbound(noToken, inboundRequest(messageEvent(APP_TOKEN)))).toMatchObject({
      ok: false,
      status: 403,
    });
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
