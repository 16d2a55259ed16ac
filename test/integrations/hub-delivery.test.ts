import crypto from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { SecretBox } from '../../src/accounts/secrets.ts';
import { sendVisitorMessage } from '../../src/chat/messages.ts';
import { writeOutbox } from '../../src/chat/outbox.ts';
import { backends } from '../support/db.ts';
import { creates, type HubHarness, startHub, waitFor } from './hub-support.ts';

async function addContact(h: HubHarness, phone: string, name: string): Promise<number> {
  const now = h.t.clock.now();
  const row = await h.t.ctx.db
    .insertInto('contacts')
    .values({ account_id: h.tenant.accountId, phone, name, vars: '{}', created_at: now, updated_at: now })
    .returning('id')
    .executeTakeFirstOrThrow();
  return row.id;
}

async function captured(
  h: HubHarness,
  contactId: number,
  kind: 'contact.captured' | 'contact.updated' = 'contact.captured',
) {
  await writeOutbox(h.t.ctx.db, h.t.clock, [
    { accountId: h.tenant.accountId, siteId: h.siteId, kind, payload: { contact: { id: contactId } } },
  ]);
}

/** Every one of `events` integration events fanned out and none pending. */
async function settled(h: HubHarness, events: number, timeoutMs = 30_000) {
  await waitFor(
    () =>
      h.t.ctx.db
        .selectFrom('integration_events')
        .select(['status'])
        .execute()
        .then((rows) => rows.filter((r) => r.status === 'pending').length - (rows.length >= events ? 0 : 1)),
    (open) => open === 0,
    timeoutMs,
  );
}

const state = async (h: HubHarness) =>
  (
    await h.t.app.inject({
      method: 'GET',
      url: `/api/v1/sites/${h.siteId}/integrations/retailcrm`,
      headers: h.tenant.auth,
    })
  ).json();

