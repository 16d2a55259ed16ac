import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpClient, MemoryTokenStore } from '../../src/integrations/crm/http.ts';
import type { CrmContext } from '../../src/integrations/crm/types.ts';
import { type UonSettings, uon, uonSettings } from '../../src/integrations/crm/uon/index.ts';
import { ManualClock } from '../../src/shared/clock.ts';
import { UonFake } from '../fakes/uon.ts';
import { type CrmContractHarness, runCrmContract } from './crm-contract.ts';

const clock = new ManualClock('2026-03-01T09:30:15Z');

function contextFor(
  fake: UonFake,
  options: { timeoutMs?: number; settings?: Partial<Record<keyof UonSettings, unknown>> } = {},
): CrmContext<UonSettings> {
  return {
    settings: uonSettings.parse({
      domain: 'agency.u-on.ru',
      apiKey: fake.apiKey,
      apiBaseUrl: fake.url,
      ...options.settings,
    }),
    http: new HttpClient({ timeoutMs: options.timeoutMs ?? 5000 }),
    tokens: new MemoryTokenStore('uon-test'),
    clock,
  };
}

runCrmContract('uon', async (): Promise<CrmContractHarness<UonSettings>> => {
  const fake = await UonFake.start();
  return {
    connector: uon,
    server: fake.server,
    ctx: async (options) => contextFor(fake, options),
    badCredentials: async () => contextFor(fake, { settings: { apiKey: 'wrongKey' } }),
    records: () =>
      [...fake.users.values()].map((u) => ({
        id: String(u.u_id),
        name: `${u.u_name} ${u.u_surname}`.trim(),
        phones: [u.u_phone, u.u_phone_mobile].filter(Boolean),
        emails: u.u_email ? [u.u_email] : [],
        notes: [...fake.leads.values()]
          .filter((l) => l.client_id === u.u_id)
          .flatMap((l) => l.actions.map((a) => a.text)),
      })),
    seed: (data) => {
      fake.seed(data);
    },
    isCreate: (r) => r.path.endsWith('/lead/create.json'),
    userIds: ['11', '12'],
    rateLimited: {
      response: { status: 429, body: { result: 429, message: 'Too many requests' } },
      retryAfterMs: null,
    },
    close: () => fake.close(),
  };
});

