import { afterEach, describe, expect, it } from 'vitest';
import { chatHubOf } from '../../src/chat/plugin.ts';
import { eventually } from '../chat/support.ts';
import { GravitelFake } from '../fakes/gravitel.ts';
import { backends } from '../support/db.ts';
import { type HubHarness, startHub } from './hub-support.ts';

/**
 * Gravitel (IN-11) through the hub's inbound endpoint: ringing calls notify the mapped operator only,
 * a finished call becomes a system message in the contact's chat (once per call id), the caller's
 * contact is captured, and the PBX's lookup is answered with the contact's name and responsible login.
 */
describe.each(backends)('PBX calls into the chat on $name', (backend) => {
  let h: HubHarness | null = null;
  let pbx: GravitelFake | null = null;
  afterEach(async () => {
    await pbx?.close();
    await h?.close();
    h = null;
    pbx = null;
  });

  it('notifies the mapped operator, writes the call into the contact’s chat once, answers lookups', async () => {
    h = await startHub(backend, { configure: false });
    pbx = await GravitelFake.start();
    const url = `/api/v1/sites/${h.siteId}/integrations/gravitel`;
    const put = await h.t.app.inject({
      method: 'PUT',
      url,
      headers: h.tenant.auth,
      payload: { domain: 'ats23', token: pbx.token, apiBaseUrl: pbx.url },
    });
    expect(put.statusCode).toBe(200);
    const { inbound_url_path: path, settings } = put.json() as {
      inbound_url_path: string;
      settings: { crmToken: string };
    };
    // The key to enter in the PBX dashboard is ours and shown; the PBX password is not.
    expect(settings.crmToken.length).toBeGreaterThanOrEqual(20);
    expect(put.body).not.toContain(pbx.token);
    const ops = (
      await h.t.app.inject({ method: 'GET', url: `${url}/operators`, headers: h.tenant.auth })
    ).json();
    const userId: number = ops.operators[0].id;
    await h.t.app.inject({
      method: 'PUT',
      url: `${url}/operators`,
      headers: h.tenant.auth,
      payload: { mapping: [{ user_id: userId, crm_user_id: 'ivan' }] },
    });

    // Two operator sockets of the account: the mapped one and someone else.
    const hub = chatHubOf(h.t.ctx)!;
    const mine: Record<string, unknown>[] = [];
    const theirs: Record<string, unknown>[] = [];
    hub.addOperator({ accountId: h.tenant.accountId, userId, send: (f) => mine.push(f) });
    hub.addOperator({ accountId: h.tenant.accountId, userId: userId + 1000, send: (f) => theirs.push(f) });
    const post = (fields: Record<string, string>) =>
      h!.t.app.inject({
        method: 'POST',
        url: path,
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        payload: new URLSearchParams({ crm_token: settings.crmToken, ...fields }).toString(),
      });

    const forged = await post({
      cmd: 'event',
      type: 'INCOMING',
      phone: '79101234567',
      user: 'ivan',
      crm_token: 'x'.repeat(30),
    });
    expect(forged.statusCode).toBe(401);
    const ringing = await post({
      cmd: 'event',
      type: 'INCOMING',
      phone: '79101234567',
      user: 'ivan',
      callid: 'c-1',
    });
    expect(ringing.statusCode).toBe(200);
    await eventually(async () => expect(mine).toHaveLength(1)); // notices travel by LISTEN/NOTIFY
    expect(mine).toEqual([
      {
        type: 'notification',
        kind: 'call',
        dialog_id: null,
        text: 'Звонит +79101234567',
        phone: '+79101234567',
      },
    ]);

    const history = {
      cmd: 'history',
      type: 'in',
      status: 'Success',
      phone: '79101234567',
      user: 'ivan',
      start: '20261125T101500Z',
      duration: '75',
      link: 'https://records.example/c-1.mp3',
      callid: 'c-1',
    };
    expect((await post(history)).statusCode).toBe(200);
    expect((await post(history)).statusCode).toBe(200); // redelivered
    await eventually(async () => expect(mine.filter((f) => f.type === 'notification')).toHaveLength(2));
    const { db } = h.t.ctx;
    const messages = await db.selectFrom('chat_messages').select(['author', 'text', 'dialog_id']).execute();
    expect(messages).toEqual([
      {
        author: 'system',
        text: 'Входящий звонок +79101234567: отвечен, длительность 1 мин 15 с, запись: https://records.example/c-1.mp3',
        dialog_id: expect.any(Number),
      },
    ]);
    const dialog = await db
      .selectFrom('dialogs as d')
      .innerJoin('contacts as c', 'c.id', 'd.contact_id')
      .select(['d.id', 'd.operator_id', 'd.site_id', 'c.phone'])
      .executeTakeFirstOrThrow();
    expect(dialog).toMatchObject({
      id: messages[0]!.dialog_id,
      operator_id: userId,
      site_id: h.siteId,
      phone: '+79101234567',
    });
    const notices = mine.filter((f) => f.type === 'notification');
    expect(notices).toHaveLength(2);
    expect(notices[1]).toMatchObject({ dialog_id: dialog.id, phone: '+79101234567' });
    expect(theirs.filter((f) => f.type === 'notification')).toEqual([]);
    // The capture went to the outbox once (the CRM hub and other integrations consume it).
    const captured = await db
      .selectFrom('outbox')
      .select('kind')
      .where('kind', '=', 'contact.captured')
      .execute();
    expect(captured).toHaveLength(1);

    // The next call of the same caller continues that dialog; the PBX's lookup names the responsible.
    expect(
      (await post({ ...history, callid: 'c-2', status: 'missed', duration: '0', link: '' })).statusCode,
    ).toBe(200);
    const texts = (
      await db.selectFrom('chat_messages').select(['text', 'dialog_id']).orderBy('id').execute()
    ).map((m) => [m.dialog_id, m.text]);
    expect(texts[1]).toEqual([dialog.id, 'Входящий звонок +79101234567: пропущен']);
    const lookup = await post({ cmd: 'contact', phone: '79101234567', callid: 'c-3' });
    expect(lookup.statusCode).toBe(200);
    expect(JSON.parse(lookup.body)).toEqual({ responsible: 'ivan' });
  });
});
