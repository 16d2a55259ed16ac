import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpClient, MemoryTokenStore } from '../../src/integrations/crm/http.ts';
import { generateInboundToken } from '../../src/integrations/crm/inbound.ts';
import {
  type OmnideskSettings,
  omnidesk,
  omnideskSettings,
} from '../../src/integrations/crm/omnidesk/index.ts';
import { pushContact } from '../../src/integrations/crm/push.ts';
import type { CrmContext, InboundRequest } from '../../src/integrations/crm/types.ts';
import { systemClock } from '../../src/shared/clock.ts';
import { OmnideskFake } from '../fakes/omnidesk.ts';
import { type CrmContractHarness, runCrmContract } from './crm-contract.ts';

const TOKEN = generateInboundToken();

function contextFor(
  fake: OmnideskFake,
  options: { timeoutMs?: number; settings?: Partial<Record<keyof OmnideskSettings, unknown>> } = {},
): CrmContext<OmnideskSettings> {
  return {
    settings: omnideskSettings.parse({
      domain: 'acme',
      staffEmail: fake.staffEmail,
      apiKey: fake.apiKey,
      customChannelId: 'cch481',
      webhookToken: TOKEN,
      apiBaseUrl: fake.url,
      ...options.settings,
    }),
    http: new HttpClient({ timeoutMs: options.timeoutMs ?? 5000 }),
    tokens: new MemoryTokenStore('omnidesk-test'),
    clock: systemClock,
  };
}

const phonesIn = (text: string | undefined) =>
  (text ?? '').split('\n').flatMap((line) => (/Телефон/.test(line) ? [line.replace(/^[^+\d]+/, '')] : []));

function webhook(token: string, object: Record<string, unknown>, method = 'POST'): InboundRequest {
  return {
    method,
    path: `/omnidesk/${token}`,
    query: new URLSearchParams(),
    headers: { 'content-type': 'application/json' },
    rawBody: JSON.stringify({ type: 'message_new', object }),
  };
}

const reply = {
  message_id: 2001,
  case_id: 9000,
  staff_id: 201,
  user_id: 300,
  custom_user_id: 'contact-77',
  content: 'Здравствуйте! Чем помочь?',
  note: false,
  sent_via_rule: false,
};

runCrmContract('omnidesk', async (): Promise<CrmContractHarness<OmnideskSettings>> => {
  const fake = await OmnideskFake.start();
  return {
    connector: omnidesk,
    server: fake.server,
    ctx: async (options) => contextFor(fake, options),
    badCredentials: async () => contextFor(fake, { settings: { apiKey: 'wrong' } }),
    records: () =>
      [...fake.users.values()].map((u) => {
        const cases = [...fake.cases.values()].filter((c) => c.user_id === u.user_id);
        return {
          id: String(u.user_id),
          name: u.user_full_name,
          phones: [
            ...(u.user_phone ? [u.user_phone] : []),
            ...phonesIn(u.user_note),
            ...cases.flatMap((c) => phonesIn(c.messages[0]?.content)),
          ],
          emails: u.user_email ? [u.user_email] : [],
          notes: cases.flatMap((c) => c.notes),
        };
      }),
    seed: (data) => {
      fake.seedUser(data);
    },
    isCreate: (r) => r.method === 'POST' && r.path === '/api/cases.json',
    userIds: ['201', '202'],
    rateLimited: { response: { status: 429, headers: { retry_after: '7' }, body: {} }, retryAfterMs: 7000 },
    inbound: {
      genuine: () => webhook(TOKEN, reply),
      forged: () => [
        webhook(generateInboundToken(), reply),
        webhook('', reply),
        { ...webhook(TOKEN, reply), path: '/omnidesk' },
        webhook(TOKEN, reply, 'GET'),
      ],
    },
    close: () => fake.close(),
  };
});