describe('U-ON.Travel connector: requests on the wire', () => {
  let fake: UonFake;
  beforeAll(async () => {
    fake = await UonFake.start();
  });
  afterAll(() => fake.close());

  it('puts the key into the path and never into an error message', async () => {
    fake.server.reset();
    await uon.testConnection(contextFor(fake));
    expect(fake.server.requests[0]?.path).toBe(`/${fake.apiKey}/manager.json`);
    const error = await uon.testConnection(contextFor(fake, { settings: { apiKey: 'secretWrongKey' } })).then(
      () => null,
      (e: unknown) => e as Error,
    );
    expect(error).toMatchObject({ kind: 'permanent', reason: 'forbidden' });
    expect(error?.message).not.toContain('secretWrongKey');
    expect(uon.baseUrl(contextFor(fake).settings)).not.toContain(fake.apiKey);
  });

  it('finds the client by phone digits, then their latest обращение', async () => {
    const ctx = contextFor(fake);
    const user = fake.seed({ name: 'Анна', phones: [' 79031112233'], emails: [] });
    const newer = [...fake.leads.values()].find((l) => l.client_id === user.u_id)!;
    fake.server.reset();
    const ref = await uon.findContact(ctx, { phones: ['+79031112233'], emails: [] });
    expect(ref).toEqual({ kind: 'lead', id: String(newer.id), related: { userId: String(user.u_id) } });
    expect(fake.server.requests.map((r) => `${r.method} ${r.path.replace(`/${fake.apiKey}`, '')}`)).toEqual([
      'GET /user/phone/79031112233.json',
      `GET /lead-by-client/${user.u_id}/1.json`,
    ]);
  });

  it('searches by email with a form body, and treats 404 as nothing found', async () => {
    const ctx = contextFor(fake);
    fake.server.reset();
    expect(
      await uon.findContact(ctx, { phones: ['+79990000001'], emails: ['Nobody@Example.com'] }),
    ).toBeNull();
    const [, byEmail] = fake.server.requests;
    expect(byEmail?.method).toBe('POST');
    expect(byEmail?.path).toBe(`/${fake.apiKey}/user/email.json`);
    expect(Object.fromEntries(byEmail!.form)).toEqual({
      email: 'nobody@example.com',
      u_email: 'nobody@example.com',
    });
  });

  it('creates an обращение with source, client data, note and manager; under a known client when there is one', async () => {
    const ctx = contextFor(fake);
    fake.server.reset();
    await uon.createEntity(
      ctx,
      {
        contactId: 'c',
        name: 'Иван Петров',
        phones: ['+79161234567', '+79160000009'],
        emails: ['ivan@example.com'],
        comment: 'Хочу в Турцию',
      },
      { responsibleUserId: '12' },
    );
    const create = fake.server.requests.find((r) => r.path.endsWith('/lead/create.json'));
    expect(Object.fromEntries(create!.form)).toEqual({
      source: 'Онлайн-чат',
      u_name: 'Иван',
      u_surname: 'Петров',
      u_phone: '79161234567',
      u_email: 'ivan@example.com',
      note: 'Хочу в Турцию\nТелефон: +79160000009',
      r_u_id: '12',
    });
    const known = fake.users.size;
    const clientOnly = [...fake.users.values()].at(-1)!;
    for (const lead of [...fake.leads.values()]) {
      if (lead.client_id === clientOnly.u_id) fake.leads.delete(lead.id);
    }
    fake.server.reset();
    const ref = await uon.createEntity(
      ctx,
      { contactId: 'c', name: null, phones: ['+79161234567'], emails: [] },
      {},
    );
    expect(fake.server.requests.find((r) => r.path.endsWith('/lead/create.json'))?.form.get('u_id')).toBe(
      String(clientOnly.u_id),
    );
    expect(ref.related).toEqual({ userId: String(clientOnly.u_id) });
    expect(fake.users.size).toBe(known);
  });

  it('adds a comment action with the account-local time', async () => {
    const ctx = contextFor(fake);
    const user = fake.seed({ name: 'Пётр', phones: ['+79160000002'], emails: [] });
    const lead = [...fake.leads.values()].find((l) => l.client_id === user.u_id)!;
    fake.server.reset();
    await uon.attachNote(ctx, { kind: 'lead', id: String(lead.id) }, { kind: 'transcript', text: 'Диалог' });
    expect(Object.fromEntries(fake.server.requests[0]!.form)).toEqual({
      r_id: String(lead.id),
      type_id: '0',
      datetime: '2026-03-01 12:30:15',
      text: 'Диалог',
    });
  });

  it('fills an empty client email through user/update', async () => {
    const ctx = contextFor(fake);
    const user = fake.seed({ name: 'Ольга', phones: ['+79162223344'], emails: [] });
    const lead = [...fake.leads.values()].find((l) => l.client_id === user.u_id)!;
    fake.server.reset();
    await uon.updateEntity(
      ctx,
      { kind: 'lead', id: String(lead.id) },
      { contactId: 'c', name: 'Ольга', phones: ['+79162223344'], emails: ['olga@example.com'] },
    );
    expect(fake.server.requests.map((r) => r.path.replace(`/${fake.apiKey}`, ''))).toEqual([
      `/lead/${lead.id}.json`,
      `/user/update/${user.u_id}.json`,
    ]);
    expect(Object.fromEntries(fake.server.requests[1]!.form)).toEqual({ u_email: 'olga@example.com' });
  });
});
