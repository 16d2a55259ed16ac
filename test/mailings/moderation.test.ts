import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createUser } from '../../src/accounts/accounts.ts';
import { topUp } from '../../src/billing/ledger.ts';
import { channelAdapters } from '../../src/channels/registry.ts';
import { CascadeEngine } from '../../src/mailings/engine/engine.ts';
import { createTenant, startTestApp, type Tenant, type TestApp } from '../support/app.ts';
import { backends } from '../support/db.ts';

type Method = 'GET' | 'POST' | 'DELETE';

/** A multipart/form-data body with one file field, as a browser sends it. */
function multipart(field: string, fileName: string, content: Buffer, type = 'application/octet-stream') {
  const boundary = `----omnitalk${crypto.randomBytes(8).toString('hex')}`;
  const head = `--${boundary}\r\nContent-Disposition: form-data; name="${field}"; filename="${fileName}"\r\nContent-Type: ${type}\r\n\r\n`;
  return {
    payload: Buffer.concat([Buffer.from(head), content, Buffer.from(`\r\n--${boundary}--\r\n`)]),
    headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
  };
}

const PDF = Buffer.from('%PDF-1.4\n% подписанное письмо\n%%EOF\n');

describe.each(backends)('moderation of senders and templates on $name', (backend) => {
  let t: TestApp;
  let tenant: Tenant;
  let other: Tenant;
  let admin: { cookie: string };
  let owner: { cookie: string };
  let groupId: number;

  beforeAll(async () => {
    t = await startTestApp(backend);
    t.ctx.dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'moderation-'));
    tenant = await createTenant(t.ctx);
    other = await createTenant(t.ctx);
    await topUp(t.ctx.db, t.clock, { accountId: tenant.accountId, amount: 1_000_000 });
    await createUser(t.ctx.db, t.ctx.clock, {
      accountId: null,
      email: 'moderator@install.local',
      password: 'platform-admin',
      role: 'admin',
      isPlatformAdmin: true,
    });
    admin = await login('moderator@install.local', 'platform-admin');
    owner = await login(tenant.ownerEmail, tenant.ownerPassword);
    groupId = (await api('POST', '/groups', { name: 'Клиенты' })).json().id;
    await api('POST', '/contacts', {
      phone: '+79997000001',
      name: 'Анна',
      vars: { order: '125' },
      group_ids: [groupId],
    });
    await api('POST', '/contacts', {
      phone: '+79997000002',
      name: 'Борис',
      vars: { order: '126' },
      group_ids: [groupId],
    });
  });
  afterAll(async () => {
    await t.close();
    fs.rmSync(t.ctx.dataDir, { recursive: true, force: true });
  });

  async function login(email: string, password: string) {
    const res = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { email, password },
    });
    return { cookie: `omnitalk_session=${res.cookies.find((c) => c.name === 'omnitalk_session')!.value}` };
  }

  function api(
    method: Method,
    url: string,
    payload?: unknown,
    headers: Record<string, string> = tenant.auth,
  ) {
    return t.app.inject({
      method,
      url: `/api/v1${url}`,
      headers,
      ...(payload !== undefined && { payload: payload as object }),
    });
  }
  const moderate = (method: Method, url: string, payload?: unknown) => api(method, url, payload, admin);

  async function approvedSender(channel: string, name: string) {
    const s = (await api('POST', '/senders', { channel, name })).json();
    if (channel === 'vk' || channel === 'ok') {
      const upload = multipart('file', 'letter.pdf', PDF);
      await t.app.inject({
        method: 'POST',
        url: `/api/v1/senders/${s.id}/letter`,
        payload: upload.payload,
        headers: { ...tenant.auth, ...upload.headers },
      });
    }
    expect((await api('POST', `/senders/${s.id}/submit`)).statusCode).toBe(200);
    expect((await moderate('POST', `/admin/moderation/senders/${s.id}/approve`)).statusCode).toBe(200);
    return s.id as number;
  }

  const mailingCount = async () =>
    Number(
      (
        await t.ctx.db
          .selectFrom('mailings')
          .select((eb) => eb.fn.countAll().as('n'))
          .where('account_id', '=', tenant.accountId)
          .executeTakeFirstOrThrow()
      ).n,
    );

  it('takes a sender from draft through moderation to rejected with a reason, and after a fix to approved', async () => {
    const created = await api('POST', '/senders', {
      channel: 'viber',
      name: 'Цветочный',
      comment: 'ООО Цветы',
    });
    expect(created.statusCode).toBe(201);
    const sender = created.json();
    expect(sender).toMatchObject({
      channel: 'viber',
      name: 'Цветочный',
      status: 'draft',
      reject_reason: null,
    });

    const twice = await api('POST', '/senders', { channel: 'viber', name: 'Цветочный' });
    expect(twice.statusCode).toBe(409);
    expect(twice.json().error.field).toBe('name');

    // Nothing to decide on a draft.
    const early = await moderate('POST', `/admin/moderation/senders/${sender.id}/approve`);
    expect(early.statusCode).toBe(409);
    expect(early.json().error.field).toBe('status');

    const submitted = await api('POST', `/senders/${sender.id}/submit`);
    expect(submitted.json()).toMatchObject({ status: 'on_moderation' });
    expect((await api('POST', `/senders/${sender.id}/submit`)).statusCode).toBe(409);

    const queue = (await moderate('GET', '/admin/moderation/senders')).json().items;
    expect(queue).toEqual(
      expect.arrayContaining([expect.objectContaining({ id: sender.id, account_id: tenant.accountId })]),
    );
    expect(queue.find((s: { id: number }) => s.id === sender.id).account_name).toContain('Tenant');

    const noReason = await moderate('POST', `/admin/moderation/senders/${sender.id}/reject`, {
      reason: '  ',
    });
    expect(noReason.statusCode).toBe(400);
    expect(noReason.json().error.field).toBe('reason');

    const rejected = await moderate('POST', `/admin/moderation/senders/${sender.id}/reject`, {
      reason: 'Нет документов на товарный знак',
    });
    expect(rejected.statusCode).toBe(200);
    expect((await api('GET', `/senders/${sender.id}`)).json()).toMatchObject({
      status: 'rejected',
      reject_reason: 'Нет документов на товарный знак',
    });
    expect((await moderate('POST', `/admin/moderation/senders/${sender.id}/approve`)).statusCode).toBe(409);

    // Fixed and submitted again: the old reason goes, the moderator approves.
    expect((await api('POST', `/senders/${sender.id}/submit`)).json()).toMatchObject({
      status: 'on_moderation',
      reject_reason: null,
    });
    await moderate('POST', `/admin/moderation/senders/${sender.id}/approve`);
    const approved = (await api('GET', `/senders/${sender.id}`)).json();
    expect(approved).toMatchObject({ status: 'approved', reject_reason: null });
    expect(approved.decided_at).not.toBeNull();
    expect(
      (await api('GET', '/senders?status=approved')).json().items.map((s: { id: number }) => s.id),
    ).toContain(sender.id);
    expect((await moderate('GET', '/admin/moderation/senders')).json().items).not.toEqual(
      expect.arrayContaining([expect.objectContaining({ id: sender.id })]),
    );
  });

  it('lets only platform admins moderate', async () => {
    const s = (await api('POST', '/senders', { channel: 'sms', name: 'Shop24' })).json();
    await api('POST', `/senders/${s.id}/submit`);
    for (const headers of [tenant.auth, owner]) {
      for (const [method, url, body] of [
        ['POST', `/admin/moderation/senders/${s.id}/approve`, undefined],
        ['POST', `/admin/moderation/senders/${s.id}/reject`, { reason: 'x' }],
        ['GET', '/admin/moderation/senders', undefined],
        ['GET', '/admin/moderation/templates', undefined],
      ] as const) {
        const res = await api(method, url, body, headers);
        expect(res.statusCode, `${method} ${url}`).toBe(403);
        expect(res.json().error.code).toBe('forbidden');
      }
    }
    // Without a body either: authorisation comes before validation.
    expect((await api('POST', `/admin/moderation/senders/${s.id}/reject`, undefined, owner)).statusCode).toBe(
      403,
    );
    expect((await api('GET', `/senders/${s.id}`)).json().status).toBe('on_moderation');
    // Another account cannot submit or see it.
    expect((await api('GET', `/senders/${s.id}`, undefined, other.auth)).statusCode).toBe(404);
  });

  it.each([
    [{ channel: 'sms', name: 'Магазин' }, 'name'],
    [{ channel: 'sms', name: 'ShopShopShop' }, 'name'],
    [{ channel: 'vk', name: 'клуб 1' }, 'name'],
    [{ channel: 'whatsapp', name: '89001234567' }, 'name'],
    [{ channel: 'viber', name: '   ' }, 'name'],
    [{ channel: 'voice', name: 'Shop' }, 'channel'],
    [{ channel: 'sms', name: 'Shop', extra: 1 }, 'extra'],
  ])('refuses the sender %j naming the field %s', async (body, field) => {
    const res = await api('POST', '/senders', body);
    expect(res.statusCode).toBe(400);
    expect(res.json().error.field).toBe(field);
  });

  it('moderates a VK community only with its signed letter, which the moderator can read', async () => {
    const s = (await api('POST', '/senders', { channel: 'vk', name: 'club777' })).json();
    const unsigned = await api('POST', `/senders/${s.id}/submit`);
    expect(unsigned.statusCode).toBe(400);
    expect(unsigned.json().error.field).toBe('letter');

    const send = (content: Buffer, name = 'Письмо.pdf', id = s.id) => {
      const upload = multipart('file', name, content);
      return t.app.inject({
        method: 'POST',
        url: `/api/v1/senders/${id}/letter`,
        payload: upload.payload,
        headers: { ...tenant.auth, ...upload.headers },
      });
    };
    const notScan = await send(Buffer.from('just text'), 'letter.txt');
    expect(notScan.statusCode).toBe(400);
    expect(notScan.json().error.field).toBe('file');
    const viber = (await api('POST', '/senders', { channel: 'viber', name: 'Без письма' })).json();
    const wrongChannel = await send(PDF, 'a.pdf', viber.id);
    expect(wrongChannel.statusCode).toBe(400);
    expect(wrongChannel.json().error.field).toBe('file');
    const foreign = multipart('file', 'a.pdf', PDF);
    const foreignUpload = await t.app.inject({
      method: 'POST',
      url: `/api/v1/senders/${s.id}/letter`,
      payload: foreign.payload,
      headers: { ...other.auth, ...foreign.headers },
    });
    expect(foreignUpload.statusCode).toBe(404);

    const uploaded = await send(PDF);
    expect(uploaded.statusCode).toBe(200);
    expect(uploaded.json().letter).toMatchObject({
      file_name: 'Письмо.pdf',
      content_type: 'application/pdf',
      size: PDF.length,
    });
    expect((await api('POST', `/senders/${s.id}/submit`)).json().status).toBe('on_moderation');
    // On moderation the letter is frozen.
    expect((await send(PDF)).statusCode).toBe(409);

    const letter = await moderate('GET', `/admin/moderation/senders/${s.id}/letter`);
    expect(letter.statusCode).toBe(200);
    expect(letter.headers['content-type']).toBe('application/pdf');
    expect(letter.rawPayload.equals(PDF)).toBe(true);
    expect((await api('GET', `/admin/moderation/senders/${s.id}/letter`)).statusCode).toBe(403);

    await api('DELETE', `/senders/${s.id}`);
    expect(fs.existsSync(path.join(t.ctx.dataDir, 'uploads', 'sender-letters', String(s.id)))).toBe(false);
  });

  it('keeps templates with placeholders, checks texts against them, and moderates them', async () => {
    const bad = await api('POST', '/message-templates', { channel: 'vk', text: 'Код (число два)' });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.field).toBe('text');
    const blank = await api('POST', '/message-templates', { channel: 'ok', text: '   ' });
    expect(blank.json().error.field).toBe('text');
    const tooLong = await api('POST', '/message-templates', { channel: 'whatsapp', text: 'a'.repeat(1025) });
    expect(tooLong.json().error.field).toBe('text');

    const tpl = (
      await api('POST', '/message-templates', { channel: 'vk', text: 'Ваш код (число), (слово 1-2)' })
    ).json();
    expect(tpl.status).toBe('draft');
    expect(
      (await api('POST', '/message-templates', { channel: 'vk', text: 'Ваш код (число), (слово 1-2)' }))
        .statusCode,
    ).toBe(409);

    const check = (text: string) => api('POST', '/message-templates/check', { channel: 'vk', text });
    expect((await check('Ваш код 1234, Анна Петрова')).json()).toMatchObject({
      approved: false,
      matches: [{ id: tpl.id, status: 'draft' }],
    });
    expect((await check('Ваш пароль 1234, Анна')).json()).toEqual({ approved: false, matches: [] });
    expect((await check('Ваш код {{code}}, {{name}}')).json().matches).toHaveLength(1);

    await api('POST', `/message-templates/${tpl.id}/submit`);
    const queue = (await moderate('GET', '/admin/moderation/templates?channel=vk')).json().items;
    expect(queue.map((x: { id: number }) => x.id)).toContain(tpl.id);
    await moderate('POST', `/admin/moderation/templates/${tpl.id}/approve`);
    expect((await check('Ваш код 1234, Анна')).json().approved).toBe(true);
    // Another account's check sees none of them.
    const foreign = await api(
      'POST',
      '/message-templates/check',
      { channel: 'vk', text: 'Ваш код 1, А' },
      other.auth,
    );
    expect(foreign.json()).toEqual({ approved: false, matches: [] });
  });

  it('refuses a mailing naming an unknown or rejected sender, naming the field, and creates nothing', async () => {
    const rejected = (await api('POST', '/senders', { channel: 'viber', name: 'Отклонённый' })).json();
    await api('POST', `/senders/${rejected.id}/submit`);
    await moderate('POST', `/admin/moderation/senders/${rejected.id}/reject`, { reason: 'Чужой бренд' });
    const before = await mailingCount();
    const scheme = (sender: string) => ({
      blocks: [
        {
          id: 'v',
          kind: 'send',
          start: true,
          channel: 'viber',
          decisionTimeSec: 600,
          content: { format: 'text', text: 'Привет', sender },
        },
      ],
      links: [],
    });
    const unknown = await api('POST', '/mailings', {
      scheme: scheme('Никто'),
      recipients: { group_ids: [groupId] },
    });
    expect(unknown.statusCode).toBe(400);
    expect(unknown.json().error).toMatchObject({
      code: 'validation_failed',
      field: 'scheme.blocks.v.content.sender',
    });
    const refused = await api('POST', '/mailings', {
      scheme: scheme('Отклонённый'),
      recipients: { group_ids: [groupId] },
    });
    expect(refused.statusCode).toBe(400);
    expect(refused.json().error.field).toBe('scheme.blocks.v.content.sender');
    expect(refused.json().error.message).toContain('Чужой бренд');
    const variants = await api('POST', '/mailings', {
      variants: [
        { percent: 50, scheme: scheme('Цветочный') },
        { percent: 50, scheme: scheme('Никто') },
      ],
      recipients: { group_ids: [groupId] },
    });
    expect(variants.json().error.field).toBe('variants.1.scheme.blocks.v.content.sender');
    const single = await api('POST', '/mailings', {
      single: { channel: 'sms', content: { text: 'Привет', sender: 'NoSuch' } },
      recipients: { group_ids: [groupId] },
    });
    expect(single.json().error.field).toBe('single.content.sender');
    // A sender of the same name on another channel does not count.
    const otherChannel = await api('POST', '/mailings', {
      single: { channel: 'viber', content: { format: 'text', text: 'Привет', sender: 'Shop24' } },
      recipients: { group_ids: [groupId] },
    });
    expect(otherChannel.json().error.field).toBe('single.content.sender');
    expect(await mailingCount()).toBe(before);
    // A sender on moderation is fine for a draft; the account's approved one too.
    for (const sender of ['Shop24', 'Цветочный']) {
      const channel = sender === 'Shop24' ? 'sms' : 'viber';
      const content = channel === 'sms' ? { text: 'x', sender } : { format: 'text', text: 'x', sender };
      const ok = await api('POST', '/mailings', {
        single: { channel, content },
        recipients: { group_ids: [groupId] },
      });
      expect(ok.statusCode).toBe(201);
      expect(ok.json().status).toBe('draft');
    }
    // Another account's approved sender is unknown to this one.
    const otherGroup = (await api('POST', '/groups', { name: 'g' }, other.auth)).json().id;
    await api('POST', '/contacts', { phone: '+79997000009', group_ids: [otherGroup] }, other.auth);
    const foreign = await api(
      'POST',
      '/mailings',
      {
        single: { channel: 'viber', content: { format: 'text', text: 'x', sender: 'Цветочный' } },
        recipients: { group_ids: [otherGroup] },
      },
      other.auth,
    );
    expect(foreign.statusCode).toBe(400);
    expect(foreign.json().error.field).toBe('single.content.sender');
  });

  it('holds a mailing with an unapproved sender on moderation and starts it after approval', async () => {
    const s = (await api('POST', '/senders', { channel: 'sms', name: 'Bakery' })).json();
    const created = await api('POST', '/mailings', {
      single: { channel: 'sms', content: { text: 'Хлеб готов', sender: 'Bakery' } },
      recipients: { group_ids: [groupId] },
      start: true,
    });
    expect(created.statusCode).toBe(201);
    const mailing = created.json();
    expect(mailing.status).toBe('on_moderation');
    expect(mailing.recipients_total).toBe(2);
    expect(mailing.started_at).toBeNull();
    expect(mailing.settings.moderation).toMatchObject({
      state: 'waiting',
      items: [{ field: 'single.content.sender', kind: 'sender', id: s.id, status: 'on_moderation' }],
    });
    // The start submitted the draft sender.
    expect((await api('GET', `/senders/${s.id}`)).json().status).toBe('on_moderation');

    const report = (await api('GET', `/mailings/${mailing.id}/report`)).json();
    expect(report.totals).toMatchObject({ recipients: 2, onModeration: 2, pending: 0 });

    const engine = new CascadeEngine({ db: t.ctx.db, clock: t.clock, adapters: channelAdapters() });
    await engine.tick();
    const messages = () =>
      t.ctx.db.selectFrom('messages').select('id').where('mailing_id', '=', mailing.id).execute();
    expect(await messages()).toHaveLength(0);
    expect((await api('GET', `/mailings/${mailing.id}`)).json().status).toBe('on_moderation');

    const approved = await moderate('POST', `/admin/moderation/senders/${s.id}/approve`);
    expect(approved.json().released_mailings).toEqual([mailing.id]);
    const released = (await api('GET', `/mailings/${mailing.id}`)).json();
    expect(released.status).toBe('scheduled');
    expect(released.settings.moderation).toMatchObject({ state: 'approved', items: [] });

    await engine.tick();
    expect((await api('GET', `/mailings/${mailing.id}`)).json()).toMatchObject({ status: 'running' });
    expect((await messages()).length).toBeGreaterThan(0);

    // The sender cannot be deleted from under the running mailing; once it has ended, it can.
    const refused = await api('DELETE', `/senders/${s.id}`);
    expect(refused.statusCode).toBe(409);
    expect(refused.json().error).toMatchObject({ code: 'conflict', field: 'id' });
    expect(refused.json().error.message).toContain(`mailing ${mailing.id}`);
    expect((await api('GET', `/senders/${s.id}`)).statusCode).toBe(200);
    expect((await api('POST', `/mailings/${mailing.id}/cancel`)).statusCode).toBe(200);
    expect((await api('DELETE', `/senders/${s.id}`)).statusCode).toBe(200);
    expect((await api('GET', `/senders/${s.id}`)).statusCode).toBe(404);
  });

  it('checks VK texts against the approved templates; a rejection keeps the mailing waiting with the reason', async () => {
    await approvedSender('vk', 'club100');
    const vk = (text: string, extra: Record<string, string> = {}) => ({
      blocks: [
        {
          id: 'vk',
          kind: 'send',
          start: true,
          channel: 'vk',
          decisionTimeSec: 600,
          content: { text, sender: 'club100', ...extra },
        },
      ],
      links: [],
    });
    const text = 'Заказ №{{order}} собран, {{name}}';
    const none = await api('POST', '/mailings', { scheme: vk(text), recipients: { group_ids: [groupId] } });
    expect(none.statusCode).toBe(400);
    expect(none.json().error.field).toBe('scheme.blocks.vk.content.text');

    const tpl = (
      await api('POST', '/message-templates', { channel: 'vk', text: 'Заказ №(число) собран, (слово 1-3)' })
    ).json();
    const pinnedUnknown = await api('POST', '/mailings', {
      scheme: vk(text, { templateId: '999999' }),
      recipients: { group_ids: [groupId] },
    });
    expect(pinnedUnknown.json().error.field).toBe('scheme.blocks.vk.content.templateId');
    const mismatch = await api('POST', '/mailings', {
      scheme: vk('Заказ отменён', { templateId: String(tpl.id) }),
      recipients: { group_ids: [groupId] },
    });
    expect(mismatch.json().error.field).toBe('scheme.blocks.vk.content.text');

    const started = (
      await api('POST', '/mailings', { scheme: vk(text), recipients: { group_ids: [groupId] }, start: true })
    ).json();
    expect(started.status).toBe('on_moderation');
    expect(started.settings.moderation.items).toEqual([
      expect.objectContaining({
        field: 'scheme.blocks.vk.content.text',
        kind: 'template',
        id: tpl.id,
        status: 'on_moderation',
      }),
    ]);

    await moderate('POST', `/admin/moderation/templates/${tpl.id}/reject`, { reason: 'Рекламный текст' });
    const waiting = (await api('GET', `/mailings/${started.id}`)).json();
    expect(waiting.status).toBe('on_moderation');
    expect(waiting.settings.moderation).toMatchObject({
      state: 'rejected',
      items: [{ id: tpl.id, status: 'rejected', reason: 'Рекламный текст' }],
    });

    // Fixed and resubmitted: approval moves the mailing on.
    await api('POST', `/message-templates/${tpl.id}/submit`);
    expect((await api('GET', `/mailings/${started.id}`)).json().settings.moderation.state).toBe('waiting');
    const approved = await moderate('POST', `/admin/moderation/templates/${tpl.id}/approve`);
    expect(approved.json().released_mailings).toEqual([started.id]);
    expect((await api('GET', `/mailings/${started.id}`)).json().status).toBe('scheduled');

    // With the template approved, a matching mailing runs at once; a pinned template works too.
    const direct = await api('POST', '/mailings', {
      scheme: vk(text, { templateId: String(tpl.id) }),
      recipients: { group_ids: [groupId] },
      start: true,
    });
    expect(direct.json().status).toBe('running');
  });

  it('moves a mailing waiting for several items on once all are approved, also when approved at once', async () => {
    const s = (await api('POST', '/senders', { channel: 'ok', name: '555000' })).json();
    const upload = multipart('file', 'letter.pdf', PDF);
    await t.app.inject({
      method: 'POST',
      url: `/api/v1/senders/${s.id}/letter`,
      payload: upload.payload,
      headers: { ...tenant.auth, ...upload.headers },
    });
    const tpl = (
      await api('POST', '/message-templates', { channel: 'ok', text: 'Запись на (число) подтверждена' })
    ).json();
    const m = (
      await api('POST', '/mailings', {
        single: { channel: 'ok', content: { text: 'Запись на 12 подтверждена', sender: '555000' } },
        recipients: { group_ids: [groupId] },
        start: true,
      })
    ).json();
    expect(m.status).toBe('on_moderation');
    expect(m.settings.moderation.items.map((i: { kind: string }) => i.kind)).toEqual(['sender', 'template']);
    await Promise.all([
      moderate('POST', `/admin/moderation/senders/${s.id}/approve`),
      moderate('POST', `/admin/moderation/templates/${tpl.id}/approve`),
    ]);
    expect((await api('GET', `/mailings/${m.id}`)).json().status).toBe('scheduled');
  });

  it('refuses to start with a VK/OK sender whose letter is missing, and lets a waiting mailing be cancelled', async () => {
    await api('POST', '/senders', { channel: 'ok', name: '777000' });
    await api('POST', '/message-templates', { channel: 'ok', text: 'Привет' });
    const draft = (
      await api('POST', '/mailings', {
        single: { channel: 'ok', content: { text: 'Привет', sender: '777000' } },
        recipients: { group_ids: [groupId] },
      })
    ).json();
    expect(draft.status).toBe('draft');
    const start = await api('POST', `/mailings/${draft.id}/start`);
    expect(start.statusCode).toBe(400);
    expect(start.json().error.field).toBe('single.content.sender');
    expect((await api('GET', `/mailings/${draft.id}`)).json().status).toBe('draft');

    const s = (await api('POST', '/senders', { channel: 'viber', name: 'Ждущий' })).json();
    const waiting = (
      await api('POST', '/mailings', {
        single: { channel: 'viber', content: { format: 'text', text: 'x', sender: 'Ждущий' } },
        recipients: { group_ids: [groupId] },
        start: true,
      })
    ).json();
    expect(waiting.status).toBe('on_moderation');
    expect((await api('POST', `/mailings/${waiting.id}/cancel`)).json().status).toBe('cancelled');
    const approved = await moderate('POST', `/admin/moderation/senders/${s.id}/approve`);
    expect(approved.json().released_mailings).toEqual([]);
    expect((await api('GET', `/mailings/${waiting.id}`)).json().status).toBe('cancelled');
  });

  it('documents the routes in OpenAPI', async () => {
    const spec = (await t.app.inject({ method: 'GET', url: '/api/openapi.json' })).json();
    expect(Object.keys(spec.paths)).toEqual(
      expect.arrayContaining([
        '/api/v1/senders',
        '/api/v1/message-templates/check',
        '/api/v1/admin/moderation/senders/{id}/reject',
      ]),
    );
  });

  it('runs mailings without a sender as before, with no moderation', async () => {
    const res = await api('POST', '/mailings', {
      single: { channel: 'vk', content: { text: 'Любой текст' } },
      recipients: { group_ids: [groupId] },
      start: true,
    });
    expect(res.statusCode).toBe(201);
    expect(res.json().status).toBe('running');
    expect(res.json().settings.moderation).toBeUndefined();
  });
});
