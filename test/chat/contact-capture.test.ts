import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends } from '../support/db.ts';
import { type ChatWorld, chatWorld } from './setup.ts';
import type { Frame } from './support.ts';

describe.each(backends)('contact capture on $name', (backend) => {
  let w: ChatWorld;
  beforeAll(async () => {
    w = await chatWorld(backend, { operators: 1 });
  });
  afterAll(() => w.close());

  const events = async (kinds = ['contact.captured', 'contact.updated']) =>
    w.t.ctx.db
      .selectFrom('outbox')
      .select(['id', 'kind', 'payload'])
      .where('account_id', '=', w.tenant.accountId)
      .where('kind', 'in', kinds as never)
      .orderBy('id')
      .execute();
  const contactsWith = (phone: string) =>
    w.t.ctx.db
      .selectFrom('contacts')
      .select(['id', 'phone', 'email', 'name'])
      .where('account_id', '=', w.tenant.accountId)
      .where('phone', '=', phone)
      .execute();
  const dialogOf = (ack: Frame) => (ack.data as { message: { dialog_id: number } }).message.dialog_id;

  it('captures a phone typed in a message once, and never duplicates the contact', async () => {
    const before = (await events()).length;
    const v = await w.visitor();
    const ack = await v.socket.request({
      type: 'message.send',
      client_id: 'p1',
      text: 'Перезвоните мне: +7 (999) 123-45-67',
    });
    const after = await events();
    expect(after.length).toBe(before + 1);
    const event = after.at(-1)!;
    expect(event.kind).toBe('contact.captured');
    expect(event.payload).toMatchObject({
      source: 'message',
      contact: { phone: '+79991234567' },
      visitor_id: v.welcome.visitor.id,
      dialog_id: dialogOf(ack),
    });
    // The same number again (other formatting): nothing new.
    await v.socket.request({ type: 'message.send', client_id: 'p2', text: 'повторю: 8 999 1234567' });
    expect((await events()).length).toBe(before + 1);
    expect(await contactsWith('+79991234567')).toHaveLength(1);

    // The dialog and the card show the contact.
    const card = await w.api<{ contact: { phone: string }; channel: string }>(
      'GET',
      `/api/v1/dialogs/${dialogOf(ack)}/card`,
    );
    expect(card.body).toMatchObject({ channel: 'web', contact: { phone: '+79991234567' } });

    // An order number is not a phone.
    await v.socket.request({ type: 'message.send', client_id: 'p3', text: 'номер заказа: 8916 765 4321' });
    expect((await events()).length).toBe(before + 1);
    v.socket.close();
  });

  it('a second visitor with the same phone gets the same contact (captured for that visitor)', async () => {
    const before = (await events()).length;
    const v = await w.visitor();
    await v.socket.request({ type: 'message.send', client_id: 'q1', text: 'мой номер 89991234567' });
    const after = await events();
    expect(after.length).toBe(before + 1);
    expect(after.at(-1)!.kind).toBe('contact.captured');
    expect(await contactsWith('+79991234567')).toHaveLength(1);
    const visitor = await w.t.ctx.db
      .selectFrom('visitors')
      .select('contact_id')
      .where('id', '=', v.welcome.visitor.id)
      .executeTakeFirstOrThrow();
    expect(visitor.contact_id).toBe((await contactsWith('+79991234567'))[0]!.id);
    v.socket.close();
  });

  it('the contact form replaces data, a detected email only fills blanks', async () => {
    const v = await w.visitor();
    await v.socket.request({ type: 'message.send', client_id: 'f0', text: 'Привет' });
    const start = (await events()).length;
    const form = await v.socket.request({
      type: 'contact.submit',
      name: 'Иван Петров',
      phone: '8 (916) 111-22-33',
      email: 'Ivan@Example.ru',
    });
    expect(form).toMatchObject({
      type: 'ack',
      data: { contact: { name: 'Иван Петров', phone: '+79161112233', email: 'ivan@example.ru' } },
    });
    let all = await events();
    expect(all.length).toBe(start + 1);
    expect(all.at(-1)).toMatchObject({ kind: 'contact.captured', payload: { source: 'form' } });

    // A different email in a message does not overwrite the one the visitor gave.
    await v.socket.request({
      type: 'message.send',
      client_id: 'f1',
      text: 'или пишите на other@example.com',
    });
    expect((await events()).length).toBe(start + 1);

    // The form again with a new email: one contact.updated.
    await v.socket.request({ type: 'contact.submit', email: 'ivan.petrov@example.ru' });
    all = await events();
    expect(all.length).toBe(start + 2);
    expect(all.at(-1)).toMatchObject({
      kind: 'contact.updated',
      payload: { source: 'form', changed: ['email'], contact: { email: 'ivan.petrov@example.ru' } },
    });

    // A bad phone in the form is an error naming the field; nothing is written.
    const bad = await v.socket.request({ type: 'contact.submit', phone: '12' });
    expect(bad).toMatchObject({ type: 'error', code: 'invalid_message', field: 'phone' });
    expect((await events()).length).toBe(start + 2);
    v.socket.close();
  });

  it('an operator edits the contact from the card: contact.updated, and the operator sees the card change', async () => {
    const op = await w.operator(0);
    const v = await w.visitor();
    const ack = await v.socket.request({
      type: 'message.send',
      client_id: 'e0',
      text: 'мой email anna@example.org',
    });
    const dialogId = dialogOf(ack);
    const start = (await events()).length;
    const cardUpdate = op.socket.expect(
      'visitor.updated',
      (f) => (f.visitor as { id: number; contact: { name: string } | null }).contact?.name === 'Анна',
    );
    const edit = await w.api<{ event: string; contact: { name: string; phone: string } }>(
      'PATCH',
      `/api/v1/dialogs/${dialogId}/contact`,
      {
        name: 'Анна',
        phone: '+7 916 222-33-44',
      },
    );
    expect(edit.status).toBe(200);
    expect(edit.body).toMatchObject({
      event: 'contact.updated',
      contact: { name: 'Анна', phone: '+79162223344' },
    });
    const all = await events();
    expect(all.length).toBe(start + 1);
    expect(all.at(-1)).toMatchObject({
      kind: 'contact.updated',
      payload: { source: 'operator', changed: ['phone', 'name'] },
    });
    expect(((await cardUpdate).visitor as { id: number }).id).toBe(v.welcome.visitor.id);

    // The same edit again changes nothing and writes nothing.
    const same = await w.api<{ event: string | null }>('PATCH', `/api/v1/dialogs/${dialogId}/contact`, {
      name: 'Анна',
    });
    expect(same.body.event).toBeNull();
    expect((await events()).length).toBe(start + 1);

    // Bad input names the field.
    const bad = await w.api<{ error: { field: string } }>('PATCH', `/api/v1/dialogs/${dialogId}/contact`, {
      email: 'nope',
    });
    expect(bad.status).toBe(400);
    expect(bad.body.error.field).toBe('email');
    op.socket.close();
    v.socket.close();
  });

  it('lists the events for integrations in order over REST', async () => {
    const page = await w.api<{ items: { id: number; kind: string }[] }>(
      'GET',
      '/api/v1/chat/events?kind=contact.captured',
    );
    expect(page.status).toBe(200);
    expect(page.body.items.length).toBeGreaterThanOrEqual(3);
    const ids = page.body.items.map((e) => e.id);
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
  });
});
