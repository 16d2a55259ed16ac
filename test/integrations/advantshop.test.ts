import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type AdvantshopSettings,
  advantshop,
  advantshopSettings,
} from '../../src/integrations/crm/advantshop/index.ts';
import { HttpClient, MemoryTokenStore } from '../../src/integrations/crm/http.ts';
import type { CrmContext } from '../../src/integrations/crm/types.ts';
import { systemClock } from '../../src/shared/clock.ts';
import { AdvantShopFake } from '../fakes/advantshop.ts';
import { type CrmContractHarness, runCrmContract } from './crm-contract.ts';

function contextFor(
  fake: AdvantShopFake,
  options: { timeoutMs?: number; settings?: Partial<Record<keyof AdvantshopSettings, unknown>> } = {},
): CrmContext<AdvantshopSettings> {
  return {
    settings: advantshopSettings.parse({
      domain: 'shop.example.com',
      leadUrl: fake.leadUrl,
      apiBaseUrl: fake.url,
      ...options.settings,
    }),
    http: new HttpClient({ timeoutMs: options.timeoutMs ?? 5000 }),
    tokens: new MemoryTokenStore('advantshop-test'),
    clock: systemClock,
  };
}

runCrmContract('advantshop', async (): Promise<CrmContractHarness<AdvantshopSettings>> => {
  const fake = await AdvantShopFake.start();
  return {
    connector: advantshop,
    server: fake.server,
    ctx: async (options) => contextFor(fake, options),
    badCredentials: async () =>
      contextFor(fake, { settings: { leadUrl: `${fake.url}/api/leads/add?apikey=wrong` } }),
    records: () =>
      [...fake.customers.values()].map((c) => ({
        id: c.id,
        name: `${c.firstName} ${c.lastName}`.trim(),
        phones: c.phone === null ? [] : [String(c.phone)],
        emails: c.email ? [c.email] : [],
        notes: [c.adminComment],
      })),
    seed: (data) => {
      fake.seed(data);
    },
    isCreate: (r) => r.path === '/api/leads/add',
    userIds: ['1', '2'],
    close: () => fake.close(),
  };
});

describe('AdvantShop connector: requests on the wire', () => {
  let fake: AdvantShopFake;
  beforeAll(async () => {
    fake = await AdvantShopFake.start();
  });
  afterAll(() => fake.close());

  it('takes the key from the "create lead" URL and keeps that URL secret', () => {
    expect(
      advantshopSettings.safeParse({ domain: 'shop.ru', leadUrl: 'https://shop.ru/api/leads/add' }).success,
    ).toBe(false);
    expect(advantshop.baseUrl(contextFor(fake, { settings: { apiBaseUrl: undefined } }).settings)).toBe(
      'https://shop.example.com',
    );
  });

  it('creates the lead, then remembers the customer the lead made', async () => {
    const ctx = contextFor(fake);
    fake.server.reset();
    const ref = await advantshop.createEntity(
      ctx,
      {
        contactId: 'c',
        name: 'Иван Петров',
        phones: ['+79161234567'],
        emails: ['ivan@example.com'],
        comment: 'Нужна консультация',
      },
      { responsibleUserId: '2' },
    );
    const [create, lookup] = fake.server.requests;
    expect(create?.method).toBe('POST');
    expect(create?.path).toBe('/api/leads/add');
    expect(create?.query.get('apikey')).toBe(fake.apiKey);
    expect(create?.json).toEqual({
      title: 'Онлайн-чат: Иван Петров',
      firstName: 'Иван',
      lastName: 'Петров',
      phone: '79161234567',
      email: 'ivan@example.com',
      description: 'Нужна консультация',
      source: 'Онлайн-чат',
      managerId: 2,
    });
    expect(Object.fromEntries(lookup!.query)).toEqual({
      phone: '79161234567',
      itemsPerPage: '100',
      apikey: fake.apiKey,
    });
    const lead = fake.leads.at(-1)!;
    expect(ref).toEqual({ kind: 'lead', id: String(lead.leadId), related: { customerId: lead.customerId } });
  });

  it('sends the current email back on every customer update (AdvantShop empties it otherwise)', async () => {
    const ctx = contextFor(fake);
    const customer = fake.seed({ name: '', phones: [], emails: ['keep@example.com'] });
    fake.server.reset();
    await advantshop.updateEntity(
      ctx,
      { kind: 'customer', id: customer.id },
      { contactId: 'c', name: 'Ольга', phones: ['+79162223344'], emails: ['keep@example.com'] },
    );
    const update = fake.server.requests.find((r) => r.method === 'POST');
    expect(update?.path).toBe(`/api/customers/${customer.id}`);
    expect(update?.json).toEqual({
      email: 'keep@example.com',
      phone: 79162223344,
      firstName: 'Ольга',
      lastName: '',
    });
    expect(customer.email).toBe('keep@example.com');
    await advantshop.attachNote(
      ctx,
      { kind: 'customer', id: customer.id },
      { kind: 'transcript', text: 'Диалог' },
    );
    expect(customer).toMatchObject({ email: 'keep@example.com', adminComment: 'Диалог' });
  });

  it('reads {status: "error"} answers: a wrong key is permanent and names the URL field', async () => {
    await expect(
      advantshop.listUsers(
        contextFor(fake, { settings: { leadUrl: `${fake.url}/api/leads/add?apikey=nope` } }),
      ),
    ).rejects.toMatchObject({
      kind: 'permanent',
      reason: 'unauthorized',
      field: 'leadUrl',
    });
  });
});
