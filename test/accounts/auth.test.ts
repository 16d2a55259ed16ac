import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createUser } from '../../src/accounts/accounts.ts';
import { createTenant, startTestApp, type Tenant, type TestApp } from '../support/app.ts';
import { backends } from '../support/db.ts';

describe.each(backends)('accounts, sessions and API tokens on $name', (backend) => {
  let t: TestApp;
  let tenant: Tenant;
  beforeAll(async () => {
    t = await startTestApp(backend);
    tenant = await createTenant(t.ctx);
  });
  afterAll(() => t.close());

  const login = (email: string, password: string) =>
    t.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email, password } });

  it('logs in with a password and sets an HTTP-only session cookie that authenticates', async () => {
    const res = await login(tenant.ownerEmail.toUpperCase(), tenant.ownerPassword);
    expect(res.statusCode).toBe(200);
    const setCookie = String(res.headers['set-cookie']);
    expect(setCookie).toMatch(/omnitalk_session=/);
    expect(setCookie).toMatch(/HttpOnly/i);
    expect(setCookie).toMatch(/SameSite=Lax/i);
    expect(res.body).not.toContain('password_hash');
    const cookie = res.cookies.find((c) => c.name === 'omnitalk_session')!;
    const me = await t.app.inject({
      method: 'GET',
      url: '/api/v1/me',
      cookies: { omnitalk_session: cookie.value },
    });
    expect(me.statusCode).toBe(200);
    expect(me.json().principal).toMatchObject({ accountId: tenant.accountId, role: 'owner', via: 'session' });

    const out = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/logout',
      cookies: { omnitalk_session: cookie.value },
    });
    expect(out.statusCode).toBe(200);
    const after = await t.app.inject({
      method: 'GET',
      url: '/api/v1/me',
      cookies: { omnitalk_session: cookie.value },
    });
    expect(after.statusCode).toBe(401);
  });

  it('refuses a wrong password and an unknown user alike', async () => {
    const wrong = await login(tenant.ownerEmail, 'wrong password');
    const unknown = await login('nobody@example.com', 'whatever1');
    expect(wrong.statusCode).toBe(401);
    expect(unknown.statusCode).toBe(401);
    expect(wrong.json()).toEqual(unknown.json());
  });

  it('expires sessions by the injected clock', async () => {
    const res = await login(tenant.ownerEmail, tenant.ownerPassword);
    const value = res.cookies.find((c) => c.name === 'omnitalk_session')!.value;
    t.clock.advance(15 * 24 * 3600 * 1000);
    const me = await t.app.inject({ method: 'GET', url: '/api/v1/me', cookies: { omnitalk_session: value } });
    expect(me.statusCode).toBe(401);
    t.clock.advance(-15 * 24 * 3600 * 1000);
  });

  it('stores password and API token only as hashes', async () => {
    const user = await t.ctx.db
      .selectFrom('users')
      .select('password_hash')
      .where('email', '=', tenant.ownerEmail)
      .executeTakeFirstOrThrow();
    expect(user.password_hash).toMatch(/^\$argon2id\$/);
    const tokens = await t.ctx.db
      .selectFrom('api_tokens')
      .select(['token_hash', 'prefix'])
      .where('account_id', '=', tenant.accountId)
      .execute();
    expect(tokens.some((r) => r.token_hash === tenant.token)).toBe(false);
    expect(tokens.every((r) => tenant.token.startsWith(r.prefix) || r.prefix.startsWith('omt_'))).toBe(true);
  });

  it('creates a token shown once, lists it without its value, and revokes it', async () => {
    const created = await t.app.inject({
      method: 'POST',
      url: '/api/v1/tokens',
      headers: tenant.auth,
      payload: { name: 'ci' },
    });
    expect(created.statusCode).toBe(201);
    const { id, token } = created.json();
    expect(token).toMatch(/^omt_/);
    const list = await t.app.inject({ method: 'GET', url: '/api/v1/tokens', headers: tenant.auth });
    expect(list.body).not.toContain(token);
    expect(list.json().items.map((i: { id: number }) => i.id)).toContain(id);

    const useIt = await t.app.inject({
      method: 'GET',
      url: '/api/v1/contacts',
      headers: { authorization: `Bearer ${token}` },
    });
    expect(useIt.statusCode).toBe(200);
    const revoke = await t.app.inject({
      method: 'DELETE',
      url: `/api/v1/tokens/${id}`,
      headers: tenant.auth,
    });
    expect(revoke.statusCode).toBe(200);
    const after = await t.app.inject({
      method: 'GET',
      url: '/api/v1/contacts',
      headers: { authorization: `Bearer ${token}` },
    });
    expect(after.statusCode).toBe(401);
    const again = await t.app.inject({ method: 'DELETE', url: `/api/v1/tokens/${id}`, headers: tenant.auth });
    expect(again.statusCode).toBe(404);
  });

  it('lets an operator work with contacts but not manage tokens or users', async () => {
    await createUser(t.ctx.db, t.ctx.clock, {
      accountId: tenant.accountId,
      email: 'op1@example.com',
      password: 'operator-pass',
      role: 'operator',
    });
    const res = await login('op1@example.com', 'operator-pass');
    const cookies = { omnitalk_session: res.cookies.find((c) => c.name === 'omnitalk_session')!.value };
    expect((await t.app.inject({ method: 'GET', url: '/api/v1/contacts', cookies })).statusCode).toBe(200);
    const tok = await t.app.inject({ method: 'POST', url: '/api/v1/tokens', cookies, payload: {} });
    expect(tok.statusCode).toBe(403);
    expect(tok.json().error.code).toBe('forbidden');
    expect((await t.app.inject({ method: 'GET', url: '/api/v1/users', cookies })).statusCode).toBe(403);
  });

  it('adds users with roles and refuses duplicates and weak passwords naming the field', async () => {
    const ok = await t.app.inject({
      method: 'POST',
      url: '/api/v1/users',
      headers: tenant.auth,
      payload: { email: 'admin2@example.com', password: 'long enough', role: 'admin' },
    });
    expect(ok.statusCode).toBe(201);
    expect(ok.body).not.toContain('password');
    const dup = await t.app.inject({
      method: 'POST',
      url: '/api/v1/users',
      headers: tenant.auth,
      payload: { email: 'ADMIN2@example.com', password: 'long enough', role: 'admin' },
    });
    expect(dup.statusCode).toBe(409);
    expect(dup.json().error.field).toBe('email');
    const weak = await t.app.inject({
      method: 'POST',
      url: '/api/v1/users',
      headers: tenant.auth,
      payload: { email: 'x@example.com', password: 'short', role: 'operator' },
    });
    expect(weak.statusCode).toBe(400);
    expect(weak.json().error.field).toBe('password');
    const owner = await t.app.inject({
      method: 'POST',
      url: '/api/v1/users',
      headers: tenant.auth,
      payload: { email: 'y@example.com', password: 'long enough', role: 'owner' },
    });
    expect(owner.statusCode).toBe(400);
    expect(owner.json().error.field).toBe('role');
  });
});
