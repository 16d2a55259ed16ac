import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpClient, MemoryTokenStore } from '../../src/integrations/crm/http.ts';
import {
  type RetailcrmSettings,
  retailcrm,
  retailcrmSettings,
} from '../../src/integrations/crm/retailcrm/index.ts';
import type { CrmContext } from '../../src/integrations/crm/types.ts';
import { systemClock } from '../../src/shared/clock.ts';
import { RetailCrmFake } from '../fakes/retailcrm.ts';
import { type CrmContractHarness, runCrmContract } from './crm-contract.ts';

function contextFor(
  fake: RetailCrmFake,
  options: { timeoutMs?: number; settings?: Partial<RetailcrmSettings> } = {},
): CrmContext<RetailcrmSettings> {
  return {
    settings: retailcrmSettings.parse({
      domain: 'demo.retailcrm.ru',
      apiKey: fake.apiKey,
      apiBaseUrl: fake.url,
      ...options.settings,
    }),
    http: new HttpClient({ timeoutMs: options.timeoutMs ?? 5000 }),
    tokens: new MemoryTokenStore('retailcrm-test'),
    clock: systemClock,
  };
}

runCrmContract('retailcrm', async (): Promise<CrmContractHarness<RetailcrmSettings>> => {
  const fake = await RetailCrmFake.start();
  return {
    connector: retailcrm,
    server: fake.server,
    ctx: async (options) => contextFor(fake, options),
    badCredentials: async () => contextFor(fake, { settings: { apiKey: 'wrong-key' } }),
    records: () =>
      [...fake.customers.values()].map((c) => ({
        id: String(c.id),
        name: [c.firstName, c.lastName].filter(Boolean).join(' '),
        phones: c.phones.map((p) => p.number),
        emails: c.email ? [c.email] : [],
        notes: c.notes.map((n) => n.text),
      })),
    seed: (data) => {
      fake.seed(data);
    },
    isCreate: (r) => r.path === '/api/v5/customers/create',
    isNote: (r) => r.path === '/api/v5/customers/notes/create',
    userIds: ['11', '12', '13'],
    rateLimited: {
      response: { status: 503, body: { success: false, errorMsg: 'Service Unavailable' } },
      retryAfterMs: 1000,
    },
    close: () => fake.close(),
  };
});

