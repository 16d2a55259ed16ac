import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AlfacrmSettings, alfacrm, alfacrmSettings } from '../../src/integrations/crm/alfacrm/index.ts';
import { HttpClient, MemoryTokenStore } from '../../src/integrations/crm/http.ts';
import type { CrmContext } from '../../src/integrations/crm/types.ts';
import { systemClock } from '../../src/shared/clock.ts';
import { AlfaCrmFake } from '../fakes/alfacrm.ts';
import { type CrmContractHarness, runCrmContract } from './crm-contract.ts';

let stores = 0;

function contextFor(
  fake: AlfaCrmFake,
  options: {
    timeoutMs?: number;
    settings?: Partial<Record<keyof AlfacrmSettings, unknown>>;
    session?: boolean;
  } = {},
): CrmContext<AlfacrmSettings> & { tokens: MemoryTokenStore } {
  stores += 1;
  const session =
    options.session === false
      ? null
      : { accessToken: fake.issueToken(), refreshToken: null, expiresAt: Date.now() + 14 * 60_000 };
  return {
    settings: alfacrmSettings.parse({
      domain: 'school.s20.online',
      email: fake.email,
      apiKey: fake.apiKey,
      branchId: 1,
      apiBaseUrl: fake.url,
      ...options.settings,
    }),
    http: new HttpClient({ timeoutMs: options.timeoutMs ?? 5000 }),
    tokens: new MemoryTokenStore(`alfacrm-test:${stores}`, session),
    clock: systemClock,
  };
}

runCrmContract('alfacrm', async (): Promise<CrmContractHarness<AlfacrmSettings>> => {
  const fake = await AlfaCrmFake.start();
  return {
    connector: alfacrm,
    server: fake.server,
    ctx: async (options) => contextFor(fake, options),
    badCredentials: async () => contextFor(fake, { settings: { apiKey: 'wrong' }, session: false }),
    records: () =>
      [...fake.customers.values()].map((c) => ({
        id: String(c.id),
        name: c.name,
        phones: c.phone,
        emails: c.email,
        notes: c.communications.map((x) => x.comment),
      })),
    seed: (data) => {
      fake.seed(data);
    },
    isCreate: (r) => r.path.endsWith('/customer/create'),
    userIds: ['3', '4'],
    tokens: { expire: () => fake.expireTokens(), isRefresh: (r) => r.path === '/v2api/auth/login' },
    close: () => fake.close(),
  };
});

describe('AlfaCRM connector: requests on the wire', () => {
  let fake: AlfaCrmFake;
  beforeAll(async () => {
    fake = await AlfaCrmFake.start();
  });
  afterAll(() => fake.close());

  it('logs in with email and API key, keeps the session token, and picks the first active branch', async () => {
    const ctx = contextFor(fake, { session: false, settings: { branchId: undefined } });
    fake.server.reset();
    const prepared = await alfacrm.prepareSettings(ctx);
    expect(prepared.branchId).toBe(1);
    const [loginCall, branchCall] = fake.server.requests;
    expect(loginCall?.path).toBe('/v2api/auth/login');
    expect(loginCall?.json).toEqual({ email: fake.email, api_key: fake.apiKey });
    expect(branchCall?.path).toBe('/v2api/branch/index');
    expect(branchCall?.headers['x-alfacrm-token']).toBe((await ctx.tokens.load())?.accessToken);
    expect(await alfacrm.testConnection({ ...ctx, settings: prepared })).toEqual({
      accountName: 'Главный филиал',
    });
    // One login serves both calls.
    expect(fake.server.requests.filter((r) => r.path === '/v2api/auth/login')).toHaveLength(1);
  });

  it('searches customers of the branch by phone digits and by email', async () => {
    const ctx = contextFor(fake);
    fake.server.reset();
    await alfacrm.findContact(ctx, { phones: ['+79161234567'], emails: ['Ivan@Example.com'] });
    expect(fake.server.requests.map((r) => [r.path, Object.fromEntries(r.query), r.json])).toEqual([
      ['/v2api/1/customer/index', { 'per-page': '50' }, { page: 0, phone: '9161234567' }],
      ['/v2api/1/customer/index', { 'per-page': '50' }, { page: 0, email: 'ivan@example.com' }],
    ]);
  });

  it('creates a lead (is_study 0) in the branch with the responsible manager', async () => {
    const ctx = contextFor(fake);
    fake.server.reset();
    const ref = await alfacrm.createEntity(
      ctx,
      {
        contactId: 'c',
        name: 'Иван Петров',
        phones: ['+79161234567'],
        emails: ['ivan@example.com'],
        comment: 'Хочу на курс',
      },
      { responsibleUserId: '4' },
    );
    expect(ref.kind).toBe('lead');
    expect(fake.server.requests[0]?.json).toEqual({
      name: 'Иван Петров',
      branch_ids: [1],
      is_study: 0,
      legal_type: 1,
      phone: ['+79161234567'],
      email: ['ivan@example.com'],
      note: 'Хочу на курс',
      assigned_id: 4,
    });
  });

  it('updates with the full phone and email lists and adds a communication', async () => {
    const ctx = contextFor(fake);
    const seeded = fake.seed({ name: '', phones: ['8 916 222-33-44'], emails: [] });
    fake.server.reset();
    await alfacrm.updateEntity(
      ctx,
      { kind: 'lead', id: String(seeded.id) },
      {
        contactId: 'c',
        name: 'Ольга',
        phones: ['+79162223344', '+79165556677'],
        emails: ['olga@example.com'],
      },
    );
    await alfacrm.attachNote(
      ctx,
      { kind: 'lead', id: String(seeded.id) },
      { kind: 'transcript', text: 'Диалог' },
    );
    expect(fake.server.requests.map((r) => [r.path, Object.fromEntries(r.query), r.json])).toEqual([
      ['/v2api/1/customer/index', {}, { id: seeded.id }],
      [
        '/v2api/1/customer/update',
        { id: String(seeded.id) },
        { phone: ['8 916 222-33-44', '+79165556677'], email: ['olga@example.com'], name: 'Ольга' },
      ],
      [
        '/v2api/1/communication/create',
        { class: 'Customer', related_id: String(seeded.id) },
        { type_id: 1, comment: 'Диалог' },
      ],
    ]);
  });

  it('reads {success: false, errors} as a permanent validation error naming the field', async () => {
    const ctx = contextFor(fake);
    fake.server.inject({
      when: (r) => r.path.endsWith('/customer/create'),
      respond: { status: 200, body: { success: false, errors: { phone: ['Неверный формат'] } } },
    });
    await expect(
      alfacrm.createEntity(ctx, { contactId: 'c', name: 'X', phones: ['+79160000000'], emails: [] }, {}),
    ).rejects.toMatchObject({ kind: 'permanent', reason: 'validation', field: 'phone' });
  });
});
