import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpClient, MemoryTokenStore } from '../../src/integrations/crm/http.ts';
import { generateInboundToken } from '../../src/integrations/crm/inbound.ts';
import { type PlanfixSettings, planfix, planfixSettings } from '../../src/integrations/crm/planfix/index.ts';
import { pushContact } from '../../src/integrations/crm/push.ts';
import { settingsForm } from '../../src/integrations/crm/settings.ts';
import type { CrmContext, InboundRequest } from '../../src/integrations/crm/types.ts';
import { systemClock } from '../../src/shared/clock.ts';
import { PlanfixFake } from '../fakes/planfix.ts';
import { type CrmContractHarness, runCrmContract } from './crm-contract.ts';

const CHAT_KEY = generateInboundToken();

function contextFor(
  fake: PlanfixFake,
  options: { timeoutMs?: number; settings?: Partial<Record<keyof PlanfixSettings, unknown>> } = {},
): CrmContext<PlanfixSettings> {
  return {
    settings: planfixSettings.parse({
      account: 'acme',
      providerId: fake.providerId,
      chatApiKey: CHAT_KEY,
      planfixToken: fake.planfixToken,
      restToken: fake.restToken,
      apiBaseUrl: fake.url,
      ...options.settings,
    }),
    http: new HttpClient({ timeoutMs: options.timeoutMs ?? 5000 }),
    tokens: new MemoryTokenStore('planfix-test'),
    clock: systemClock,
  };
}

function reply(fields: Record<string, string>, method = 'POST'): InboundRequest {
  return {
    method,
    path: '/planfix/receiver',
    query: new URLSearchParams(),
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    rawBody: new URLSearchParams(fields).toString(),
  };
}

const staffReply = (token: string, extra: Record<string, string> = {}) =>
  reply({
    cmd: 'newMessage',
    providerId: 'omnitalk-site-1',
    chatId: 'contact-77',
    token,
    message: 'Здравствуйте, что вас интересует?',
    messageId: '4188849',
    userName: 'Пётр',
    userLastName: 'Петров',
    ...extra,
  });

runCrmContract('planfix', async (): Promise<CrmContractHarness<PlanfixSettings>> => {
  const fake = await PlanfixFake.start();
  return {
    connector: planfix,
    server: fake.server,
    ctx: async (options) => contextFor(fake, options),
    badCredentials: async () => contextFor(fake, { settings: { planfixToken: 'wrong', restToken: 'wrong' } }),
    records: () =>
      [...fake.contacts.values()].map((c) => ({
        id: String(c.id),
        name: `${c.name} ${c.lastname}`.trim(),
        phones: c.phones.map((p) => p.number),
        emails: c.email ? [c.email] : [],
        notes: [...fake.tasks.values()].filter((t) => t.contactId === c.id).flatMap((t) => t.messages),
      })),
    seed: (data) => {
      fake.seedContact(data);
    },
    isCreate: (r) => r.path === '/webchat/api' && r.form.get('cmd') === 'newMessage',
    userIds: ['5', '7'],
    inbound: {
      genuine: () => staffReply(CHAT_KEY),
      forged: () => [
        staffReply(generateInboundToken()),
        staffReply(''),
        staffReply(CHAT_KEY, { providerId: 'someone-else' }),
        reply({ cmd: 'newMessage', chatId: 'x', message: 'hi' }),
      ],
    },
    close: () => fake.close(),
  };
});

