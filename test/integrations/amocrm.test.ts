import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AmocrmSettings, amocrm, amocrmSettings } from '../../src/integrations/crm/amocrm/index.ts';
import { CrmError } from '../../src/integrations/crm/errors.ts';
import { HttpClient, MemoryTokenStore, type TokenSet } from '../../src/integrations/crm/http.ts';
import { publicSettings, settingsForm } from '../../src/integrations/crm/settings.ts';
import type { CrmContext } from '../../src/integrations/crm/types.ts';
import { systemClock } from '../../src/shared/clock.ts';
import { AmoCrmFake } from '../fakes/amocrm.ts';
import { type CrmContractHarness, runCrmContract } from './crm-contract.ts';

let stores = 0;

function settingsFor(fake: AmoCrmFake, overrides: Partial<AmocrmSettings> = {}): AmocrmSettings {
  return amocrmSettings.parse({
    clientId: fake.clientId,
    clientSecret: fake.clientSecret,
    redirectUri: fake.redirectUri,
    accountHost: 'example.amocrm.ru',
    apiBaseUrl: fake.url,
    ...overrides,
  });
}

function contextFor(
  fake: AmoCrmFake,
  tokens: TokenSet | null,
  options: { timeoutMs?: number; settings?: Partial<AmocrmSettings> } = {},
): CrmContext<AmocrmSettings> & { tokens: MemoryTokenStore } {
  stores += 1;
  return {
    settings: settingsFor(fake, options.settings),
    http: new HttpClient({ timeoutMs: options.timeoutMs ?? 5000 }),
    tokens: new MemoryTokenStore(`amocrm-test:${stores}`, tokens),
    clock: systemClock,
  };
}

const freshTokens = (fake: AmoCrmFake): TokenSet => ({ ...fake.issueTokens() });

runCrmContract('amocrm', async (): Promise<CrmContractHarness<AmocrmSettings>> => {
  const fake = await AmoCrmFake.start();
  return {
    connector: amocrm,
    server: fake.server,
    ctx: async (options) => contextFor(fake, freshTokens(fake), options),
    badCredentials: async () =>
      contextFor(fake, { accessToken: 'forged', refreshToken: 'forged', expiresAt: Date.now() + 3600_000 }),
    records: () =>
      [...fake.contacts.values()].map((c) => ({
        id: String(c.id),
        name: c.name,
        phones: (c.custom_fields_values ?? [])
          .filter((f) => f.field_code === 'PHONE')
          .flatMap((f) => f.values.map((v) => v.value)),
        emails: (c.custom_fields_values ?? [])
          .filter((f) => f.field_code === 'EMAIL')
          .flatMap((f) => f.values.map((v) => v.value)),
        notes: c.notes.map((n) => n.text),
      })),
    seed: (data) => {
      fake.seedContact(data);
    },
    isCreate: (r) => r.method === 'POST' && r.path === '/api/v4/contacts',
    isNote: (r) => r.method === 'POST' && /^\/api\/v4\/contacts\/\d+\/notes$/.test(r.path),
    userIds: ['504141', '504142'],
    tokens: { expire: () => fake.expireAccessTokens(), isRefresh: (r) => r.path === '/oauth2/access_token' },
    close: () => fake.close(),
  };
});