describe.each(backends)('CRM hub delivery on $name', (backend) => {
  let h: HubHarness;
  afterEach(async () => {
    await h?.close();
  });

  it('a chat capture reaches the CRM once, with the transcript, then later messages as notes', async () => {
    h = await startHub(backend);
    await h.startRunner();
    const visitor = await h.visitor('v1');
    await sendVisitorMessage(h.t.ctx.db, h.t.clock, visitor, { clientId: 'a', text: 'Здравствуйте' });
    await sendVisitorMessage(h.t.ctx.db, h.t.clock, visitor, {
      clientId: 'b',
      text: 'мой телефон +7 916 555-44-33',
    });
    const customer = await waitFor(
      () => [...h.fake.customers.values()],
      (list) => list.length === 1 && list[0]!.notes.length >= 1,
    );
    expect(customer[0]!.phones.map((p) => p.number.replace(/\D/g, ''))).toEqual(['79165554433']);
    expect(customer[0]!.notes[0]!.text).toContain('Здравствуйте');
    await sendVisitorMessage(h.t.ctx.db, h.t.clock, visitor, { clientId: 'c', text: 'ещё вопрос' });
    await waitFor(
      () => h.fake.customers.get(customer[0]!.id)!.notes.map((n) => n.text),
      (notes) => notes.some((n) => n.includes('ещё вопрос')),
    );
    expect(creates(h.fake)).toHaveLength(1);
    const s = await waitFor(
      () => state(h),
      (st) => st.queue_depth === 0,
    );
    expect(s.connected).toBe(true);
    expect(s.last_success_at).not.toBeNull();
    expect(s.queue_depth).toBe(0);
    expect(JSON.stringify(s)).not.toContain(h.fake.apiKey);
  });

  it('two events of one contact racing in two runners create one record', async () => {
    h = await startHub(backend);
    const contacts = [];
    for (let i = 0; i < 5; i++) {
      const id = await addContact(h, `+7916555000${i}`, `Race ${i}`);
      contacts.push(id);
      await captured(h, id);
      await captured(h, id, 'contact.updated');
    }
    await Promise.all([h.startRunner(), h.startRunner()]);
    await settled(h, 10);
    expect(creates(h.fake)).toHaveLength(5);
    expect(h.fake.customers.size).toBe(5);
  });

  it('503 for a while, then recovery: every contact exactly once, in order per contact', async () => {
    h = await startHub(backend);
    let failing = true;
    h.fake.server.inject({
      when: () => failing,
      respond: { status: 503, body: { success: false, errorMsg: 'Service Unavailable' } },
      times: 1_000_000,
    });
    await h.startRunner();
    const ids: number[] = [];
    for (let i = 0; i < 8; i++) {
      const id = await addContact(h, `+7916444000${i}`, `Fault ${i}`);
      ids.push(id);
      await captured(h, id);
    }
    await waitFor(
      () => h.fake.server.requests.length,
      (n) => n >= 8,
    );
    failing = false;
    for (const id of ids) {
      await h.t.ctx.db
        .updateTable('contacts')
        .set({ name: `Fault renamed ${id}` })
        .where('id', '=', id)
        .execute();
      await captured(h, id, 'contact.updated');
    }
    await settled(h, 16);
    expect(h.fake.customers.size).toBe(8);
    const requests = h.fake.server.requests;
    for (const customer of h.fake.customers.values()) {
      const digits = customer.phones[0]!.number.replace(/\D/g, '');
      const created = requests
        .map((r, i) => ({ r, i }))
        .filter(({ r }) => r.path === '/api/v5/customers/create')
        .filter(({ r }) => decodeURIComponent(r.rawBody).replace(/\D/g, '').includes(digits));
      // The contact.updated event reached its record only after the create that made it.
      const later = requests.findIndex((r) => r.path.startsWith(`/api/v5/customers/${customer.id}`));
      expect(created.length).toBeGreaterThanOrEqual(1);
      expect(later).toBeGreaterThan(created.at(-1)!.i);
    }
    const phones = [...h.fake.customers.values()].map((c) => c.phones[0]!.number);
    expect(new Set(phones).size).toBe(8);
    const events = await h.t.ctx.db.selectFrom('integration_events').select(['status']).execute();
    expect(events.every((e) => e.status === 'done')).toBe(true);
  });

  it('a create answered with 5xx after it happened is found by a search, not created again', async () => {
    h = await startHub(backend);
    h.fake.server.inject({
      when: (r) => r.path === '/api/v5/customers/create',
      respond: { status: 500, body: { success: false, errorMsg: 'Internal error' } },
      afterProcessing: true,
    });
    await h.startRunner();
    const id = await addContact(h, '+79163330001', 'Lost answer');
    await captured(h, id);
    await settled(h, 1);
    expect(creates(h.fake)).toHaveLength(1);
    expect(h.fake.customers.size).toBe(1);
    const ref = await h.t.ctx.db.selectFrom('integration_refs').selectAll().executeTakeFirstOrThrow();
    expect(ref.crm_id).toBe(String([...h.fake.customers.keys()][0]));
  });

  it('honours Retry-After of a 429', async () => {
    h = await startHub(backend);
    const arrivals: number[] = [];
    let limited = false;
    h.fake.server.inject({
      when: (r) => {
        arrivals.push(Date.now());
        if (limited || r.path !== '/api/v5/customers') return false;
        limited = true;
        return true;
      },
      respond: {
        status: 429,
        headers: { 'retry-after': '2' },
        body: { success: false, errorMsg: 'Too many' },
      },
      times: 1_000_000,
    });
    await h.startRunner();
    const id = await addContact(h, '+79162220001', 'Limited');
    await captured(h, id);
    await waitFor(
      () => creates(h.fake).length,
      (n) => n === 1,
      30_000,
    );
    // The request after the 429 waited at least the 2 s the CRM asked for.
    expect(arrivals.length).toBeGreaterThanOrEqual(3);
    expect(arrivals[1]! - arrivals[0]!).toBeGreaterThanOrEqual(1900);
    expect(h.fake.customers.size).toBe(1);
  });

  it('stored settings that no longer open pause deliveries (no retries) until the settings are saved again', async () => {
    h = await startHub(backend);
    // Sealed with another key (a lost or rotated OMNITALK secret): the row cannot be opened any more.
    const other = new SecretBox(crypto.randomBytes(32));
    const row = await h.t.ctx.db.selectFrom('integrations').select('id').executeTakeFirstOrThrow();
    await h.t.ctx.db
      .updateTable('integrations')
      .set({ settings_sealed: other.encrypt(JSON.stringify({ apiKey: 'x' }), `integration:${row.id}`) })
      .execute();
    h.fake.server.reset();
    await h.startRunner();
    const id = await addContact(h, '+79161110002', 'Unreadable');
    await captured(h, id);
    const paused = await waitFor(
      () => state(h),
      (st) => st.delivery_paused === true,
    );
    expect(paused.last_error).toMatchObject({ kind: 'permanent', reason: 'not_configured' });
    expect(paused.last_error.message).not.toContain('apiKey');
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(h.fake.server.requests).toHaveLength(0);
    const events = await h.t.ctx.db.selectFrom('integration_events').select(['status', 'attempts']).execute();
    expect(events).toEqual([{ status: 'pending', attempts: 1 }]);

    const resave = await h.t.app.inject({
      method: 'PUT',
      url: `/api/v1/sites/${h.siteId}/integrations/retailcrm`,
      headers: h.tenant.auth,
      payload: { domain: 'demo.retailcrm.ru', apiKey: h.fake.apiKey, apiBaseUrl: h.fake.url },
    });
    expect(resave.json()).toMatchObject({ connected: true, delivery_paused: false });
    await settled(h, 1);
    expect(creates(h.fake)).toHaveLength(1);
  });

  it('a permanent failure is parked with its error and delivered after a retry through the API', async () => {
    h = await startHub(backend);
    h.fake.server.inject({
      when: (r) => r.path === '/api/v5/customers/create',
      respond: {
        status: 400,
        body: { success: false, errorMsg: 'Errors in the entity format', errors: { phones: 'bad' } },
      },
    });
    await h.startRunner();
    const id = await addContact(h, '+79161110001', 'Parked');
    await captured(h, id);
    const s = await waitFor(
      () => state(h),
      (st) => st.failed_count === 1,
    );
    expect(s.last_error.kind).toBe('permanent');
    const failed = await h.t.app.inject({
      method: 'GET',
      url: `/api/v1/sites/${h.siteId}/integrations/retailcrm/failed`,
      headers: h.tenant.auth,
    });
    expect(failed.json().items[0].last_error.reason).toBe('validation');
    const retry = await h.t.app.inject({
      method: 'POST',
      url: `/api/v1/sites/${h.siteId}/integrations/retailcrm/failed/retry`,
      headers: h.tenant.auth,
      payload: {},
    });
    expect(retry.json()).toEqual({ updated: 1 });
    await waitFor(
      () => h.fake.customers.size,
      (n) => n === 1,
    );
    const after = await waitFor(
      () => state(h),
      (st) => st.failed_count === 0 && st.queue_depth === 0,
    );
    expect(after.connected).toBe(true);
  });
});