describe('Planfix connector: requests on the wire', () => {
  let fake: PlanfixFake;
  beforeAll(async () => {
    fake = await PlanfixFake.start();
  });
  afterAll(() => fake.close());

  it('asks only for the Planfix key and an optional REST token; our key and providerId are generated', () => {
    const form = settingsForm(planfixSettings);
    expect(form.map((f) => [f.key, f.secret])).toEqual([
      ['account', false],
      ['planfixToken', true],
      ['restToken', true],
      ['apiBaseUrl', false],
    ]);
    expect(planfixSettings.safeParse({ ...contextFor(fake).settings, providerId: 'a~b' }).success).toBe(
      false,
    );
    expect(planfix.baseUrl(contextFor(fake, { settings: { apiBaseUrl: undefined } }).settings)).toBe(
      'https://acme.planfix.ru',
    );
  });

  it('creates the contact and task with newMessage, chatId and contactId being our contact id', async () => {
    const ctx = contextFor(fake);
    fake.server.reset();
    const ref = await planfix.createEntity(
      ctx,
      {
        contactId: 'contact-1',
        name: 'Иван Иванов',
        phones: ['+79051234567', '+79050000001'],
        emails: ['ivan@ivanov.com'],
        comment: 'Здравствуйте, есть вопрос',
        siteName: 'shop.ru',
      },
      {},
    );
    expect(ref).toEqual({
      kind: 'task',
      id: 'contact-1',
      related: { chatId: 'contact-1', name: 'Иван Иванов' },
    });
    const [call] = fake.server.requests;
    expect(call?.path).toBe('/webchat/api');
    expect(call?.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(Object.fromEntries(call!.form)).toEqual({
      cmd: 'newMessage',
      providerId: fake.providerId,
      planfix_token: fake.planfixToken,
      chatId: 'contact-1',
      contactId: 'contact-1',
      contactName: 'Иван',
      contactLastName: 'Иванов',
      contactEmail: 'ivan@ivanov.com',
      contactPhone: '79051234567',
      contactData: 'Телефон: +79050000001',
      message: 'Здравствуйте, есть вопрос',
      title: 'Онлайн-чат shop.ru: Иван Иванов',
    });
  });

  it('looks our chat contact up with getContact, then Planfix contacts over REST by phone and email', async () => {
    const ctx = contextFor(fake);
    fake.server.reset();
    expect(
      await planfix.findContact(ctx, {
        phones: ['+79031112233'],
        emails: ['a@b.ru'],
        contactId: 'contact-9',
      }),
    ).toBeNull();
    const [getContact, byPhone, byEmail] = fake.server.requests;
    expect(Object.fromEntries(getContact!.form)).toEqual({
      cmd: 'getContact',
      providerId: fake.providerId,
      planfix_token: fake.planfixToken,
      contactId: 'contact-9',
    });
    expect(byPhone?.path).toBe('/rest/contact/list');
    expect(byPhone?.headers.authorization).toBe(`Bearer ${fake.restToken}`);
    expect(byPhone?.json).toEqual({
      offset: 0,
      pageSize: 100,
      fields: 'id,name,lastname,email,phone',
      filters: [{ type: 4003, operator: 'equal', value: '9031112233' }],
    });
    expect((byEmail!.json as { filters: unknown[] }).filters).toEqual([
      { type: 4005, operator: 'equal', value: 'a@b.ru' },
    ]);
  });

  it('links the chat to a contact Planfix already had, then keeps talking in that chat', async () => {
    const ctx = contextFor(fake);
    const existing = fake.seedContact({ name: 'Мария', phones: ['8 (903) 555-44-33'], emails: [] });
    const pushed = await pushContact(
      planfix,
      ctx,
      { contactId: 'contact-2', name: 'Мария', phones: ['+79035554433'], emails: ['m@example.com'] },
      { ref: null },
    );
    expect(pushed.outcome).toBe('found');
    expect(existing.email).toBe('m@example.com');
    const ref = await planfix.attachNote(ctx, pushed.ref, { kind: 'transcript', text: 'Диалог 1' });
    expect(ref).toEqual({
      kind: 'task',
      id: 'contact-2',
      related: { chatId: 'contact-2', planfixContact: String(existing.id) },
    });
    expect(existing.chatContactId).toBe('contact-2');
    expect([...fake.tasks.values()].find((t) => t.chatId === 'contact-2')?.messages).toEqual(['Диалог 1']);
  });

  it('updates a chat contact with updateContact', async () => {
    const ctx = contextFor(fake);
    await planfix.createEntity(
      ctx,
      { contactId: 'contact-3', name: null, phones: ['+79160000003'], emails: [] },
      {},
    );
    fake.server.reset();
    await planfix.updateEntity(
      ctx,
      { kind: 'task', id: 'contact-3' },
      {
        contactId: 'contact-3',
        name: 'Олег',
        phones: ['+79160000003'],
        emails: ['oleg@example.com'],
      },
    );
    const [update] = fake.server.requests;
    expect(Object.fromEntries(update!.form)).toMatchObject({
      cmd: 'updateContact',
      contactId: 'contact-3',
      contactName: 'Олег',
      contactEmail: 'oleg@example.com',
      contactPhone: '79160000003',
    });
  });

  it('lists employees over REST and needs the REST token for it', async () => {
    expect(await planfix.listUsers(contextFor(fake))).toEqual([
      { id: '5', name: 'Пётр Петров', email: 'petr@example.com', active: true },
      { id: '7', name: 'Мария Иванова', email: 'maria@example.com', active: true },
    ]);
    await expect(
      planfix.listUsers(contextFor(fake, { settings: { restToken: undefined } })),
    ).rejects.toMatchObject({
      reason: 'not_configured',
      field: 'restToken',
    });
  });

  it('turns a manager reply into a staff message named by the manager, and answers with the chat ids', () => {
    const ctx = contextFor(fake);
    const body = `${staffReply(CHAT_KEY).rawBody}&attachments%5Bname%5D=${encodeURIComponent('счёт.pdf')}&attachments%5Burl%5D=${encodeURIComponent('https://acme.planfix.ru/file/1')}`;
    expect(planfix.parseInbound(ctx, { ...staffReply(CHAT_KEY), rawBody: body })).toEqual({
      ok: true,
      events: [
        {
          type: 'staff_message',
          conversationRef: 'contact-77',
          crmUserId: null,
          crmUserName: 'Пётр Петров',
          text: 'Здравствуйте, что вас интересует?\nсчёт.pdf: https://acme.planfix.ru/file/1',
          externalMessageId: '4188849',
        },
      ],
      reply: {
        status: 200,
        contentType: 'application/json',
        body: '{"chatId":"contact-77","contactId":"contact-77"}',
      },
    });
    const first = reply({
      cmd: 'newMessage',
      providerId: fake.providerId,
      contactPhone: '71234567890',
      token: CHAT_KEY,
      message: 'Добрый день!',
      messageId: '1',
      userName: 'Пётр',
    });
    expect(planfix.parseInbound(ctx, first)).toMatchObject({
      ok: true,
      events: [{ type: 'staff_message', conversationRef: 'phone:+71234567890', crmUserName: 'Пётр' }],
    });
    // Once the hub filed it under our contact, Planfix learns that contact's id as the chat id.
    expect(planfix.inboundReply({ ref: 'phone:+71234567890', contactId: 42 }).body).toBe(
      '{"chatId":"42","contactId":"42"}',
    );
    expect(planfix.inboundReply({ ref: 'contact-77', contactId: 77 }).body).toBe(
      '{"chatId":"contact-77","contactId":"contact-77"}',
    );
  });
});
