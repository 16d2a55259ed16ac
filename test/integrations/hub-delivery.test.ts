import crypto from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { SecretBox } from '../../src/accounts/secrets.ts';
import { sendVisitorMessage } from '../../src/chat/messages.ts';
import { writeOutbox } from '../../src/chat/outbox.ts';
import type { RecordedRequest } from '../fakes/crm-server.ts';
import type { RetailFakeCustomer } from '../fakes/retailcrm.ts';
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
    const db = h.t.ctx.db;
    const names = ['Анна Смирнова', 'Борис Кузнецов', 'Вера Попова', 'Глеб Соколов'];
    const phoneOf = (i: number) => `+7916444100${i}`;
    const indexOf = (digits: string) => names.findIndex((_, i) => digits.includes(phoneOf(i).slice(1)));
    const formPhones = (r: RecordedRequest) => {
      const customer = r.form.get('customer');
      return customer ? JSON.stringify((JSON.parse(customer) as { phones?: unknown }).phones ?? '') : '';
    };
    const isCreate = (r: RecordedRequest) => r.path === '/api/v5/customers/create';
    const isNote = (r: RecordedRequest) => r.path === '/api/v5/customers/notes/create';

    // The outage: creates of even contacts are carried out but answered 503 (the dangerous case), those of
    // odd contacts are refused with 503; notes are carried out and answered 503; each search is refused
    // with 503 the first time it is asked. Searches otherwise work, so creates happen during the outage.
    let failing = true;
    const outage = { appliedCreates: 0, refusedCreates: 0, appliedNotes: 0, refusedReads: 0 };
    const firstRead = new Set<string>();
    const unavailable = { status: 503, body: { success: false, errorMsg: 'Service Unavailable' } };
    h.fake.server.inject({
      when: (r) => failing && isCreate(r) && indexOf(formPhones(r)) % 2 === 0 && ++outage.appliedCreates > 0,
      respond: unavailable,
      afterProcessing: true,
      times: 1_000_000,
    });
    h.fake.server.inject({
      when: (r) => failing && isCreate(r) && ++outage.refusedCreates > 0,
      respond: unavailable,
      times: 1_000_000,
    });
    h.fake.server.inject({
      when: (r) => failing && isNote(r) && ++outage.appliedNotes > 0,
      respond: unavailable,
      afterProcessing: true,
      times: 1_000_000,
    });
    h.fake.server.inject({
      when: (r) => {
        if (!failing || r.method !== 'GET' || r.path !== '/api/v5/customers') return false;
        if (firstRead.has(r.rawQuery)) return false;
        firstRead.add(r.rawQuery);
        outage.refusedReads += 1;
        return true;
      },
      respond: unavailable,
      times: 1_000_000,
    });
    await h.startRunner();

    // Each contact: captured from a chat (a dialog with two messages) while the CRM is down.
    const contacts: { id: number; visitor: Awaited<ReturnType<HubHarness['visitor']>> }[] = [];
    for (let i = 0; i < names.length; i++) {
      const visitor = await h.visitor(`outage-${i}`);
      await sendVisitorMessage(db, h.t.clock, visitor, { clientId: `${i}-a`, text: `Здравствуйте ${i}` });
      await sendVisitorMessage(db, h.t.clock, visitor, {
        clientId: `${i}-b`,
        text: `мой телефон ${phoneOf(i)}`,
      });
      const dialog = await db
        .selectFrom('dialogs')
        .select('contact_id')
        .where('visitor_id', '=', visitor.id)
        .executeTakeFirstOrThrow();
      contacts.push({ id: dialog.contact_id!, visitor });
    }
    // Until every contact's create was tried and every even contact's transcript went in unanswered.
    await waitFor(
      () => ({
        created: new Set(h!.fake.server.requests.filter(isCreate).map((r) => indexOf(formPhones(r)))).size,
        notes: h!.fake.server.requests.filter(isNote).length,
      }),
      (seen) => seen.created === names.length && seen.notes >= names.length / 2,
      30_000,
    );
    // Still down: each contact gets its name (contact.updated).
    for (const [i, c] of contacts.entries()) {
      await db.updateTable('contacts').set({ name: names[i]! }).where('id', '=', c.id).execute();
      await captured(h, c.id, 'contact.updated');
    }
    failing = false;
    // Recovered, while the queue drains: an email (contact.updated) and one more message each.
    for (const [i, c] of contacts.entries()) {
      await db
        .updateTable('contacts')
        .set({ email: `client${i}@example.com` })
        .where('id', '=', c.id)
        .execute();
      await captured(h, c.id, 'contact.updated');
      await sendVisitorMessage(db, h.t.clock, c.visitor, { clientId: `${i}-c`, text: `ещё вопрос ${i}` });
    }
    // Jobs that failed during the outage wait out pg-boss's jittered exponential backoff (1 s doubling):
    // after an outage of T seconds the last retries are due up to about 2T later, so a loaded machine
    // that stretched the outage needs a longer wait here.
    // How many events the hub writes depends on timing (a message written before its dialog reached the
    // CRM goes in with the transcript), so wait for nothing pending and every contact's final state.
    await waitFor(
      async () => ({
        pending: (
          await db.selectFrom('integration_events').select('id').where('status', '=', 'pending').execute()
        ).length,
        complete: names.every((_, i) =>
          [...h!.fake.customers.values()].some(
            (c) =>
              c.phones.some((p) => p.number === phoneOf(i)) &&
              c.email === `client${i}@example.com` &&
              c.notes.some((n) => n.text.includes(`ещё вопрос ${i}`)),
          ),
        ),
      }),
      (v) => v.pending === 0 && v.complete,
      180_000,
    );

    expect(outage.appliedCreates).toBeGreaterThanOrEqual(names.length / 2);
    expect(outage.refusedCreates).toBeGreaterThanOrEqual(names.length / 2);
    expect(outage.appliedNotes).toBeGreaterThanOrEqual(names.length / 2);
    expect(outage.refusedReads).toBeGreaterThan(0);
    // Exactly one record per contact, although half of them were created by a request answered 503.
    expect(h.fake.customers.size).toBe(names.length);
    for (const [i, name] of names.entries()) {
      const mine = [...h.fake.customers.values()].filter((c) =>
        c.phones.some((p) => p.number === phoneOf(i)),
      );
      expect(mine).toHaveLength(1);
      const customer = mine[0]!;
      const [firstName, lastName] = name.split(' ');
      // The last event's values, and the record's states in event order: never an older state after a
      // newer one (v0 phone only, v1 + name, v2 + email).
      expect(customer).toMatchObject({ firstName, lastName, email: `client${i}@example.com` });
      const version = (s: RetailFakeCustomer['history'][number]) =>
        s.lastName === lastName ? (s.email ? 2 : 1) : s.email ? -1 : 0;
      const versions = customer.history.map(version);
      expect(versions).toEqual([...versions].sort((a, b) => a - b));
      expect(versions.at(-1)).toBe(2);
      expect(versions).not.toContain(-1);
      // Every message once, in the order it was written, although a transcript was answered 503.
      const notes = customer.notes.map((n) => n.text).join('\n');
      const said = [`Здравствуйте ${i}`, `мой телефон ${phoneOf(i)}`, `ещё вопрос ${i}`];
      for (const text of said) expect(notes.split(text)).toHaveLength(2);
      const at = said.map((text) => notes.indexOf(text));
      expect(at).toEqual([...at].sort((a, b) => a - b));
    }
    // Per contact, the CRM saw its creates before anything that addressed the record.
    for (const customer of h.fake.customers.values()) {
      const requests = h.fake.server.requests;
      const i = indexOf(customer.phones[0]!.number.replace(/\D/g, ''));
      const lastCreate = requests.findLastIndex((r) => isCreate(r) && indexOf(formPhones(r)) === i);
      const firstUse = requests.findIndex(
        (r) =>
          r.path.startsWith(`/api/v5/customers/${customer.id}`) ||
          (isNote(r) && r.form.get('note')?.includes(`"id":${customer.id}`)),
      );
      expect(lastCreate).toBeGreaterThanOrEqual(0);
      expect(firstUse).toBeGreaterThan(lastCreate);
    }
    const events = await db.selectFrom('integration_events').select(['status']).execute();
    expect(events.every((e) => e.status === 'done')).toBe(true);
  }, 300_000);

  it('a create that times out (carried out, answered too late) is searched for again, not repeated', async () => {
    h = await startHub(backend);
    h.fake.server.reset();
    h.fake.server.inject({
      when: (r) => r.path === '/api/v5/customers/create',
      respond: { status: 201, body: { success: true, id: 0 }, delayMs: 2500 },
      afterProcessing: true,
    });
    await h.startRunner({ timeoutMs: 500 });
    const id = await addContact(h, '+79163330002', 'Slow answer');
    await captured(h, id);
    await settled(h, 1);
    expect(creates(h.fake)).toHaveLength(1);
    expect(h.fake.customers.size).toBe(1);
    const customer = [...h.fake.customers.values()][0]!;
    // The retry searched first, found the record the timed-out create made, and created nothing.
    const calls = h.fake.server.requests.map((r) => `${r.method} ${r.path}`);
    const created = calls.indexOf('POST /api/v5/customers/create');
    expect(calls.slice(0, created)).toEqual(['GET /api/v5/customers']);
    expect(calls[created + 1]).toBe('GET /api/v5/customers');
    expect(calls.slice(created + 1)).not.toContain('POST /api/v5/customers/create');
    const event = await h.t.ctx.db
      .selectFrom('integration_events')
      .select(['status', 'attempts', 'last_error'])
      .executeTakeFirstOrThrow();
    expect(event).toMatchObject({
      status: 'done',
      attempts: 1,
      last_error: { kind: 'unknown_outcome', reason: 'timeout' },
    });
    const ref = await h.t.ctx.db.selectFrom('integration_refs').selectAll().executeTakeFirstOrThrow();
    expect(ref.crm_id).toBe(String(customer.id));
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
