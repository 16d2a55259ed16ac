import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CrmError } from '../../src/integrations/crm/errors.ts';
import type { TokenSet } from '../../src/integrations/crm/http.ts';
import { pushContact } from '../../src/integrations/crm/push.ts';
import type {
  CrmConnector,
  CrmContactData,
  CrmContext,
  InboundRequest,
  InboundResult,
} from '../../src/integrations/crm/types.ts';
import type { FakeHttpServer, FakeResponse, RecordedRequest } from '../fakes/crm-server.ts';

/**
 * The contract every CRM connector keeps against its fake (ARCHITECTURE "Models to learn from"). A
 * connector's test calls runCrmContract with a harness, then asserts its exact requests. Skips need a
 * written reason.
 */

/** A record as the fake stores it, in a shape every fake can produce. */
export interface FakeRecord {
  id: string;
  name: string;
  phones: string[];
  emails: string[];
  notes: string[];
}

export interface CrmContractHarness<S> {
  connector: CrmConnector<S>;
  server: FakeHttpServer;
  /** A context with working settings pointing at the fake (fresh tokens each call, where tokens exist). */
  ctx(options?: { timeoutMs?: number }): Promise<CrmContext<S>>;
  /** A context whose credentials the fake rejects. */
  badCredentials(): Promise<CrmContext<S>>;
  /** The records the connector creates (user+case systems: the record holding phones/emails). */
  records(): FakeRecord[];
  /** Puts a record into the fake, with phones written as a CRM user would type them. */
  seed(data: { name: string; phones: string[]; emails: string[] }): void;
  /** Requests that create a record (counted to prove there are no duplicates). */
  isCreate(request: RecordedRequest): boolean;
  /** CRM user ids the fake has (listUsers must return them). */
  userIds: string[];
  /** How this CRM answers "too many requests" (default: 429 with Retry-After: 7). */
  rateLimited?: { response: FakeResponse; retryAfterMs: number | null };
  /** Where the system has expiring tokens: make the fake reject current access tokens. */
  tokens?: { expire(): void; isRefresh(request: RecordedRequest): boolean };
  /**
   * Requests that attach a note, for CRMs that can list an entity's notes (the connector then keeps a
   * retried note from being attached twice). Absent: the connector documents why a retry may duplicate.
   */
  isNote?(request: RecordedRequest): boolean;
  /** Two-way systems: one genuine inbound request and forged ones that must be rejected. */
  inbound?: { genuine(): InboundRequest; forged(): InboundRequest[] };
  close(): Promise<void>;
}

export interface ContractSkips {
  /** Reason the system keeps no contact records we push to (Gravitel: calls flow the other way). */
  contacts?: string;
  /** Reason the system has no updatable record fields (e.g. a "create lead" URL only). */
  update?: string;
  notes?: string;
  users?: string;
}

let seq = 0;
function sampleContact(overrides: Partial<CrmContactData> = {}): CrmContactData {
  seq += 1;
  const n = String(1000 + seq).slice(-4);
  return {
    contactId: `contact-${Date.now()}-${seq}`,
    name: 'Иван Петров',
    phones: [`+7916555${n}`],
    emails: [`ivan${n}@example.com`],
    comment: 'Здравствуйте, нужна консультация',
    siteName: 'shop.example.com',
    ...overrides,
  };
}

async function rejection(promise: Promise<unknown>): Promise<CrmError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(CrmError);
    return error as CrmError;
  }
  throw new Error('expected the call to fail');
}

/**
 * The harness exists only after beforeAll, so tests that depend on what the system has (tokens, inbound
 * requests) skip themselves at run time, with the reason.
 */
