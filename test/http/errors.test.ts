import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JSON_BODY_LIMIT } from '../../src/http/app.ts';
import { createTenant, startTestApp, type Tenant, type TestApp } from '../support/app.ts';
import { backends } from '../support/db.ts';

describe.each(backends)('HTTP error shape on $name', (backend) => {
  let t: TestApp;
  let tenant: Tenant;
  beforeAll(async () => {
    t = await startTestApp(backend);
    tenant = await createTenant(t.ctx);
  });
  afterAll(() => t.close());

  const post = (url: string, payload: string, headers: Record<string, string> = {}) =>
    t.app.inject({
      method: 'POST',
      url,
      payload,
      headers: { ...tenant.auth, 'content-type': 'application/json', ...headers },
    });

  it('answers malformed JSON with 400 invalid_json naming the body', async () => {
    const res = await post('/api/v1/contacts', '{"phone": "+7999');
    expect(res.statusCode).toBe(400);
    expect(res.json()).toEqual({
      error: { code: 'invalid_json', message: expect.any(String), field: 'body' },
    });
  });

  it('answers an unknown field with 400 naming it', async () => {
    const res = await post('/api/v1/contacts', JSON.stringify({ phone: '+79991234567', colour: 'red' }));
    expect(res.statusCode).toBe(400);
    expect(res.json().error).toMatchObject({ code: 'unknown_field', field: 'colour' });
  });

  it('answers a wrong type with 400 naming the nested field', async () => {
    const res = await post('/api/v1/contacts', JSON.stringify({ phone: '+79991234567', vars: { city: 5 } }));
    expect(res.statusCode).toBe(400);
    expect(res.json().error).toMatchObject({ code: 'validation_failed', field: 'vars.city' });
  });

  it('answers a domain validation error naming the field, and stores nothing', async () => {
    const res = await post('/api/v1/contacts', JSON.stringify({ phone: '12', name: 'Bad' }));
    expect(res.statusCode).toBe(400);
    expect(res.json().error).toMatchObject({ code: 'validation_failed', field: 'phone' });
    const count = await t.ctx.db
      .selectFrom('contacts')
      .select((eb) => eb.fn.countAll().as('n'))
      .where('account_id', '=', tenant.accountId)
      .executeTakeFirstOrThrow();
    expect(Number(count.n)).toBe(0);
  });

  it('refuses bodies over the limit with 413', async () => {
    const big = JSON.stringify({ name: 'x'.repeat(JSON_BODY_LIMIT + 10) });
    const res = await post('/api/v1/contacts', big);
    expect(res.statusCode).toBe(413);
    expect(res.json().error).toMatchObject({ code: 'payload_too_large', field: 'body' });
  });

  it('answers an unknown query parameter and a bad path id with 400', async () => {
    const q = await t.app.inject({ method: 'GET', url: '/api/v1/contacts?colour=red', headers: tenant.auth });
    expect(q.statusCode).toBe(400);
    expect(q.json().error).toMatchObject({ code: 'unknown_field', field: 'colour' });
    const p = await t.app.inject({ method: 'GET', url: '/api/v1/contacts/abc', headers: tenant.auth });
    expect(p.statusCode).toBe(400);
    expect(p.json().error.field).toBe('id');
  });

  it('answers unknown routes and missing credentials in the same shape', async () => {
    const nf = await t.app.inject({ method: 'GET', url: '/api/v1/nothing-here', headers: tenant.auth });
    expect(nf.statusCode).toBe(404);
    expect(nf.json().error.code).toBe('not_found');
    const anon = await t.app.inject({ method: 'GET', url: '/api/v1/contacts' });
    expect(anon.statusCode).toBe(401);
    expect(anon.json().error).toMatchObject({ code: 'unauthorized', field: 'authorization' });
    const bad = await t.app.inject({
      method: 'GET',
      url: '/api/v1/contacts',
      headers: { authorization: 'Bearer nope' },
    });
    expect(bad.statusCode).toBe(401);
    const shape = await t.app.inject({
      method: 'GET',
      url: '/api/v1/contacts',
      headers: { authorization: 'Basic x' },
    });
    expect(shape.statusCode).toBe(401);
  });

  it('serves OpenAPI, the docs page, health and metrics', async () => {
    const spec = await t.app.inject({ method: 'GET', url: '/api/openapi.json' });
    expect(spec.statusCode).toBe(200);
    const doc = spec.json();
    expect(doc.openapi).toMatch(/^3\./);
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining(['/api/v1/contacts', '/api/v1/groups', '/api/v1/stop-list']),
    );
    expect(doc.paths['/api/v1/contacts'].post.requestBody).toBeDefined();
    const docs = await t.app.inject({ method: 'GET', url: '/api/docs/' });
    expect(docs.statusCode).toBe(200);
    expect(docs.body).toContain('swagger');
    const health = await t.app.inject({ method: 'GET', url: '/healthz' });
    expect(health.json()).toEqual({ status: 'ok', database: backend.name });
    const metrics = await t.app.inject({ method: 'GET', url: '/metrics' });
    expect(metrics.body).toContain('omnitalk_http_request_duration_seconds');
    expect(metrics.body).toContain('omnitalk_process_resident_memory_bytes');
  });
});
