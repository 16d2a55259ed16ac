import iconv from 'iconv-lite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTenant, startTestApp, type Tenant, type TestApp } from '../support/app.ts';
import { backends } from '../support/db.ts';

describe.each(backends)('contacts import over HTTP on $name', (backend) => {
  let t: TestApp;
  let tenant: Tenant;
  let base: string;
  beforeAll(async () => {
    t = await startTestApp(backend);
    tenant = await createTenant(t.ctx);
    base = await t.app.listen({ port: 0, host: '127.0.0.1' });
  });
  afterAll(() => t.close());

  const upload = async (bytes: Buffer, name: string) => {
    const form = new FormData();
    form.append('file', new Blob([bytes]), name);
    return fetch(`${base}/api/v1/imports`, { method: 'POST', headers: tenant.auth, body: form });
  };
  const api = (method: 'GET' | 'POST', url: string, payload?: unknown) =>
    t.app.inject({
      method,
      url: `/api/v1${url}`,
      headers: tenant.auth,
      ...(payload !== undefined && { payload: payload as object }),
    });

  it('uploads a Windows-1251 semicolon CSV, previews it, imports it into a group and reports bad rows', async () => {
    const csv =
      'Телефон;ФИО;Город\n8 (999) 111-22-33;Иван Петров;Москва\nне номер;Плохой;Тула\n+7 999 111 22 33;Дубль;Омск\n';
    const res = await upload(iconv.encode(csv, 'win1251'), 'клиенты.csv');
    expect(res.status).toBe(201);
    const created = (await res.json()) as {
      id: number;
      preview: { encoding: string; delimiter: string; headers: string[] };
      suggestedMapping: Record<string, unknown>;
    };
    expect(created.preview).toMatchObject({
      encoding: 'windows-1251',
      delimiter: ';',
      headers: ['Телефон', 'ФИО', 'Город'],
    });
    expect(created.suggestedMapping).toMatchObject({ phone: 'Телефон', name: 'ФИО' });

    const bad = await api('POST', `/imports/${created.id}/start`, {
      group_name: 'Импорт',
      mapping: { phone: 'Номер' },
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.field).toBe('mapping.phone');

    const started = await api('POST', `/imports/${created.id}/start`, { group_name: 'Импорт' });
    expect(started.statusCode).toBe(202);
    let state = started.json();
    for (let i = 0; i < 100 && state.status !== 'completed' && state.status !== 'failed'; i++) {
      await new Promise((r) => setTimeout(r, 50));
      state = (await api('GET', `/imports/${created.id}`)).json();
    }
    expect(state).toMatchObject({ status: 'completed', total: 3, created: 1, duplicates: 1, errors: 1 });
    const errors = (await api('GET', `/imports/${created.id}/errors`)).json();
    expect(errors.items).toEqual([{ row: 3, field: 'phone', message: expect.any(String) }]);
    const contacts = (await api('GET', `/contacts?group_id=${state.groupId}`)).json();
    expect(
      contacts.items.map((c: { phone: string; vars: Record<string, string> }) => [c.phone, c.vars.Город]),
    ).toEqual([['+79991112233', 'Москва']]);
    expect((await api('POST', `/imports/${created.id}/start`, { group_name: 'Импорт' })).statusCode).toBe(
      409,
    );
    expect((await api('GET', '/imports')).json().items.map((i: { id: number }) => i.id)).toContain(
      created.id,
    );
  });

  it('refuses a request without a file and a file that is neither CSV nor XLSX, naming the field', async () => {
    const none = await fetch(`${base}/api/v1/imports`, {
      method: 'POST',
      headers: { ...tenant.auth, 'content-type': 'application/json' },
      body: '{}',
    });
    expect(none.status).toBe(415);
    expect(((await none.json()) as { error: { field: string } }).error.field).toBe('file');
    const png = await upload(
      Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0]),
      'photo.png',
    );
    expect(png.status).toBe(400);
  });
});
