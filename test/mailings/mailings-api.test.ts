import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTenant, startTestApp, type Tenant, type TestApp } from '../support/app.ts';
import { backends } from '../support/db.ts';

const sms = {
  blocks: [
    {
      id: 's',
      kind: 'send',
      start: true,
      channel: 'sms',
      decisionTimeSec: 600,
      content: { text: 'Привет, {{name}}' },
    },
  ],
  links: [],
};

describe.each(backends)('schemes and mailings API on $name', (backend) => {
  let t: TestApp;
  let tenant: Tenant;
  let groupId: number;
  let emptyGroupId: number;
  beforeAll(async () => {
    t = await startTestApp(backend);
    tenant = await createTenant(t.ctx);
    groupId = (await api('POST', '/groups', { name: 'Все' })).json().id;
    emptyGroupId = (await api('POST', '/groups', { name: 'Пусто' })).json().id;
    await api('POST', '/contacts', {
      phone: '+79996000001',
      name: 'Анна',
      vars: { city: 'Казань' },
      group_ids: [groupId],
    });
    await api('POST', '/contacts', { phone: '+79996000002', name: 'Борис', group_ids: [groupId] });
  });
  afterAll(() => t.close());

  function api(method: 'GET' | 'POST' | 'DELETE', url: string, payload?: unknown) {
    return t.app.inject({
      method,
      url: `/api/v1${url}`,
      headers: tenant.auth,
      ...(payload !== undefined && { payload: payload as object }),
    });
  }

  it('validates schemes with block/link-named errors and stable codes, saves by name, offers the templates', async () => {
    const bad = await api('POST', '/schemes/validate', {
      blocks: [
        { id: 'a', kind: 'send', start: true, channel: 'sms', decisionTimeSec: 600, content: { text: 'x' } },
        { id: 'lost', kind: 'goal' },
      ],
      links: [{ id: 'l', from: 'a', to: 'a', kind: 'status', status: 'viewed' }],
    });
    expect(bad.statusCode).toBe(200);
    const body = bad.json();
    expect(body.valid).toBe(false);
    expect(body.errors).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ block: 'lost', code: 'unreachable_block' }),
        expect.objectContaining({ link: 'l', code: 'invalid_status' }),
      ]),
    );
    const templates = (await api('GET', '/schemes/templates')).json().items;
    expect(templates.map((x: { name: string }) => x.name)).toEqual(['Viber/Голос/СМС', 'Viber/СМС']);
    for (const tpl of templates)
      expect((await api('POST', '/schemes/validate', tpl.definition)).json().valid).toBe(true);
    const saved = await api('POST', '/schemes', { name: 'Мой каскад', definition: templates[1].definition });
    expect(saved.statusCode).toBe(201);
    const refused = await api('POST', '/schemes', { name: 'x', definition: { blocks: [], links: [] } });
    expect(refused.statusCode).toBe(400);
    expect((await api('GET', '/schemes')).json().items.map((s: { name: string }) => s.name)).toEqual([
      'Мой каскад',
    ]);
  });

  const create = (body: Record<string, unknown>) =>
    api('POST', '/mailings', {
      recipients: { group_ids: [groupId] },
      ...('variants' in body ? {} : { scheme: sms }),
      ...body,
    });

  it.each([
    ['an invalid scheme', { scheme: { blocks: [], links: [] } }, 'scheme.blocks'],
    ['no recipients', { recipients: { group_ids: [emptyGroupIdRef()] } }, 'recipients'],
    ['a group of another account or none', { recipients: { group_ids: [987654] } }, 'recipients.group_ids'],
    [
      'smooth sending ending before the start',
      { start_at: '2026-12-01T10:00:00+03:00', smooth_until: '2026-12-01T09:00:00+03:00' },
      'smooth_until',
    ],
    ['an empty send window', { window: { from: '10:00', to: '10:00' } }, 'window'],
    ['a window with no weekdays', { window: { from: '09:00', to: '21:00', weekdays: [] } }, 'window'],
    ['an unknown time zone', { sender_timezone: 'Europe/Atlantis' }, 'sender_timezone'],
    ['a bad start time', { start_at: 'tomorrow' }, 'start_at'],
    [
      'a template variable the contacts lack',
      { scheme: { ...sms, blocks: [{ ...sms.blocks[0], content: { text: 'Город {{city}}' } }] } },
      'scheme.blocks.s.content.text',
    ],
    [
      'split percentages not adding up to 100',
      {
        variants: [
          { percent: 50, scheme: sms },
          { percent: 40, scheme: sms },
        ],
      },
      'variants',
    ],
    ['both a scheme and a single channel', { single: { channel: 'sms', content: { text: 'x' } } }, 'scheme'],
  ])('refuses %s before anything is sent, naming the field', async (_what, body, field) => {
    const resolved = JSON.parse(JSON.stringify(body).replace('"__EMPTY__"', String(emptyGroupId)));
    const before = await t.ctx.db
      .selectFrom('mailings')
      .select((eb) => eb.fn.countAll().as('n'))
      .executeTakeFirstOrThrow();
    const res = await create(resolved);
    expect(res.statusCode, res.body).toBeGreaterThanOrEqual(400);
    expect(res.statusCode).toBeLessThan(500);
    expect(res.json().error.field).toBe(field);
    const after = await t.ctx.db
      .selectFrom('mailings')
      .select((eb) => eb.fn.countAll().as('n'))
      .executeTakeFirstOrThrow();
    expect(Number(after.n)).toBe(Number(before.n));
  });

  it('creates a single-channel mailing as a one-block scheme, starts it, pauses, resumes, cancels, repeats', async () => {
    const res = await api('POST', '/mailings', {
      recipients: { group_ids: [groupId] },
      single: { channel: 'sms', content: { text: 'Скидка 10%' } },
      tags: ['promo'],
      start_at: '2030-01-01T10:00:00+03:00',
    });
    expect(res.statusCode).toBe(201);
    const m = res.json();
    expect(m.status).toBe('draft');
    const started = (await api('POST', `/mailings/${m.id}/start`)).json();
    expect(started).toMatchObject({ status: 'scheduled', recipients_total: 2 });
    expect((await api('POST', `/mailings/${m.id}/start`)).statusCode).toBe(409);
    expect((await api('POST', `/mailings/${m.id}/pause`)).json().status).toBe('paused');
    expect((await api('POST', `/mailings/${m.id}/resume`)).json().status).toBe('scheduled');
    expect((await api('POST', `/mailings/${m.id}/cancel`)).json().status).toBe('cancelled');
    const repeat = await api('POST', `/mailings/${m.id}/repeat`, { subset: 'all' });
    expect(repeat.statusCode).toBe(201);
    expect(repeat.json()).toMatchObject({ status: 'draft', source_mailing_id: m.id });
    const list = (await api('GET', '/mailings?tag=promo')).json();
    expect(list.items.length).toBe(2);
  });
});

function emptyGroupIdRef() {
  return '__EMPTY__';
}
