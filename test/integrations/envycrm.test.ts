import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EnvycrmSettings, envycrm, envycrmSettings } from '../../src/integrations/crm/envycrm/index.ts';
import { HttpClient, MemoryTokenStore } from '../../src/integrations/crm/http.ts';
import type { CrmContext } from '../../src/integrations/crm/types.ts';
import { systemClock } from '../../src/shared/clock.ts';
import { EnvyCrmFake } from '../fakes/envycrm.ts';
import { type CrmContractHarness, runCrmContract } from './crm-contract.ts';

function contextFor(
  fake: EnvyCrmFake,
  options: { timeoutMs?: number; settings?: Partial<Record<keyof EnvycrmSettings, unknown>> } = {},
): CrmContext<EnvycrmSettings> {
  return {
    settings: envycrmSettings.parse({
      apiKey: fake.apiKey,
      apiBaseUrl: fake.url,
      departmentId: 590,
      inboxTypeId: 4478,
      phoneInputId: 2,
      emailInputId: 3,
      commentInputId: 4,
      ...options.settings,
    }),
    http: new HttpClient({ timeoutMs: options.timeoutMs ?? 5000 }),
    tokens: new MemoryTokenStore('envycrm-test'),
    clock: systemClock,
  };
}

const linesWith = (text: string | undefined, label: string) =>
  (text ?? '')
    .split('\n')
    .flatMap((line) => (line.startsWith(label) ? [line.slice(label.length).trim()] : []));

runCrmContract('envycrm', async (): Promise<CrmContractHarness<EnvycrmSettings>> => {
  const fake = await EnvyCrmFake.start();
  return {
    connector: envycrm,
    server: fake.server,
    ctx: async (options) => contextFor(fake, options),
    badCredentials: async () => contextFor(fake, { settings: { apiKey: 'wrong' } }),
    records: () =>
      [...fake.leads.values()].map((l) => ({
        id: String(l.id),
        name: l.values.name ?? '',
        phones: [l.values.phone ?? '', ...linesWith(l.values.comment, 'Телефон:')].filter(Boolean),
        emails: [l.values.email ?? ''].filter(Boolean),
        notes: [l.values.comment ?? ''],
      })),
    seed: (data) => {
      fake.seed(data);
    },
    isCreate: (r) => r.path === '/crm/api/v1/lead/set/',
    userIds: ['8056', '8057'],
    close: () => fake.close(),
  };
});

describe('envyCRM connector: requests on the wire', () => {
  let fake: EnvyCrmFake;
  beforeAll(async () => {
    fake = await EnvyCrmFake.start();
  });
  afterAll(() => fake.close());

  it('takes department, inbox type and field ids from the CRM structure when only the key is given', async () => {
    const ctx = contextFor(fake, {
      settings: {
        departmentId: undefined,
        inboxTypeId: undefined,
        phoneInputId: undefined,
        emailInputId: undefined,
        commentInputId: undefined,
      },
    });
    fake.server.reset();
    const prepared = await envycrm.prepareSettings(ctx);
    expect(prepared).toMatchObject({
      departmentId: 590,
      inboxTypeId: 4478,
      phoneInputId: 2,
      emailInputId: 3,
      commentInputId: 4,
    });
    const [structure] = fake.server.requests;
    expect(structure?.method).toBe('GET');
    expect(structure?.path).toBe('/crm/api/v1/main/data/');
    expect(Object.fromEntries(structure!.query)).toEqual({ api_key: fake.apiKey });
  });

  it('creates an incoming request wrapped in {request}', async () => {
    const ctx = contextFor(fake);
    fake.server.reset();
    const ref = await envycrm.createEntity(
      ctx,
      {
        contactId: 'c',
        name: 'Тестовый лид',
        phones: ['+79278888888'],
        emails: ['test@test2.com'],
        comment: 'Первое сообщение',
      },
      {},
    );
    expect(fake.server.requests[0]?.json).toEqual({
      request: {
        method: 'create',
        department_id: 590,
        inbox_type_id: 4478,
        values: {
          name: 'Тестовый лид',
          email: 'test@test2.com',
          phone: '79278888888',
          comment: 'Первое сообщение',
        },
      },
    });
    expect(fake.leads.has(Number(ref.id))).toBe(true);
  });

  it('searches by phone digits and by email', async () => {
    const ctx = contextFor(fake);
    fake.server.reset();
    await envycrm.findContact(ctx, { phones: ['+79031112233'], emails: ['A@B.ru'] });
    expect(fake.server.requests.map((r) => [r.path, r.json])).toEqual([
      ['/crm/api/v1/lead/search/', { request: { phone: '79031112233' } }],
      ['/crm/api/v1/lead/search/', { request: { email: 'a@b.ru' } }],
    ]);
  });

  it('updates a missing email with updateLeadValue and appends dialogs to the comment once', async () => {
    const ctx = contextFor(fake);
    const lead = fake.seed({ name: 'Ольга', phones: ['79162223344'], emails: [] });
    fake.server.reset();
    await envycrm.updateEntity(
      ctx,
      { kind: 'lead', id: String(lead.id) },
      { contactId: 'c', name: 'Ольга', phones: ['+79162223344'], emails: ['olga@example.com'] },
    );
    expect(fake.server.requests.map((r) => [r.path, r.json])).toEqual([
      ['/crm/api/v1/lead/get/', { request: { lead_id: lead.id } }],
      [
        '/crm/api/v1/lead/updateLeadValue/',
        {
          request: {
            lead_id: lead.id,
            fields: [{ value_type_id: 1, input_id: 3, value: 'olga@example.com' }],
          },
        },
      ],
    ]);
    await envycrm.attachNote(
      ctx,
      { kind: 'lead', id: String(lead.id) },
      { kind: 'transcript', text: 'Диалог 1' },
    );
    await envycrm.attachNote(
      ctx,
      { kind: 'lead', id: String(lead.id) },
      { kind: 'transcript', text: 'Диалог 1' },
    );
    await envycrm.attachNote(
      ctx,
      { kind: 'lead', id: String(lead.id) },
      { kind: 'transcript', text: 'Диалог 2' },
    );
    expect(lead.values.comment).toBe('Диалог 1\n\nДиалог 2');
  });

  it('lists employees from the CRM structure', async () => {
    expect(await envycrm.listUsers(contextFor(fake))).toEqual([
      { id: '8056', name: 'Анна Менеджер', email: 'anna@example.com', active: true },
      { id: '8057', name: 'Борис Продажи', email: 'boris@example.com', active: true },
    ]);
  });
});