describe('amoCRM connector: requests on the wire', () => {
  let fake: AmoCrmFake;
  beforeAll(async () => {
    fake = await AmoCrmFake.start();
  });
  afterAll(() => fake.close());

  it('declares its settings form: id and secret key typed by the admin, the rest set by the platform', () => {
    const form = settingsForm(amocrmSettings);
    expect(form.map((f) => [f.key, f.secret, f.advanced])).toEqual([
      ['clientId', false, false],
      ['clientSecret', true, false],
      ['apiBaseUrl', false, true],
    ]);
    const shown = publicSettings(amocrmSettings, settingsFor(fake));
    expect(shown.values).not.toHaveProperty('clientSecret');
    expect(shown.secretsSet).toEqual(['clientSecret']);
    expect(amocrm.baseUrl(settingsFor(fake, { apiBaseUrl: undefined }))).toBe('https://example.amocrm.ru');
  });

  it('sends the admin to amoCRM to grant access and exchanges the code for tokens', async () => {
    const ctx = contextFor(fake, null, { settings: { accountHost: undefined } });
    const url = new URL(amocrm.oauth.authorizeUrl(ctx.settings, 'state-123'));
    expect(url.origin + url.pathname).toBe('https://www.amocrm.ru/oauth');
    expect(Object.fromEntries(url.searchParams)).toEqual({
      client_id: fake.clientId,
      state: 'state-123',
      mode: 'post_message',
    });
    fake.server.reset();
    const code = fake.issueCode();
    const redirect = new URLSearchParams({
      code,
      referer: 'example.amocrm.ru',
      state: 'state-123',
      platform: '1',
    });
    const stored = await amocrm.oauth.exchangeCode(ctx, redirect);
    expect(stored.accountHost).toBe('example.amocrm.ru');
    const [exchange] = fake.server.requests;
    expect(exchange?.method).toBe('POST');
    expect(exchange?.path).toBe('/oauth2/access_token');
    expect(exchange?.headers['content-type']).toBe('application/json');
    expect(exchange?.json).toEqual({
      client_id: fake.clientId,
      client_secret: fake.clientSecret,
      redirect_uri: fake.redirectUri,
      grant_type: 'authorization_code',
      code,
    });
    const tokens = await ctx.tokens.load();
    expect(tokens?.accessToken).toMatch(/^access-/);
    expect(tokens?.refreshToken).toMatch(/^refresh-/);
    expect(tokens!.expiresAt! - Date.now()).toBeGreaterThan(86_000_000);
  });

  it('never sends the client secret to a host that is not amoCRM', async () => {
    const ctx = contextFor(fake, null, { settings: { accountHost: undefined } });
    fake.server.reset();
    const redirect = new URLSearchParams({ code: fake.issueCode(), referer: 'evil.example.com' });
    await expect(amocrm.oauth.exchangeCode(ctx, redirect)).rejects.toMatchObject({
      reason: 'not_configured',
    });
    expect(fake.server.requests).toHaveLength(0);
    await expect(
      amocrm.oauth.exchangeCode(ctx, new URLSearchParams({ error: 'access_denied', state: 's' })),
    ).rejects.toMatchObject({ kind: 'permanent' });
  });

  it('searches by national number and by email, verifies the match, and treats 204 as nothing found', async () => {
    const ctx = contextFor(fake, freshTokens(fake));
    const seeded = fake.seedContact({ name: 'Мария', phones: ['+7 (903) 111-22-33'], emails: [] });
    fake.server.reset();
    expect(await amocrm.findContact(ctx, { phones: ['+79031112233'], emails: [] })).toEqual({
      kind: 'contact',
      id: String(seeded.id),
    });
    const [search] = fake.server.requests;
    expect(search?.method).toBe('GET');
    expect(search?.path).toBe('/api/v4/contacts');
    expect(Object.fromEntries(search!.query)).toEqual({ query: '9031112233', limit: '250' });
    expect(search?.headers.authorization).toBe(`Bearer ${(await ctx.tokens.load())!.accessToken}`);

    fake.server.reset();
    expect(
      await amocrm.findContact(ctx, { phones: ['+79990000000'], emails: ['nobody@example.com'] }),
    ).toBeNull();
    expect(fake.server.requests.map((r) => r.query.get('query'))).toEqual([
      '9990000000',
      'nobody@example.com',
    ]);
  });

  it('creates a contact with PHONE and EMAIL multi-fields and the responsible user', async () => {
    const ctx = contextFor(fake, freshTokens(fake));
    fake.server.reset();
    const ref = await amocrm.createEntity(
      ctx,
      { contactId: 'c-42', name: 'Иван Петров', phones: ['+79161234567'], emails: ['ivan@example.com'] },
      { responsibleUserId: '504142' },
    );
    const [create] = fake.server.requests;
    expect(create?.method).toBe('POST');
    expect(create?.path).toBe('/api/v4/contacts');
    expect(create?.json).toEqual([
      {
        name: 'Иван Петров',
        first_name: 'Иван',
        last_name: 'Петров',
        responsible_user_id: 504142,
        custom_fields_values: [
          { field_code: 'PHONE', values: [{ value: '+79161234567', enum_code: 'WORK' }] },
          { field_code: 'EMAIL', values: [{ value: 'ivan@example.com', enum_code: 'WORK' }] },
        ],
        request_id: 'c-42',
      },
    ]);
    expect(fake.contacts.get(Number(ref.id))?.responsible_user_id).toBe(504142);
  });

  it('updates by sending existing multi-field values along with the new ones', async () => {
    const ctx = contextFor(fake, freshTokens(fake));
    const seeded = fake.seedContact({ name: '+79162223344', phones: ['8 916 222-33-44'], emails: [] });
    fake.server.reset();
    await amocrm.updateEntity(
      ctx,
      { kind: 'contact', id: String(seeded.id) },
      {
        contactId: 'c-1',
        name: 'Ольга',
        phones: ['+79162223344', '+79165556677'],
        emails: ['olga@example.com'],
      },
    );
    const [read, patch] = fake.server.requests;
    expect(read?.method).toBe('GET');
    expect(read?.path).toBe(`/api/v4/contacts/${seeded.id}`);
    expect(patch?.method).toBe('PATCH');
    expect(patch?.path).toBe(`/api/v4/contacts/${seeded.id}`);
    expect(patch?.json).toEqual({
      custom_fields_values: [
        {
          field_code: 'PHONE',
          values: [
            { value: '8 916 222-33-44', enum_id: 1 },
            { value: '+79165556677', enum_code: 'WORK' },
          ],
        },
        { field_code: 'EMAIL', values: [{ value: 'olga@example.com', enum_code: 'WORK' }] },
      ],
      name: 'Ольга',
      first_name: 'Ольга',
      last_name: '',
    });

    fake.server.reset();
    await amocrm.updateEntity(
      ctx,
      { kind: 'contact', id: String(seeded.id) },
      {
        contactId: 'c-1',
        name: 'Другое имя',
        phones: ['+79162223344'],
        emails: [],
      },
    );
    // Nothing new, and a name a manager gave is not overwritten: one read, no write.
    expect(fake.server.requests.map((r) => r.method)).toEqual(['GET']);
  });

  it('reports a deleted contact as not found (amoCRM answers 204)', async () => {
    const ctx = contextFor(fake, freshTokens(fake));
    await expect(
      amocrm.updateEntity(
        ctx,
        { kind: 'contact', id: '1' },
        { contactId: 'x', name: null, phones: ['+79160000001'], emails: [] },
      ),
    ).rejects.toMatchObject({ kind: 'permanent', reason: 'not_found' });
  });

  it('adds the transcript as a common note on the contact', async () => {
    const ctx = contextFor(fake, freshTokens(fake));
    const seeded = fake.seedContact({ name: 'Пётр', phones: ['+79160000002'] });
    fake.server.reset();
    await amocrm.attachNote(
      ctx,
      { kind: 'contact', id: String(seeded.id) },
      { kind: 'transcript', text: 'Диалог' },
    );
    const [note] = fake.server.requests;
    expect(note?.method).toBe('POST');
    expect(note?.path).toBe(`/api/v4/contacts/${seeded.id}/notes`);
    expect(note?.json).toEqual([{ note_type: 'common', params: { text: 'Диалог' } }]);
  });

  it('marks a note with its event and finds it among the contact’s notes, newest first', async () => {
    const ctx = contextFor(fake, freshTokens(fake));
    const seeded = fake.seedContact({ name: 'Вера', phones: ['+79160000012'] });
    const ref = { kind: 'contact' as const, id: String(seeded.id) };
    fake.server.reset();
    expect(await amocrm.findNote(ctx, ref, 'message-77')).toBeNull();
    await amocrm.attachNote(ctx, ref, { kind: 'message', text: 'Вера: привет', marker: 'message-77' });
    expect(fake.server.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      `GET /api/v4/contacts/${seeded.id}/notes`,
      `POST /api/v4/contacts/${seeded.id}/notes`,
    ]);
    expect(fake.server.requests[0]?.query.toString()).toBe(
      'filter%5Bnote_type%5D=common&order%5Bid%5D=desc&limit=250&page=1',
    );
    expect(fake.server.requests[1]?.json).toEqual([
      { note_type: 'common', params: { text: 'Вера: привет\n[omnitalk:message-77]' } },
    ]);
    await amocrm.attachNote(ctx, ref, { kind: 'transcript', text: 'Вера: ещё', marker: 'dialog-3-90' });
    expect(await amocrm.findNote(ctx, ref, 'message-77')).toBe('message-77');
    expect(await amocrm.findNote(ctx, ref, 'message-7')).toBeNull();
    expect(await amocrm.findNote(ctx, ref, 'dialog-3-')).toBe('dialog-3-90');
  });

  it('lists users page by page with the maximum page size', async () => {
    const ctx = contextFor(fake, freshTokens(fake));
    fake.server.reset();
    const users = await amocrm.listUsers(ctx);
    expect(users).toContainEqual({
      id: '504143',
      name: 'Уволенный',
      email: 'old@example.com',
      active: false,
    });
    expect(fake.server.requests.map((r) => Object.fromEntries(r.query))).toEqual([
      { page: '1', limit: '250' },
    ]);
  });

  it('refreshes with the stored refresh token and keeps the new single-use pair', async () => {
    const initial = freshTokens(fake);
    const ctx = contextFor(fake, initial);
    fake.expireAccessTokens();
    fake.server.reset();
    await amocrm.testConnection(ctx);
    const [denied, refresh, retried] = fake.server.requests;
    expect(denied?.path).toBe('/api/v4/account');
    expect(refresh?.path).toBe('/oauth2/access_token');
    expect(refresh?.json).toEqual({
      client_id: fake.clientId,
      client_secret: fake.clientSecret,
      redirect_uri: fake.redirectUri,
      grant_type: 'refresh_token',
      refresh_token: initial.refreshToken,
    });
    expect(retried?.path).toBe('/api/v4/account');
    expect(ctx.tokens.saved).toHaveLength(1);
    expect(ctx.tokens.saved[0]?.refreshToken).not.toBe(initial.refreshToken);

    // The old refresh token is spent: a second integration still holding it must be re-authorised.
    const stale = contextFor(fake, { ...initial, accessToken: 'expired' });
    await expect(amocrm.testConnection(stale)).rejects.toMatchObject({
      kind: 'permanent',
      reason: 'reauthorization_required',
    });
  });

  it('reads amoCRM validation errors into a permanent error naming the field', async () => {
    const ctx = contextFor(fake, freshTokens(fake));
    fake.server.inject({
      when: (r) => r.method === 'POST',
      respond: {
        status: 400,
        headers: { 'content-type': 'application/problem+json' },
        body: {
          'validation-errors': [
            {
              request_id: '0',
              errors: [
                {
                  code: 'NotSupportedChoice',
                  path: 'custom_fields_values.0.field_id',
                  detail: 'The value you selected is not a valid choice.',
                },
              ],
            },
          ],
          title: 'Bad Request',
          type: 'https://httpstatus.es/400',
          status: 400,
          detail: 'Request validation failed',
        },
      },
    });
    const error = await amocrm
      .createEntity(ctx, { contactId: 'v', name: null, phones: ['+79160000003'], emails: [] }, {})
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CrmError);
    expect(error).toMatchObject({
      kind: 'permanent',
      reason: 'validation',
      field: 'custom_fields_values.0.field_id',
      vendorCode: 'NotSupportedChoice',
    });
  });
});
