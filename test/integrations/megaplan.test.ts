import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpClient, MemoryTokenStore, type TokenSet } from '../../src/integrations/crm/http.ts';
import {
  type MegaplanSettings,
  megaplan,
  megaplanSettings,
} from '../../src/integrations/crm/megaplan/index.ts';
import { publicSettings, settingsForm, storableSettings } from '../../src/integrations/crm/settings.ts';
import type { CrmContext } from '../../src/integrations/crm/types.ts';
import { systemClock } from '../../src/shared/clock.ts';
import { MegaplanFake } from '../fakes/megaplan.ts';
import { type CrmContractHarness, runCrmContract } from './crm-contract.ts';

let stores = 0;

function contextFor(
  fake: MegaplanFake,
  tokens: TokenSet | null,
  options: { timeoutMs?: number; settings?: Partial<Record<keyof MegaplanSettings, unknown>> } = {},
): CrmContext<MegaplanSettings> & { tokens: MemoryTokenStore } {
  stores += 1;
  return {
    settings: megaplanSettings.parse({
      domain: 'company',
      login: fake.login,
      apiBaseUrl: fake.url,
      ...options.settings,
    }),
    http: new HttpClient({ timeoutMs: options.timeoutMs ?? 5000 }),
    tokens: new MemoryTokenStore(`megaplan-test:${stores}`, tokens),
    clock: systemClock,
  };
}

runCrmContract('megaplan', async (): Promise<CrmContractHarness<MegaplanSettings>> => {
  const fake = await MegaplanFake.start();
  return {
    connector: megaplan,
    server: fake.server,
    ctx: async (options) => contextFor(fake, fake.issueTokens(), options),
    badCredentials: async () =>
      contextFor(fake, { accessToken: 'forged', refreshToken: 'forged', expiresAt: null }),
    records: () =>
      [...fake.clients.values()].map((c) => ({
        id: c.id,
        name: `${c.firstName} ${c.lastName}`.trim(),
        phones: c.contactInfo.filter((i) => i.type === 'phone').map((i) => i.value),
        emails: c.contactInfo.filter((i) => i.type === 'email').map((i) => i.value),
        // Comments are HTML; the record's text is what a Megaplan user reads.
        notes: c.comments.map((html) =>
          html
            .replace(/<br>/g, '\n')
            .replace(/<\/?p>/g, '')
            .replace(/&lt;/g, '<')
            .replace(/&gt;/g, '>')
            .replace(/&amp;/g, '&'),
        ),
      })),
    seed: (data) => {
      fake.seed(data);
    },
    isCreate: (r) => r.method === 'POST' && r.path === '/api/v3/contractorHuman',
    userIds: ['1000005', '1000006'],
    tokens: {
      expire: () => fake.expireAccessTokens(),
      isRefresh: (r) => r.path === '/api/v3/auth/access_token',
    },
    close: () => fake.close(),
  };
});