describe('RetailCRM connector: requests on the wire', () => {
  let fake: RetailCrmFake;
  beforeAll(async () => {
    fake = await RetailCrmFake.start();
  });
  afterAll(() => fake.close());

  it('derives the address from the account name and sends the key in X-API-KEY only', async () => {
    expect(
      retailcrm.baseUrl(retailcrmSettings.parse({ domain: 'https://Shop.RetailCRM.ru/', apiKey: 'k' })),
    ).toBe('https://shop.retailcrm.ru');
    expect(retailcrm.baseUrl(retailcrmSettings.parse({ domain: 'shop', apiKey: 'k' }))).toBe(
      'https://shop.retailcrm.ru',
    );
    fake.server.reset();
    expect(await retailcrm.testConnection(contextFor(fake))).toEqual({ accountName: 'demo.retailcrm.ru' });
    const [credentials] = fake.server.requests;
    expect(credentials?.path).toBe('/api/credentials');
    expect(credentials?.headers['x-api-key']).toBe(fake.apiKey);
    expect(credentials?.query.toString()).toBe('');
  });

  it('fails the test call when the key lacks a method or the store', async () => {
    const saved = fake.credentials;
    fake.credentials = saved.filter((c) => c !== '/api/v5/customers/notes/create');
    await expect(retailcrm.testConnection(contextFor(fake))).rejects.toMatchObject({
      kind: 'permanent',
      reason: 'forbidden',
      message: expect.stringContaining('/api/v5/customers/notes/create'),
    });
    fake.credentials = saved;
    await expect(
      retailcrm.testConnection(contextFor(fake, { settings: { site: 'other' } })),
    ).rejects.toMatchObject({
      field: 'site',
    });
  });

  it('searches by phone through filter[name] and by email, then creates with a JSON form field', async () => {
    const ctx = contextFor(fake, { settings: { site: 'main' } });
    fake.server.reset();
    const ref = await retailcrm.findContact(ctx, { phones: ['+79161234567'], emails: ['Ivan@Example.com'] });
    expect(ref).toBeNull();
    expect(fake.server.requests.map((r) => Object.fromEntries(r.query))).toEqual([
      { 'filter[name]': '9161234567', limit: '20' },
      { 'filter[email]': 'ivan@example.com', limit: '20' },
    ]);
    fake.server.reset();
    const created = await retailcrm.createEntity(
      ctx,
      {
        contactId: 'c-1',
        name: 'Иван Петров',
        phones: ['+79161234567'],
        emails: ['ivan@example.com'],
        siteName: 'shop.example.com',
      },
      { responsibleUserId: '12' },
    );
    const [create] = fake.server.requests;
    expect(create?.method).toBe('POST');
    expect(create?.path).toBe('/api/v5/customers/create');
    expect(create?.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(create?.form.get('site')).toBe('main');
    expect(JSON.parse(create!.form.get('customer')!)).toEqual({
      firstName: 'Иван',
      lastName: 'Петров',
      email: 'ivan@example.com',
      phones: [{ number: '+79161234567' }],
      managerId: 12,
      source: { source: 'online-chat', medium: 'shop.example.com' },
    });
    expect(fake.customers.get(Number(created.id))?.managerId).toBe(12);
  });

  it('edits by id, sending the stored phones along, and fills an empty email only', async () => {
    const ctx = contextFor(fake);
    const seeded = fake.seed({ name: '+79162223344', phones: ['8 (916) 222-33-44'], emails: [] });
    fake.server.reset();
    await retailcrm.updateEntity(
      ctx,
      { kind: 'customer', id: String(seeded.id) },
      {
        contactId: 'c',
        name: 'Ольга Смирнова',
        phones: ['+79162223344', '+79165556677'],
        emails: ['olga@example.com'],
      },
    );
    const [read, edit] = fake.server.requests;
    expect(read?.path).toBe(`/api/v5/customers/${seeded.id}`);
    expect(Object.fromEntries(read!.query)).toEqual({ by: 'id' });
    expect(edit?.path).toBe(`/api/v5/customers/${seeded.id}/edit`);
    expect(edit?.form.get('by')).toBe('id');
    expect(JSON.parse(edit!.form.get('customer')!)).toEqual({
      id: seeded.id,
      phones: [{ number: '8 (916) 222-33-44' }, { number: '+79165556677' }],
      email: 'olga@example.com',
      firstName: 'Ольга',
      lastName: 'Смирнова',
    });

    fake.server.reset();
    await retailcrm.updateEntity(
      ctx,
      { kind: 'customer', id: String(seeded.id) },
      {
        contactId: 'c',
        name: 'Ольга',
        phones: ['+79162223344'],
        emails: ['other@example.com'],
      },
    );
    expect(fake.server.requests.map((r) => r.method)).toEqual(['GET']);
  });

  it('creates the note with the customer id and the mapped manager', async () => {
    const ctx = contextFor(fake);
    const seeded = fake.seed({ name: 'Пётр', phones: ['+79160000002'], emails: [] });
    fake.server.reset();
    await retailcrm.attachNote(
      ctx,
      { kind: 'customer', id: String(seeded.id) },
      { kind: 'transcript', text: 'Диалог', authorUserId: '11' },
    );
    const [note] = fake.server.requests;
    expect(note?.path).toBe('/api/v5/customers/notes/create');
    expect(JSON.parse(note!.form.get('note')!)).toEqual({
      customer: { id: seeded.id },
      text: 'Диалог',
      managerId: 11,
    });
  });

  it('marks a note with its event and finds it among the customer’s notes', async () => {
    const ctx = contextFor(fake);
    const seeded = fake.seed({ name: 'Вера', phones: ['+79160000012'], emails: [] });
    const ref = { kind: 'customer' as const, id: String(seeded.id) };
    await retailcrm.attachNote(ctx, ref, { kind: 'transcript', text: 'Диалог', marker: 'dialog-5-40' });
    expect(seeded.notes.map((n) => n.text)).toEqual(['Диалог\n[omnitalk:dialog-5-40]']);
    fake.server.reset();
    expect(await retailcrm.findNote(ctx, ref, 'dialog-5-')).toBe('dialog-5-40');
    const [list, ...rest] = fake.server.requests;
    expect(rest).toEqual([]);
    expect(list?.method).toBe('GET');
    expect(list?.path).toBe('/api/v5/customers/notes');
    expect(list?.headers['x-api-key']).toBe(fake.apiKey);
    expect(Object.fromEntries(list!.query)).toEqual({
      'filter[customerIds][]': String(seeded.id),
      limit: '100',
      page: '1',
    });
    expect(await retailcrm.findNote(ctx, ref, 'dialog-5-4')).toBeNull();
    expect(await retailcrm.findNote(ctx, ref, 'dialog-50-')).toBeNull();
  });

  it('reads RetailCRM errors: a wrong key, a missing customer, a validation map', async () => {
    const ctx = contextFor(fake);
    await expect(
      retailcrm.listUsers(contextFor(fake, { settings: { apiKey: 'nope' } })),
    ).rejects.toMatchObject({
      kind: 'permanent',
      reason: 'unauthorized',
      field: 'apiKey',
    });
    await expect(
      retailcrm.updateEntity(
        ctx,
        { kind: 'customer', id: '424242' },
        { contactId: 'c', name: null, phones: ['+79160000009'], emails: [] },
      ),
    ).rejects.toMatchObject({ reason: 'not_found' });
    fake.server.inject({
      when: () => true,
      respond: {
        status: 400,
        body: {
          success: false,
          errorMsg: 'Errors in the entity format',
          errors: { email: 'This value is not a valid email address.' },
        },
      },
    });
    await expect(
      retailcrm.createEntity(ctx, { contactId: 'x', name: null, phones: [], emails: ['bad'] }, {}),
    ).rejects.toMatchObject({ kind: 'permanent', reason: 'validation', field: 'email' });
  });
});
