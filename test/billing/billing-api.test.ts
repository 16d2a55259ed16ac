import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createUser } from '../../src/accounts/accounts.ts';
import { createTenant, startTestApp, type Tenant, type TestApp } from '../support/app.ts';
import { backends } from '../support/db.ts';

describe.each(backends)('billing API on $name', (backend) => {
  let t: TestApp;
  let tenant: Tenant;
  let admin: { cookie: string };
  beforeAll(async () => {
    t = await startTestApp(backend);
    tenant = await createTenant(t.ctx);
    await createUser(t.ctx.db, t.ctx.clock, {
      accountId: null,
      email: 'root@install.local',
      password: 'platform-admin',
      role: 'admin',
      isPlatformAdmin: true,
    });
    const login = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { email: 'root@install.local', password: 'platform-admin' },
    });
    admin = { cookie: `omnitalk_session=${login.cookies.find((c) => c.name === 'omnitalk_session')!.value}` };
  });
  afterAll(() => t.close());

  it('lets a platform admin top up an account; the ledger explains the balance', async () => {
    const top = await t.app.inject({
      method: 'POST',
      url: `/api/v1/admin/accounts/${tenant.accountId}/topup`,
      headers: admin,
      payload: { amount: 12_345, description: 'Счёт 17' },
    });
    expect(top.statusCode).toBe(200);
    expect(top.json().balance).toBe(12_345);
    const bad = await t.app.inject({
      method: 'POST',
      url: `/api/v1/admin/accounts/${tenant.accountId}/topup`,
      headers: admin,
      payload: { amount: 1.5 },
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.field).toBe('amount');
    const balance = (
      await t.app.inject({ method: 'GET', url: '/api/v1/balance', headers: tenant.auth })
    ).json();
    expect(balance).toEqual({ balance: 12_345, currency: 'RUB', unit: 'kopeck' });
    const ledger = (
      await t.app.inject({ method: 'GET', url: '/api/v1/ledger', headers: tenant.auth })
    ).json();
    expect(
      ledger.entries.map((e: { amount: number; kind: string; description: string }) => [
        e.amount,
        e.kind,
        e.description,
      ]),
    ).toEqual([[12_345, 'topup', 'Счёт 17']]);
    // An account owner is not a platform admin.
    const self = await t.app.inject({
      method: 'POST',
      url: `/api/v1/admin/accounts/${tenant.accountId}/topup`,
      headers: tenant.auth,
      payload: { amount: 1 },
    });
    expect(self.statusCode).toBe(403);
  });

  it('sets install defaults and account overrides of the price list', async () => {
    const prices = (await t.app.inject({ method: 'GET', url: '/api/v1/prices', headers: tenant.auth })).json()
      .items;
    expect(prices).toContainEqual({
      channel: 'call_password',
      kind: 'message',
      price: 70,
      source: 'default',
    });
    const set = await t.app.inject({
      method: 'PUT',
      url: '/api/v1/admin/prices',
      headers: admin,
      payload: { account_id: tenant.accountId, channel: 'sms', price: 199 },
    });
    expect(set.statusCode).toBe(200);
    const after = (await t.app.inject({ method: 'GET', url: '/api/v1/prices', headers: tenant.auth })).json()
      .items;
    expect(after).toContainEqual({ channel: 'sms', kind: 'message', price: 199, source: 'account' });
    const wrong = await t.app.inject({
      method: 'PUT',
      url: '/api/v1/admin/prices',
      headers: admin,
      payload: { channel: 'fax', price: 1 },
    });
    expect(wrong.statusCode).toBe(400);
    expect(wrong.json().error.field).toBe('channel');
  });
});
