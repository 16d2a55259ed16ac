import ExcelJS from 'exceljs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { topUp } from '../../src/billing/ledger.ts';
import { channelAdapters } from '../../src/channels/registry.ts';
import { CascadeEngine } from '../../src/mailings/engine/engine.ts';
import { createTenant, startTestApp, type Tenant, type TestApp } from '../support/app.ts';
import { backends } from '../support/db.ts';

describe.each(backends)('mailing reports over HTTP with the sandbox providers on $name', (backend) => {
  let t: TestApp;
  let tenant: Tenant;
  let mailingId: number;
  beforeAll(async () => {
    t = await startTestApp(backend);
    tenant = await createTenant(t.ctx);
    await topUp(t.ctx.db, t.clock, { accountId: tenant.accountId, amount: 1_000_000 });
    const group = (await api('POST', '/groups', { name: 'R' })).json();
    for (let i = 0; i < 40; i++) {
      await api('POST', '/contacts', {
        phone: `+7999700${String(i).padStart(4, '0')}`,
        name: `Клиент ${i}`,
        group_ids: [group.id],
      });
    }
    const scheme = (await api('GET', '/schemes/templates')).json().items[1].definition; // Viber/СМС
    const created = await api('POST', '/mailings', {
      scheme,
      recipients: { group_ids: [group.id] },
      tags: ['report'],
      start: true,
    });
    expect(created.statusCode).toBe(201);
    mailingId = created.json().id;
    const engine = new CascadeEngine({ db: t.ctx.db, clock: t.clock, adapters: channelAdapters() });
    for (let i = 0; i < 1000; i++) {
      await engine.drain();
      const next = await engine.nextDueAt();
      if (!next) break;
      if (next > t.clock.now()) t.clock.set(next);
    }
  });
  afterAll(() => t.close());

  function api(method: 'GET' | 'POST', url: string, payload?: unknown) {
    return t.app.inject({
      method,
      url: `/api/v1${url}`,
      headers: tenant.auth,
      ...(payload !== undefined && { payload: payload as object }),
    });
  }

  it('reports totals, money and blocks consistent with the messages', async () => {
    const report = (await api('GET', `/mailings/${mailingId}/report`)).json();
    expect(report.mailing.status).toBe('completed');
    expect(report.totals.recipients).toBe(40);
    const all: { channel: string; linkId: string | null }[] = [];
    let after: string | null = null;
    do {
      const page: { items: { channel: string; linkId: string | null }[]; next: string | null } = (
        await api('GET', `/mailings/${mailingId}/messages?limit=25${after ? `&after=${after}` : ''}`)
      ).json();
      all.push(...page.items);
      after = page.next;
    } while (after);
    expect(all).toHaveLength(report.totals.messages);
    const viber = report.blocks.find((b: { blockId: string }) => b.blockId === 'viber');
    expect(viber.messages).toBe(40);
    const sms = all.filter((m: { channel: string }) => m.channel === 'sms');
    const viberUndelivered = all.filter(
      (m: { channel: string; linkId: string | null }) =>
        m.channel === 'viber' && m.linkId === 'viber-undelivered',
    );
    expect(sms.length).toBe(viberUndelivered.length);
    const providers = (await api('GET', '/channels/providers')).json().items;
    expect(providers.every((p: { sandbox: boolean }) => p.sandbox)).toBe(true);
    const bad = await api('GET', `/mailings/${mailingId}/messages?channel=fax`);
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.field).toBe('channel');
  });

  it('exports the messages and recipients as .xlsx files Excel can open', async () => {
    const res = await api('GET', `/mailings/${mailingId}/messages.xlsx`);
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toContain('spreadsheetml');
    const book = new ExcelJS.Workbook();
    await book.xlsx.load(res.rawPayload as unknown as ArrayBuffer);
    const sheet = book.worksheets[0]!;
    const report = (await api('GET', `/mailings/${mailingId}/report`)).json();
    expect(sheet.actualRowCount).toBe(report.totals.messages + 1);
    expect(String(sheet.getRow(1).values)).toContain('Телефон');
    const badZone = await api('GET', `/mailings/${mailingId}/messages.xlsx?timezone=Mars/Base`);
    expect(badZone.statusCode).toBe(400);
    expect(badZone.json().error.field).toBe('timezone');
    const rec = await api('GET', `/mailings/${mailingId}/recipients.xlsx`);
    const book2 = new ExcelJS.Workbook();
    await book2.xlsx.load(rec.rawPayload as unknown as ArrayBuffer);
    expect(book2.worksheets[0]!.actualRowCount).toBe(41);
  });

  it('draws time series and lists deferred and unsubscribed', async () => {
    const series = (
      await api('GET', `/reports/timeseries?bucket=day&from=2026-11-01&to=2026-12-31&tag=report`)
    ).json();
    const sent = series.items.reduce((s: number, p: { sent: number }) => s + p.sent, 0);
    const report = (await api('GET', `/mailings/${mailingId}/report`)).json();
    expect(sent).toBe(report.totals.sent);
    const badRange = await api('GET', '/reports/timeseries?bucket=day&from=2026-12-31&to=2026-11-01');
    expect(badRange.statusCode).toBe(400);
    expect((await api('GET', '/reports/deferred')).json().items).toEqual([]);
    expect((await api('GET', '/reports/unsubscribed')).statusCode).toBe(200);
  });
});
