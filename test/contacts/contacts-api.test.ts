import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTenant, startTestApp, type Tenant, type TestApp } from '../support/app.ts';
import { backends } from '../support/db.ts';

describe.each(backends)('contacts, groups and stop list API on $name', (backend) => {
  let t: TestApp;
  let tenant: Tenant;
  beforeAll(async () => {
    t = await startTestApp(backend);
    tenant = await createTenant(t.ctx);
  });
  afterAll(() => t.close());

  const api = (method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, payload?: unknown) =>
    t.app.inject({
      method,
      url: `/api/v1${url}`,
      headers: tenant.auth,
      ...(payload !== undefined && { payload: payload as object }),
    });

  it('creates a contact with a normalised phone, finds, changes and deletes it', async () => {
    const group = (await api('POST', '/groups', { name: 'Клиенты' })).json();
    const created = await api('POST', '/contacts', {
      phone: '8 (999) 123-45-67',
      email: ' Ivan@Example.RU ',
      name: 'Иван Петров',
      timezone: 'Asia/Yekaterinburg',
      vars: { city: 'Екатеринбург' },
      group_ids: [group.id],
    });
    expect(created.statusCode).toBe(201);
    const c = created.json();
    expect(c).toMatchObject({
      phone: '+79991234567',
      email: 'ivan@example.ru',
      name: 'Иван Петров',
      groups: [group.id],
    });

    const byPhone = (await api('GET', '/contacts?q=9991234')).json();
    expect(byPhone.items.map((i: { id: number }) => i.id)).toEqual([c.id]);
    const byName = (await api('GET', `/contacts?q=${encodeURIComponent('петров')}`)).json();
    expect(byName.items).toHaveLength(1);
    const inGroup = (await api('GET', `/contacts?group_id=${group.id}`)).json();
    expect(inGroup.items).toHaveLength(1);

    const patched = await api('PATCH', `/contacts/${c.id}`, { vars: { tier: 'gold' }, name: 'Иван' });
    expect(patched.json()).toMatchObject({
      name: 'Иван',
      vars: { city: 'Екатеринбург', tier: 'gold' },
      phone: '+79991234567',
    });

    const dup = await api('POST', '/contacts', { phone: '+7 999 123 45 67' });
    expect(dup.statusCode).toBe(409);
    expect(dup.json().error.field).toBe('phone');

    const badTz = await api('PATCH', `/contacts/${c.id}`, { timezone: 'Mars/Olympus' });
    expect(badTz.statusCode).toBe(400);
    expect(badTz.json().error.field).toBe('timezone');
    expect((await api('GET', `/contacts/${c.id}`)).json().timezone).toBe('Asia/Yekaterinburg');

    expect((await api('DELETE', `/contacts/${c.id}`)).statusCode).toBe(200);
    expect((await api('GET', `/contacts/${c.id}`)).statusCode).toBe(404);
    expect((await api('GET', `/groups/${group.id}`)).json().size).toBe(0);
  });

  it('pages contacts with a keyset cursor', async () => {
    for (let i = 0; i < 5; i++)
      await api('POST', '/contacts', { phone: `+7912000000${i}`, name: `Page ${i}` });
    const first = (await api('GET', '/contacts?q=Page&limit=2')).json();
    expect(first.items).toHaveLength(2);
    const second = (await api('GET', `/contacts?q=Page&limit=2&after=${first.next}`)).json();
    const third = (await api('GET', `/contacts?q=Page&limit=2&after=${second.next}`)).json();
    expect(third.next).toBeNull();
    const names = [...first.items, ...second.items, ...third.items].map((i: { name: string }) => i.name);
    expect(names).toEqual(['Page 0', 'Page 1', 'Page 2', 'Page 3', 'Page 4']);
  });

  it('manages groups: rename, members, duplicate names, delete keeps contacts', async () => {
    const g = (await api('POST', '/groups', { name: 'VIP' })).json();
    expect((await api('POST', '/groups', { name: 'VIP' })).statusCode).toBe(409);
    const c1 = (await api('POST', '/contacts', { phone: '+79130000001' })).json();
    const c2 = (await api('POST', '/contacts', { email: 'only@mail.ru' })).json();
    expect(
      (await api('POST', `/groups/${g.id}/members`, { contact_ids: [c1.id, c2.id, c1.id] })).json().added,
    ).toBe(2);
    expect((await api('GET', `/groups/${g.id}`)).json().size).toBe(2);
    expect((await api('DELETE', `/groups/${g.id}/members`, { contact_ids: [c2.id] })).json().removed).toBe(1);
    expect((await api('PATCH', `/groups/${g.id}`, { name: 'VIP клиенты' })).json()).toMatchObject({
      name: 'VIP клиенты',
      size: 1,
    });
    expect((await api('DELETE', `/groups/${g.id}`)).statusCode).toBe(200);
    expect((await api('GET', `/contacts/${c1.id}`)).statusCode).toBe(200);
    const noGroup = await api('POST', '/contacts', { phone: '+79130000009', group_ids: [999999] });
    expect(noGroup.statusCode).toBe(404);
    expect(noGroup.json().error.field).toBe('group_ids');
  });

  it('keeps a stop list with source and time; add, check, list, remove', async () => {
    const added = await api('POST', '/stop-list', {
      phone: '8-916-555-44-33',
      source: 'sms',
      reason: 'STOP',
    });
    expect(added.statusCode).toBe(201);
    expect(added.json().entry).toMatchObject({
      phone: '+79165554433',
      source: 'sms',
      reason: 'STOP',
      created_at: t.clock.now().toISOString(),
    });
    const again = await api('POST', '/stop-list', { phone: '+79165554433', source: 'manual' });
    expect(again.statusCode).toBe(200);
    expect(again.json()).toMatchObject({ added: false, entry: { source: 'sms' } });
    const check = (
      await api('GET', `/stop-list/check?phone=${encodeURIComponent('+7 916 555 44 33')}`)
    ).json();
    expect(check).toMatchObject({ phone: '+79165554433', stopped: true });
    const list = (await api('GET', '/stop-list?source=sms')).json();
    expect(list.items.map((i: { phone: string }) => i.phone)).toEqual(['+79165554433']);
    expect((await api('POST', '/stop-list', { phone: 'abc' })).json().error.field).toBe('phone');
    expect(
      (await api('POST', '/stop-list', { phone: '+79165554434', source: 'fax' })).json().error.field,
    ).toBe('source');
    expect((await api('DELETE', `/stop-list/${encodeURIComponent('+79165554433')}`)).statusCode).toBe(200);
    expect((await api('GET', '/stop-list/check?phone=%2B79165554433')).json().stopped).toBe(false);
    expect((await api('DELETE', `/stop-list/${encodeURIComponent('+79165554433')}`)).statusCode).toBe(404);
  });
});