describe('Megaplan connector: requests on the wire', () => {
  let fake: MegaplanFake;
  beforeAll(async () => {
    fake = await MegaplanFake.start();
  });
  afterAll(() => fake.close());

  it('trades the password for a token once and never keeps it in the settings to store', async () => {
    const ctx = contextFor(fake, null, { settings: { password: fake.password } });
    expect(settingsForm(megaplanSettings).find((f) => f.key === 'password')).toMatchObject({
      transient: true,
      required: false,
    });
    fake.server.reset();
    const stored = await megaplan.prepareSettings(ctx);
    expect(stored).not.toHaveProperty('password');
    expect(JSON.stringify(stored)).not.toContain(fake.password);
    expect(storableSettings(megaplanSettings, ctx.settings)).not.toHaveProperty('password');
    expect(publicSettings(megaplanSettings, ctx.settings).values).not.toHaveProperty('password');
    const [signIn] = fake.server.requests;
    expect(signIn?.path).toBe('/api/v3/auth/access_token');
    expect(signIn?.json).toEqual({ username: fake.login, password: fake.password, grant_type: 'password' });
    expect((await ctx.tokens.load())?.accessToken).toBeTruthy();
    await megaplan.testConnection({ ...ctx, settings: stored });
    // Only the sign-in request ever carried the password.
    expect(fake.server.requests.filter((r) => r.rawBody.includes(fake.password))).toHaveLength(1);
  });

  it('refuses a wrong password and asks for it when nothing was ever stored', async () => {
    await expect(
      megaplan.prepareSettings(contextFor(fake, null, { settings: { password: 'wrong' } })),
    ).rejects.toMatchObject({
      kind: 'permanent',
      reason: 'reauthorization_required',
    });
    await expect(megaplan.prepareSettings(contextFor(fake, null))).rejects.toMatchObject({
      field: 'password',
    });
  });

  it('sends GET parameters as one URL-encoded JSON object with the Bearer token', async () => {
    const tokens = fake.issueTokens();
    const ctx = contextFor(fake, tokens);
    fake.server.reset();
    await megaplan.findContact(ctx, { phones: ['+79161234567'], emails: [] });
    const [search] = fake.server.requests;
    expect(search?.path).toBe('/api/v3/contractor');
    expect(JSON.parse(decodeURIComponent(search!.rawQuery))).toEqual({ q: '9161234567', limit: 50 });
    expect(search?.headers.authorization).toBe(`Bearer ${tokens.accessToken}`);
    expect(search?.headers['x-use-included-response']).toBe('true');
  });

  it('creates a ContractorHuman with contact info and the responsible employee', async () => {
    const ctx = contextFor(fake, fake.issueTokens());
    fake.server.reset();
    await megaplan.createEntity(
      ctx,
      {
        contactId: 'c',
        name: 'Иван Петров',
        phones: ['+79161234567'],
        emails: ['ivan@example.com'],
        comment: 'from chat',
      },
      { responsibleUserId: '1000005' },
    );
    expect(fake.server.requests[0]?.json).toEqual({
      contentType: 'ContractorHuman',
      firstName: 'Иван',
      lastName: 'Петров',
      description: 'from chat',
      contactInfo: [
        { contentType: 'ContactInfo', type: 'phone', value: '+79161234567', isMain: true },
        { contentType: 'ContactInfo', type: 'email', value: 'ivan@example.com' },
      ],
      responsibles: [{ contentType: 'Employee', id: '1000005' }],
    });
  });

  it('updates with the stored contact info kept, and comments on the client', async () => {
    const ctx = contextFor(fake, fake.issueTokens());
    const client = fake.seed({ name: '+79162223344', phones: ['+7 916 222-33-44'], emails: [] });
    fake.server.reset();
    await megaplan.updateEntity(
      ctx,
      { kind: 'client', id: client.id },
      { contactId: 'c', name: 'Ольга', phones: ['+79162223344'], emails: ['olga@example.com'] },
    );
    await megaplan.attachNote(
      ctx,
      { kind: 'client', id: client.id },
      { kind: 'transcript', text: 'a < b\nвторая' },
    );
    const [, update, comment] = fake.server.requests;
    expect(update?.path).toBe(`/api/v3/contractorHuman/${client.id}`);
    expect(update?.json).toEqual({
      contactInfo: [
        {
          contentType: 'ContactInfo',
          id: client.contactInfo[0]!.id,
          type: 'phone',
          value: '+7 916 222-33-44',
        },
        { contentType: 'ContactInfo', type: 'email', value: 'olga@example.com' },
      ],
      firstName: 'Ольга',
      lastName: '',
    });
    expect(comment?.path).toBe(`/api/v3/contractorHuman/${client.id}/comments`);
    expect(comment?.json).toEqual({ contentType: 'Comment', content: '<p>a &lt; b<br>вторая</p>' });
  });

  it('pages employees with pageAfter and maps isWorking', async () => {
    const ctx = contextFor(fake, fake.issueTokens());
    const users = await megaplan.listUsers(ctx);
    expect(users.map((u) => [u.id, u.active])).toEqual([
      ['1000005', true],
      ['1000006', true],
      ['1000007', false],
    ]);
    expect(users[0]?.email).toBe('anna@company.example');
  });

  it('reads 422 meta.errors into a validation error naming the field', async () => {
    const ctx = contextFor(fake, fake.issueTokens());
    fake.server.inject({
      when: (r) => r.method === 'POST',
      respond: {
        status: 422,
        body: { meta: { status: 422, errors: [{ field: 'lastName', message: 'Too long' }] }, data: null },
      },
    });
    await expect(
      megaplan.createEntity(ctx, { contactId: 'c', name: 'X', phones: ['+79160000000'], emails: [] }, {}),
    ).rejects.toMatchObject({
      kind: 'permanent',
      reason: 'validation',
      field: 'lastName',
    });
  });
});