export function runCrmContract<S>(
  name: string,
  makeHarness: () => Promise<CrmContractHarness<S>>,
  skips: ContractSkips = {},
): void {
  describe(`CRM connector contract: ${name}`, () => {
    let h: CrmContractHarness<S>;
    const creates = () => h.server.requests.filter((r) => h.isCreate(r)).length;
    const recordWith = (contact: CrmContactData) =>
      h
        .records()
        .filter((r) => r.phones.some((p) => p.replace(/\D/g, '').endsWith(contact.phones[0]!.slice(-10))));

    beforeAll(async () => {
      h = await makeHarness();
    });
    afterAll(async () => {
      await h?.close();
    });
    beforeEach(() => {
      h.server.clearFaults();
    });

    it('passes the test call with working settings', async () => {
      const info = await h.connector.testConnection(await h.ctx());
      expect(info).toHaveProperty('accountName');
    });

    it('fails the test call with bad credentials, permanently', async () => {
      const error = await rejection(h.connector.testConnection(await h.badCredentials()));
      expect(error.kind).toBe('permanent');
    });

    it.skipIf(skips.contacts !== undefined)(
      'creates a record only after a search found nothing, and finds it the next time',
      async () => {
        const ctx = await h.ctx();
        const contact = sampleContact();
        expect(await h.connector.findContact(ctx, contact)).toBeNull();
        const before = creates();
        const first = await pushContact(h.connector, ctx, contact, { ref: null });
        expect(first.outcome).toBe('created');
        expect(creates()).toBe(before + 1);
        const second = await pushContact(h.connector, ctx, contact, { ref: null });
        expect(second.outcome).toBe('found');
        expect(creates()).toBe(before + 1);
        expect(recordWith(contact)).toHaveLength(1);
      },
    );

    it.skipIf(skips.contacts !== undefined)(
      'finds a record whose phone a CRM user typed in a local format',
      async () => {
        const ctx = await h.ctx();
        const contact = sampleContact({ emails: [] });
        const national = contact.phones[0]!.slice(2);
        h.seed({
          name: 'Клиент из CRM',
          phones: [
            `8 (${national.slice(0, 3)}) ${national.slice(3, 6)}-${national.slice(6, 8)}-${national.slice(8)}`,
          ],
          emails: [],
        });
        const before = creates();
        const result = await pushContact(h.connector, ctx, contact, { ref: null });
        expect(result.outcome).toBe('found');
        expect(creates()).toBe(before);
      },
    );

    it.skipIf(skips.contacts !== undefined)(
      'does not take a loosely related record for a match',
      async () => {
        const ctx = await h.ctx();
        const contact = sampleContact({ phones: [] });
        h.seed({ name: 'Другой клиент', phones: [], emails: [`old.${contact.emails[0]}`] });
        const result = await pushContact(h.connector, ctx, contact, { ref: null });
        expect(result.outcome).toBe('created');
      },
    );

    it.skipIf(skips.update !== undefined || skips.contacts !== undefined)(
      'adds new contact data to the record and keeps what it had',
      async () => {
        const ctx = await h.ctx();
        const contact = sampleContact({ emails: [] });
        const { ref } = await pushContact(h.connector, ctx, contact, { ref: null });
        const email = `new${seq}@example.com`;
        await pushContact(h.connector, ctx, { ...contact, emails: [email] }, { ref });
        const [record] = recordWith(contact);
        expect(record?.emails.map((e) => e.toLowerCase())).toContain(email);
        expect(record?.phones.length).toBeGreaterThanOrEqual(1);
      },
    );

    it.skipIf(skips.notes !== undefined || skips.contacts !== undefined)(
      'attaches the dialog transcript to the record',
      async () => {
        const ctx = await h.ctx();
        const contact = sampleContact();
        const { ref } = await pushContact(h.connector, ctx, contact, { ref: null });
        const text = `Посетитель: Здравствуйте\nОператор: Добрый день! (${seq})`;
        const kept = await h.connector.attachNote(ctx, ref, { kind: 'transcript', text });
        expect(kept.id).toBeTruthy();
        const [record] = recordWith(contact);
        expect(record?.notes.join('\n')).toContain(text);
      },
    );

    it('finds a note whose answer was lost (5xx, timeout) by its marker, so a retry need not repeat it', async (test) => {
      const { connector } = h;
      if (!connector.findNote || !h.isNote || skips.notes !== undefined || skips.contacts !== undefined)
        return test.skip(
          'the CRM cannot list notes: a retried note may be attached twice (see the connector)',
        );
      const isNote = h.isNote;
      const contact = sampleContact();
      const { ref } = await pushContact(connector, await h.ctx(), contact, { ref: null });
      expect(await connector.findNote(await h.ctx(), ref, `dialog-${seq}-`)).toBeNull();
      const lost: FakeResponse[] = [
        { status: 503, body: 'Service Unavailable' },
        { status: 200, body: {}, delayMs: 1500 },
      ];
      for (const [i, respond] of lost.entries()) {
        const text = `Посетитель: ответ потерян ${i} (${seq})`;
        const marker = `dialog-${seq}${i}-${100 + i}`;
        h.server.inject({ when: (r) => isNote(r), respond, afterProcessing: true });
        const error = await rejection(
          connector.attachNote(await h.ctx({ timeoutMs: 300 }), ref, { kind: 'transcript', text, marker }),
        );
        expect(error.kind).toBe('unknown_outcome');
        // The whole marker, or its dialog's prefix (which yields the transcript's last message).
        expect(await connector.findNote(await h.ctx(), ref, marker)).toBe(marker);
        expect(await connector.findNote(await h.ctx(), ref, `dialog-${seq}${i}-`)).toBe(marker);
        expect(recordWith(contact)[0]?.notes.filter((n) => n.includes(text))).toHaveLength(1);
      }
      // Markers match whole: message-N is not message-N0, and another entity's notes are not looked at.
      await connector.attachNote(await h.ctx(), ref, {
        kind: 'message',
        text: 'ещё',
        marker: `message-${seq}0`,
      });
      expect(await connector.findNote(await h.ctx(), ref, `message-${seq}`)).toBeNull();
      expect(await connector.findNote(await h.ctx(), ref, `message-${seq}0`)).toBe(`message-${seq}0`);
      const other = await pushContact(connector, await h.ctx(), sampleContact(), { ref: null });
      expect(await connector.findNote(await h.ctx(), other.ref, `message-${seq - 1}0`)).toBeNull();
    });

    it.skipIf(skips.users !== undefined)('lists CRM users for the operator mapping', async () => {
      const users = await h.connector.listUsers(await h.ctx());
      expect(users.map((u) => u.id)).toEqual(expect.arrayContaining(h.userIds));
      for (const user of users) expect(typeof user.name).toBe('string');
    });

    it('classifies a rate-limit answer as retryable, with the delay the CRM asked for', async () => {
      const ctx = await h.ctx();
      const limited = h.rateLimited ?? {
        response: { status: 429, headers: { 'retry-after': '7' }, body: {} },
        retryAfterMs: 7000,
      };
      h.server.inject({ when: () => true, respond: limited.response, times: 1 });
      const error = await rejection(h.connector.testConnection(ctx));
      expect(error.kind).toBe('retryable');
      expect(error.reason).toBe('rate_limited');
      expect(error.retryAfterMs).toBe(limited.retryAfterMs);
    });

    it('classifies a server error on a read as retryable', async () => {
      const ctx = await h.ctx();
      h.server.inject({ when: () => true, respond: { status: 502, body: 'Bad Gateway' }, times: 1 });
      const error = await rejection(h.connector.testConnection(ctx));
      expect(error.kind).toBe('retryable');
    });

    it.skipIf(skips.contacts !== undefined)(
      'reports a create answered with 5xx as an unknown outcome, and the next push finds it',
      async () => {
        const ctx = await h.ctx();
        const contact = sampleContact();
        h.server.inject({
          when: (r) => h.isCreate(r),
          respond: { status: 500, body: 'Internal Server Error' },
          afterProcessing: true,
        });
        const error = await rejection(pushContact(h.connector, ctx, contact, { ref: null }));
        expect(error.kind).toBe('unknown_outcome');
        const before = creates();
        const retry = await pushContact(h.connector, ctx, contact, { ref: null });
        expect(retry.outcome).toBe('found');
        expect(creates()).toBe(before);
        expect(recordWith(contact)).toHaveLength(1);
      },
    );

    it.skipIf(skips.contacts !== undefined)(
      'reports a create that timed out as an unknown outcome',
      async () => {
        const ctx = await h.ctx({ timeoutMs: 300 });
        const contact = sampleContact();
        h.server.inject({
          when: (r) => h.isCreate(r),
          respond: { status: 200, body: {}, delayMs: 1500 },
          afterProcessing: true,
        });
        const error = await rejection(pushContact(h.connector, ctx, contact, { ref: null }));
        expect(error.kind).toBe('unknown_outcome');
        expect(error.reason).toBe('timeout');
        expect((await pushContact(h.connector, await h.ctx(), contact, { ref: null })).outcome).toBe('found');
      },
    );

    it('refreshes an expired token once and retries the call once', async (test) => {
      if (!h.tokens) return test.skip('the system has no expiring tokens');
      const ctx = await h.ctx();
      h.tokens.expire();
      const before = h.server.requests.filter((r) => h.tokens!.isRefresh(r)).length;
      const [a, b] = await Promise.all([h.connector.listUsers(ctx), h.connector.testConnection(ctx)]);
      expect(a.length).toBeGreaterThan(0);
      expect(b).toHaveProperty('accountName');
      expect(h.server.requests.filter((r) => h.tokens!.isRefresh(r)).length).toBe(before + 1);
    });

    it('refreshes a token that is about to expire before using it', async (test) => {
      if (!h.tokens) return test.skip('the system has no expiring tokens');
      const ctx = await h.ctx();
      const stored = (await ctx.tokens.load()) as TokenSet;
      await ctx.tokens.save({ ...stored, expiresAt: ctx.clock.now().getTime() + 1000 });
      const before = h.server.requests.length;
      await h.connector.testConnection(ctx);
      const made = h.server.requests.slice(before);
      expect(made.filter((r) => h.tokens!.isRefresh(r))).toHaveLength(1);
      expect(made.filter((r) => r.headers.authorization?.includes(stored.accessToken))).toHaveLength(0);
    });

    it('accepts a genuine inbound request and rejects forged ones', async (test) => {
      if (!h.inbound || !h.connector.parseInbound) return test.skip('one-way system');
      const ctx = await h.ctx();
      const genuine: InboundResult = await h.connector.parseInbound(ctx, h.inbound.genuine());
      expect(genuine.ok).toBe(true);
      if (genuine.ok) expect(genuine.events.length).toBeGreaterThan(0);
      for (const forged of h.inbound.forged()) {
        const result = await h.connector.parseInbound(ctx, forged);
        expect(result.ok).toBe(false);
      }
    });
  });
}