describe('Omnidesk connector: requests on the wire', () => {
  let fake: OmnideskFake;
  beforeAll(async () => {
    fake = await OmnideskFake.start();
  });
  afterAll(() => fake.close());

  it('accepts the custom channel as cch481 or 481 and checks it exists on the test call', async () => {
    expect(contextFor(fake, { settings: { customChannelId: '481' } }).settings.customChannelId).toBe(
      'cch481',
    );
    expect(omnidesk.baseUrl(contextFor(fake, { settings: { apiBaseUrl: undefined } }).settings)).toBe(
      'https://acme.omnidesk.ru',
    );
    fake.server.reset();
    await omnidesk.testConnection(contextFor(fake));
    const [staff, channels] = fake.server.requests;
    expect(staff?.path).toBe('/api/staff.json');
    expect(staff?.headers.authorization).toBe(
      `Basic ${Buffer.from(`${fake.staffEmail}:${fake.apiKey}`).toString('base64')}`,
    );
    expect(channels?.path).toBe('/api/custom_channels.json');
    await expect(
      omnidesk.testConnection(contextFor(fake, { settings: { customChannelId: 'cch999' } })),
    ).rejects.toMatchObject({
      field: 'customChannelId',
    });
  });

  it('opens a case in the custom channel with the visitor as requester', async () => {
    const ctx = contextFor(fake);
    fake.server.reset();
    const ref = await omnidesk.createEntity(
      ctx,
      {
        contactId: 'contact-1',
        name: 'Иван',
        phones: ['+79161234567'],
        emails: ['ivan@example.com'],
        comment: 'Вопрос по доставке',
        siteName: 'shop.ru',
      },
      {},
    );
    const [create] = fake.server.requests;
    expect(create?.method).toBe('POST');
    expect(create?.path).toBe('/api/cases.json');
    expect(create?.json).toEqual({
      case: {
        user_custom_id: 'contact-1',
        channel: 'cch481',
        user_email: 'ivan@example.com',
        user_full_name: 'Иван',
        subject: 'Онлайн-чат shop.ru: Иван',
        content: 'Вопрос по доставке\nТелефон: +79161234567',
        content_html: '<p>Вопрос по доставке<br>Телефон: +79161234567</p>',
      },
    });
    expect(ref).toEqual({ kind: 'case', id: expect.any(String), related: { userId: expect.any(String) } });
  });

  it('finds our own custom-channel user first, then by exact email and by phone', async () => {
    const ctx = contextFor(fake);
    fake.server.reset();
    await omnidesk.findContact(ctx, {
      phones: ['+79031112233'],
      emails: ['Maria@Example.com'],
      contactId: 'contact-x',
    });
    expect(fake.server.requests.map((r) => Object.fromEntries(r.query))).toEqual([
      { user_custom_id: '^contact-x^', user_custom_channel: 'cch481', limit: '100' },
      { user_email: '^maria@example.com^', limit: '100' },
      { user_phone: '9031112233', limit: '100' },
    ]);
  });

  it('opens a case for a found user with the first transcript, then adds notes and messages to it', async () => {
    const ctx = contextFor(fake);
    const user = fake.seedUser({ name: 'Мария', phones: ['+7 903 111-22-33'], emails: [] });
    const found = await pushContact(
      omnidesk,
      ctx,
      {
        contactId: 'contact-2',
        name: 'Мария',
        phones: ['+79031112233'],
        emails: [],
      },
      { ref: null },
    );
    expect(found).toEqual({
      outcome: 'found',
      ref: { kind: 'user', id: String(user.user_id), related: { contactId: 'contact-2' } },
    });
    fake.server.reset();
    const caseRef = await omnidesk.attachNote(ctx, found.ref, { kind: 'transcript', text: 'Первый диалог' });
    expect(caseRef.kind).toBe('case');
    const [read, create] = fake.server.requests;
    expect(read?.path).toBe(`/api/users/${user.user_id}.json`);
    expect(create?.json).toEqual({
      case: {
        user_custom_id: 'contact-2',
        channel: 'cch481',
        user_phone: '+7 903 111-22-33',
        subject: 'Онлайн-чат',
        content: 'Первый диалог',
        content_html: '<p>Первый диалог</p>',
      },
    });
    fake.server.reset();
    expect(await omnidesk.attachNote(ctx, caseRef, { kind: 'transcript', text: 'Второй диалог' })).toEqual(
      caseRef,
    );
    await omnidesk.attachNote(ctx, caseRef, { kind: 'message', text: 'Ещё вопрос' });
    expect(fake.server.requests.map((r) => [r.path, r.json])).toEqual([
      [
        `/api/cases/${caseRef.id}/note.json`,
        { note: { content: 'Второй диалог', content_html: '<p>Второй диалог</p>' } },
      ],
      [
        `/api/cases/${caseRef.id}/messages.json`,
        { message: { user_id: Number(caseRef.related?.userId), content: 'Ещё вопрос' } },
      ],
    ]);
  });

  it('sets an empty email and the real name, and keeps extra phones in the user note', async () => {
    const ctx = contextFor(fake);
    const user = fake.seedUser({ name: 'ivan@example.org', phones: [], emails: ['ivan@example.org'] });
    fake.server.reset();
    await omnidesk.updateEntity(
      ctx,
      { kind: 'user', id: String(user.user_id) },
      {
        contactId: 'c',
        name: 'Иван Иванов',
        phones: ['+79165556677'],
        emails: ['ivan@example.org'],
      },
    );
    const put = fake.server.requests.find((r) => r.method === 'PUT');
    expect(put?.path).toBe(`/api/users/${user.user_id}.json`);
    expect(put?.json).toEqual({
      user: { user_note: 'Телефон из чата: +79165556677', user_full_name: 'Иван Иванов' },
    });
    fake.server.reset();
    await omnidesk.updateEntity(
      ctx,
      { kind: 'user', id: String(user.user_id) },
      {
        contactId: 'c',
        name: 'Иван Иванов',
        phones: ['+79165556677'],
        emails: [],
      },
    );
    expect(fake.server.requests.map((r) => r.method)).toEqual(['GET']);
  });

  it('lists staff from the indexed list answer', async () => {
    expect(await omnidesk.listUsers(contextFor(fake))).toEqual([
      { id: '201', name: 'Анна', email: 'anna@example.com', active: true },
      { id: '202', name: 'Борис', email: 'boris@example.com', active: true },
    ]);
  });

  it('turns a staff reply into a message for the visitor and ignores internal notes', async () => {
    const ctx = contextFor(fake);
    expect(omnidesk.parseInbound(ctx, webhook(TOKEN, reply))).toEqual({
      ok: true,
      events: [
        {
          type: 'staff_message',
          conversationRef: 'contact-77',
          crmUserId: '201',
          text: 'Здравствуйте! Чем помочь?',
          externalMessageId: '2001',
        },
      ],
      reply: { status: 200, contentType: 'application/json', body: '{"result":"ok"}' },
    });
    expect(omnidesk.parseInbound(ctx, webhook(TOKEN, { ...reply, note: true }))).toMatchObject({
      ok: true,
      events: [{ type: 'ignored', reason: 'internal note' }],
    });
    const noToken = contextFor(fake, { settings: { webhookToken: undefined } });
    expect(omnidesk.parseInbound(noToken, webhook(TOKEN, reply))).toMatchObject({ ok: false, status: 401 });
  });
});
