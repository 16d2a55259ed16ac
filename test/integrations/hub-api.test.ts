import { afterEach, describe, expect, it } from 'vitest';
import { sendVisitorMessage } from '../../src/chat/messages.ts';
import { OmnideskFake } from '../fakes/omnidesk.ts';
import { backends } from '../support/db.ts';
import { type HubHarness, startHub } from './hub-support.ts';

describe.each(backends)('CRM hub REST on $name', (backend) => {
  let h: HubHarness;
  afterEach(async () => {
    await h?.close();
  });

  it('validates settings by a test call and never returns secrets', async () => {
    h = await startHub(backend, { configure: false });
    const url = `/api/v1/sites/${h.siteId}/integrations/retailcrm`;
    const bad = await h.t.app.inject({
      method: 'PUT',
      url,
      headers: h.tenant.auth,
      payload: { domain: 'demo.retailcrm.ru', apiKey: 'wrong-key', apiBaseUrl: h.fake.url },
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.field).toBe('apiKey');
    expect((await h.t.app.inject({ method: 'GET', url, headers: h.tenant.auth })).statusCode).toBe(404);

    const good = await h.t.app.inject({
      method: 'PUT',
      url,
      headers: h.tenant.auth,
      payload: { domain: 'demo.retailcrm.ru', apiKey: h.fake.apiKey, apiBaseUrl: h.fake.url },
    });
    expect(good.statusCode).toBe(200);
    const state = (await h.t.app.inject({ method: 'GET', url, headers: h.tenant.auth })).json();
    expect(state.connected).toBe(true);
    expect(state.secrets_set).toEqual(['apiKey']);
    expect(state.settings.apiKey).toBeUndefined();
    const list = await h.t.app.inject({
      method: 'GET',
      url: `/api/v1/sites/${h.siteId}/integrations`,
      headers: h.tenant.auth,
    });
    expect(list.body).not.toContain(h.fake.apiKey);
    const row = await h.t.ctx.db.selectFrom('integrations').selectAll().executeTakeFirstOrThrow();
    expect(JSON.stringify(row)).not.toContain(h.fake.apiKey);

    // An empty secret keeps the stored one (the form never had it).
    const resave = await h.t.app.inject({
      method: 'PUT',
      url,
      headers: h.tenant.auth,
      payload: { domain: 'demo.retailcrm.ru', apiKey: '', apiBaseUrl: h.fake.url },
    });
    expect(resave.statusCode).toBe(200);

    const ops = (
      await h.t.app.inject({ method: 'GET', url: `${url}/operators`, headers: h.tenant.auth })
    ).json();
    expect(ops.crm_users.map((u: { id: string }) => u.id)).toEqual(['11', '12', '13']);
    const owner = ops.operators[0].id;
    const set = await h.t.app.inject({
      method: 'PUT',
      url: `${url}/operators`,
      headers: h.tenant.auth,
      payload: { mapping: [{ user_id: owner, crm_user_id: '12' }] },
    });
    expect(set.json().mapping).toEqual([{ user_id: owner, crm_user_id: '12' }]);
  });

  it('inbound webhook: bad token rejected without side effects, good one writes the staff reply', async () => {
    h = await startHub(backend, { configure: false });
    const omni = await OmnideskFake.start();
    try {
      const put = await h.t.app.inject({
        method: 'PUT',
        url: `/api/v1/sites/${h.siteId}/integrations/omnidesk`,
        headers: h.tenant.auth,
        payload: {
          domain: 'demo.omnidesk.ru',
          staffEmail: omni.staffEmail,
          apiKey: omni.apiKey,
          apiBaseUrl: omni.url,
        },
      });
      expect(put.statusCode).toBe(200);
      const path: string = put.json().inbound_url_path;
      expect(put.body).not.toContain(omni.apiKey);
      const visitor = await h.visitor('v-in');
      const sent = await sendVisitorMessage(h.t.ctx.db, h.t.clock, visitor, {
        clientId: 'x',
        text: 'мой email guest@example.com',
      });
      const dialog = await h.t.ctx.db
        .selectFrom('dialogs')
        .select(['id', 'contact_id'])
        .executeTakeFirstOrThrow();
      expect(dialog.contact_id).not.toBeNull();
      const count = async () =>
        Number(
          (
            await h.t.ctx.db
              .selectFrom('chat_messages')
              .select((eb) => eb.fn.countAll().as('n'))
              .executeTakeFirstOrThrow()
          ).n,
        );
      const before = await count();
      const body = {
        type: 'message_new',
        object: {
          message_id: 77,
          case_id: 5,
          staff_id: 3,
          custom_user_id: String(dialog.contact_id),
          content: 'Ответ менеджера',
        },
      };
      const forged = await h.t.app.inject({
        method: 'POST',
        url: path.replace(/[^/]+$/, 'not-the-token-aaaaaaaaaaaaaaaaaaaaaaaaa'),
        payload: body,
      });
      expect(forged.statusCode).toBe(401);
      expect(await count()).toBe(before);
      const good = await h.t.app.inject({ method: 'POST', url: path, payload: body });
      expect(good.statusCode).toBe(200);
      const again = await h.t.app.inject({ method: 'POST', url: path, payload: body });
      expect(again.statusCode).toBe(200);
      const replies = await h.t.ctx.db
        .selectFrom('chat_messages')
        .select(['author', 'text', 'dialog_id'])
        .where('author', '=', 'operator')
        .execute();
      expect(replies).toEqual([{ author: 'operator', text: 'Ответ менеджера', dialog_id: dialog.id }]);
      expect(sent).toBeDefined();
    } finally {
      await omni.close();
    }
  });
});
