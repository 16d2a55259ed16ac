import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  contactAnswer,
  type GravitelSettings,
  gravitel,
  gravitelSettings,
  makeCall,
} from '../../src/integrations/crm/gravitel/index.ts';
import { HttpClient, MemoryTokenStore } from '../../src/integrations/crm/http.ts';
import { generateInboundToken } from '../../src/integrations/crm/inbound.ts';
import { pushContact } from '../../src/integrations/crm/push.ts';
import type { CrmContext, InboundRequest } from '../../src/integrations/crm/types.ts';
import { systemClock } from '../../src/shared/clock.ts';
import { GravitelFake } from '../fakes/gravitel.ts';
import { type CrmContractHarness, runCrmContract } from './crm-contract.ts';

const CRM_TOKEN = generateInboundToken();

function contextFor(
  fake: GravitelFake,
  options: { timeoutMs?: number; settings?: Partial<Record<keyof GravitelSettings, unknown>> } = {},
): CrmContext<GravitelSettings> {
  return {
    settings: gravitelSettings.parse({
      domain: 'ats23',
      token: fake.token,
      crmToken: CRM_TOKEN,
      apiBaseUrl: fake.url,
      ...options.settings,
    }),
    http: new HttpClient({ timeoutMs: options.timeoutMs ?? 5000 }),
    tokens: new MemoryTokenStore('gravitel-test'),
    clock: systemClock,
  };
}

/** What the PBX posts to our notification URL. */
function notification(fields: Record<string, string>, method = 'POST'): InboundRequest {
  return {
    method,
    path: '/gravitel',
    query: new URLSearchParams(),
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    rawBody: new URLSearchParams(fields).toString(),
  };
}

const history = (token: string, extra: Record<string, string> = {}) =>
  notification({
    cmd: 'history',
    type: 'in',
    status: 'Success',
    phone: '79101234567',
    user: 'alexey',
    ext: '703',
    start: '20170703T121110Z',
    duration: '124',
    link: 'https://records.example/file.mp3',
    callid: 'B10D0EB124F4E64AF4EA-1511',
    crm_token: token,
    ...extra,
  });

runCrmContract(
  'gravitel',
  async (): Promise<CrmContractHarness<GravitelSettings>> => {
    const fake = await GravitelFake.start();
    return {
      connector: gravitel,
      server: fake.server,
      ctx: async (options) => contextFor(fake, options),
      badCredentials: async () => contextFor(fake, { settings: { token: 'wrong' } }),
      records: () => [],
      seed: () => {},
      isCreate: () => false,
      userIds: ['alexey', 'admin', 'ivan'],
      inbound: {
        genuine: () => history(CRM_TOKEN),
        forged: () => [
          history(generateInboundToken()),
          history(''),
          notification({ cmd: 'history', phone: '79101234567' }),
          { ...history(CRM_TOKEN), method: 'GET' },
        ],
      },
      close: () => fake.close(),
    };
  },
  { contacts: 'Gravitel is a PBX: calls come to us, there are no contact records to push' },
);

describe('Gravitel connector: requests on the wire and notifications', () => {
  let fake: GravitelFake;
  beforeAll(async () => {
    fake = await GravitelFake.start();
  });
  afterAll(() => fake.close());

  it('lists PBX accounts with cmd=accounts and the token, form-encoded', async () => {
    const ctx = contextFor(fake);
    expect(gravitel.baseUrl(contextFor(fake, { settings: { apiBaseUrl: undefined } }).settings)).toBe(
      'https://ats23.gravitel.ru',
    );
    fake.server.reset();
    const users = await gravitel.listUsers(ctx);
    expect(users).toContainEqual({
      id: 'admin',
      name: 'Администратор',
      email: 'folodia@example.com',
      active: true,
    });
    const [call] = fake.server.requests;
    expect(call?.path).toBe('/sys/crm_api.wcgp');
    expect(Object.fromEntries(call!.form)).toEqual({ cmd: 'accounts', token: fake.token });
  });

  it('orders a call-back with makeCall', async () => {
    const ctx = contextFor(fake);
    fake.server.reset();
    await makeCall(ctx, { phone: '+7 (918) 123-45-67', user: '701' });
    expect(Object.fromEntries(fake.server.requests[0]!.form)).toEqual({
      cmd: 'makeCall',
      phone: '79181234567',
      user: '701',
      token: fake.token,
    });
    expect(fake.calls).toEqual([{ phone: '79181234567', user: '701' }]);
  });

  it('keeps no contacts: pushing one is refused', async () => {
    await expect(
      pushContact(
        gravitel,
        contextFor(fake),
        { contactId: 'c', name: null, phones: ['+79161234567'], emails: [] },
        { ref: null },
      ),
    ).rejects.toMatchObject({
      reason: 'not_supported',
    });
  });

  it('turns a history notification into a call record for the contact’s chat', () => {
    const result = gravitel.parseInbound(contextFor(fake), history(CRM_TOKEN));
    expect(result).toEqual({
      ok: true,
      events: [
        {
          type: 'call',
          direction: 'in',
          status: 'answered',
          phone: '+79101234567',
          crmUserId: 'alexey',
          startedAt: new Date('2017-07-03T12:11:10Z'),
          durationSec: 124,
          recordUrl: 'https://records.example/file.mp3',
          callId: 'B10D0EB124F4E64AF4EA-1511',
        },
      ],
      reply: { status: 200, contentType: 'text/plain; charset=utf-8', body: '' },
    });
    expect(
      gravitel.parseInbound(contextFor(fake), history(CRM_TOKEN, { type: 'out', status: 'missed' })),
    ).toMatchObject({
      events: [{ direction: 'out', status: 'missed' }],
    });
  });

  it('passes ringing events on for the personal notification, and answers contact lookups', () => {
    const ctx = contextFor(fake);
    expect(
      gravitel.parseInbound(
        ctx,
        notification({
          cmd: 'event',
          type: 'INCOMING',
          phone: '79101234567',
          user: 'andy',
          callid: 'x-1',
          crm_token: CRM_TOKEN,
        }),
      ),
    ).toMatchObject({
      ok: true,
      events: [
        { type: 'call_event', stage: 'incoming', phone: '+79101234567', crmUserId: 'andy', callId: 'x-1' },
      ],
    });
    expect(
      gravitel.parseInbound(
        ctx,
        notification({ cmd: 'contact', phone: '79101234567', callid: 'x-2', crm_token: CRM_TOKEN }),
      ),
    ).toMatchObject({
      ok: true,
      events: [{ type: 'contact_lookup', phone: '+79101234567', callId: 'x-2' }],
    });
    expect(contactAnswer('Иван Петров', 'andy')).toMatchObject({
      reply: {
        status: 200,
        contentType: 'application/json',
        body: '{"contact_name":"Иван Петров","responsible":"andy"}',
      },
    });
    expect(gravitel.parseInbound(ctx, notification({ cmd: 'bogus', crm_token: CRM_TOKEN }))).toEqual({
      ok: false,
      status: 400,
      reason: 'Invalid cmd',
    });
  });
});
