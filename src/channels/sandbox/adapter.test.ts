import { randomUUID } from 'node:crypto';
import type { KyselyPlugin } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends } from '../../../test/support/db.ts';
import type { Database } from '../../db/database.ts';
import { type SendChannel, sendChannels } from '../../mailings/scheme/vocabulary.ts';
import { ManualClock } from '../../shared/clock.ts';
import { runChannelAdapterContract, sampleContent } from '../contract.ts';
import type { OutboundMessage } from '../types.ts';
import { createSandboxAdapter, sandboxMessageId, simulationOptionsFor } from './adapter.ts';
import {
  fixedSandboxSettings,
  getSandboxSettings,
  parseSandboxSettings,
  setSandboxSettings,
} from './settings.ts';
import { simulateMessage } from './simulate.ts';

describe.each(backends)('sandbox adapters on $name', (backend) => {
  let database: Database;
  const clock = new ManualClock('2026-03-02T09:00:00Z');
  let accountSeq = 0;
  beforeAll(async () => {
    database = await backend.open();
  });
  afterAll(async () => {
    await database?.close();
  });
  const db = () => database.db;

  const newAccount = async () => {
    const row = await db()
      .insertInto('accounts')
      .values({ name: `sandbox ${++accountSeq}`, created_at: clock.now() })
      .returning('id')
      .executeTakeFirstOrThrow();
    return row.id;
  };

  const countSubmissions = async (provider: string, keys?: string[]) => {
    let query = db()
      .selectFrom('sandbox_submissions')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('provider', '=', provider);
    if (keys) query = query.where('idempotency_key', 'in', keys);
    return Number((await query.executeTakeFirstOrThrow()).n);
  };

  const eventsFor = (provider: string, ids: string[]) =>
    ids.length === 0
      ? Promise.resolve([])
      : db()
          .selectFrom('provider_events')
          .select(['provider_message_id', 'kind', 'status', 'text', 'digits', 'occurs_at', 'received_at'])
          .where('provider', '=', provider)
          .where('provider_message_id', 'in', ids)
          .orderBy('id')
          .execute();

  const messagesFor = (
    channel: SendChannel,
    accountId: number,
    count: number,
    overrides: Partial<OutboundMessage> = {},
  ): OutboundMessage[] => {
    const batch = randomUUID();
    return Array.from({ length: count }, (_, i) => ({
      key: `t:${batch}:${i}`,
      accountId,
      messageId: i + 1,
      channel,
      to: `+7926${String(2_000_000 + i).padStart(7, '0')}`,
      content: sampleContent(channel),
      ...overrides,
    }));
  };

  for (const channel of sendChannels) {
    runChannelAdapterContract(`sandbox-${channel} on ${backend.name}`, async () => {
      const adapter = createSandboxAdapter(channel);
      return {
        adapter,
        ctx: { db: db(), clock },
        accountId: await newAccount(),
        countSends: () => countSubmissions(adapter.provider),
      };
    });
  }

  it('labels itself a sandbox with a per-channel provider id', () => {
    for (const channel of sendChannels) {
      const adapter = createSandboxAdapter(channel);
      expect(adapter).toMatchObject({ provider: `sandbox-${channel}`, channel, sandbox: true });
    }
  });

  it.each(sendChannels)(
    'writes the simulated timeline of %s messages into provider_events with its occurs_at',
    async (channel) => {
      const accountId = await newAccount();
      // Replies always, so reply events are covered too; the account's saved settings are what count.
      const settings = await setSandboxSettings(db(), clock, accountId, {
        seed: 7,
        ...(channel === 'voice' ? {} : { [channel]: { reply: { probability: 1 } } }),
      });
      const adapter = createSandboxAdapter(channel);
      const batch = messagesFor(channel, accountId, 40);
      const sentAt = clock.now();
      const results = await adapter.submit(batch, { db: db(), clock });

      const expected = batch.flatMap((m) => {
        const simulation = simulateMessage(settings, channel, m.key, sentAt, simulationOptionsFor(m));
        if (!simulation.ok) return [];
        return simulation.events.map((e) => ({
          provider_message_id: sandboxMessageId(channel, m.key),
          kind: e.kind,
          status: e.status ?? null,
          text: e.text ?? null,
          digits: e.digits ?? null,
          occurs_at: e.occursAt.toISOString(),
          received_at: sentAt.toISOString(),
        }));
      });
      expect(expected.length).toBeGreaterThan(0);
      const ids = results.flatMap((r) => (r.ok ? [r.providerMessageId] : []));
      const rows = await eventsFor(adapter.provider, ids);
      expect(
        rows.map((r) => ({
          ...r,
          occurs_at: new Date(r.occurs_at).toISOString(),
          received_at: new Date(r.received_at).toISOString(),
        })),
      ).toEqual(expected);
      expect(rows.every((r) => new Date(r.occurs_at).getTime() > sentAt.getTime())).toBe(true);
    },
  );

  it("follows each account's own settings within one batch", async () => {
    const gone = await newAccount();
    const reads = await newAccount();
    await setSandboxSettings(db(), clock, gone, {
      viber: { outcomes: { undelivered: 1 }, submitError: { probability: 0 } },
    });
    await setSandboxSettings(db(), clock, reads, {
      viber: { outcomes: { viewed: 1 }, reply: { probability: 0 }, submitError: { probability: 0 } },
    });
    const adapter = createSandboxAdapter('viber');
    const batch = [...messagesFor('viber', gone, 10), ...messagesFor('viber', reads, 10)];
    const results = await adapter.submit(batch, { db: db(), clock });
    expect(results.every((r) => r.ok)).toBe(true);
    const statusesOf = async (accountId: number) => {
      const ids = batch.filter((m) => m.accountId === accountId).map((m) => sandboxMessageId('viber', m.key));
      return [...new Set((await eventsFor(adapter.provider, ids)).map((e) => e.status))].sort();
    };
    expect(await statusesOf(gone)).toEqual(['undelivered']);
    expect(await statusesOf(reads)).toEqual(['delivered', 'viewed']);
  });

  it('refused messages are neither stored nor reported, and carry the configured reason', async () => {
    const accountId = await newAccount();
    await setSandboxSettings(db(), clock, accountId, {
      sms: { submitError: { probability: 1, reasons: { no_approved_sender: 1 } } },
    });
    const adapter = createSandboxAdapter('sms');
    const batch = messagesFor('sms', accountId, 25);
    const results = await adapter.submit(batch, { db: db(), clock });
    for (const r of results) expect(r).toMatchObject({ ok: false, error: 'no_approved_sender' });
    expect(
      await countSubmissions(
        adapter.provider,
        batch.map((m) => m.key),
      ),
    ).toBe(0);
    expect(
      await eventsFor(
        adapter.provider,
        batch.map((m) => sandboxMessageId('sms', m.key)),
      ),
    ).toEqual([]);
  });

  it('a resubmit returns what was accepted even when the settings would now refuse it', async () => {
    const accountId = await newAccount();
    const adapter = createSandboxAdapter('vk');
    await setSandboxSettings(db(), clock, accountId, { vk: { submitError: { probability: 0 } } });
    const batch = messagesFor('vk', accountId, 20);
    const first = await adapter.submit(batch, { db: db(), clock });
    expect(first.every((r) => r.ok)).toBe(true);
    const ids = first.flatMap((r) => (r.ok ? [r.providerMessageId] : []));
    const events = (await eventsFor(adapter.provider, ids)).length;

    await setSandboxSettings(db(), clock, accountId, { vk: { submitError: { probability: 1 } } });
    clock.advance(60_000);
    const fresh = messagesFor('vk', accountId, 3);
    const again = await adapter.submit([...batch, ...fresh], { db: db(), clock });
    expect(again.slice(0, batch.length)).toEqual(first);
    for (const r of again.slice(batch.length))
      expect(r).toMatchObject({ ok: false, error: 'invalid_number' });
    expect((await eventsFor(adapter.provider, ids)).length).toBe(events);
  });

  it('records and reports a key given twice in one batch once', async () => {
    const accountId = await newAccount();
    const adapter = createSandboxAdapter('sms', fixedSandboxSettings(parseSandboxSettings({})));
    const [message] = messagesFor('sms', accountId, 1);
    const results = await adapter.submit([message!, message!], { db: db(), clock });
    expect(results).toHaveLength(2);
    expect(results[0]).toEqual(results[1]);
    if (results[0]!.ok) {
      expect(await countSubmissions(adapter.provider, [message!.key])).toBe(1);
      const simulation = simulateMessage(parseSandboxSettings({}), 'sms', message!.key, clock.now());
      const events = await eventsFor(adapter.provider, [results[0]!.providerMessageId]);
      expect(events).toHaveLength(simulation.ok ? simulation.events.length : 0);
    }
  });

  it('leaves no trace when the caller rolls its transaction back; the retry then goes out', async () => {
    const accountId = await newAccount();
    const adapter = createSandboxAdapter('viber', fixedSandboxSettings(parseSandboxSettings({})));
    const batch = messagesFor('viber', accountId, 10);
    const keys = batch.map((m) => m.key);
    await expect(
      db()
        .transaction()
        .execute(async (trx) => {
          await adapter.submit(batch, { db: trx, clock });
          expect(
            await trx
              .selectFrom('sandbox_submissions')
              .select('idempotency_key')
              .where('idempotency_key', 'in', keys)
              .execute(),
          ).not.toHaveLength(0);
          throw new Error('caller failed');
        }),
    ).rejects.toThrow('caller failed');
    expect(await countSubmissions(adapter.provider, keys)).toBe(0);
    const results = await adapter.submit(batch, { db: db(), clock });
    const accepted = results.filter((r) => r.ok).length;
    expect(accepted).toBeGreaterThan(0);
    expect(await countSubmissions(adapter.provider, keys)).toBe(accepted);
    const ids = results.flatMap((r) => (r.ok ? [r.providerMessageId] : []));
    expect((await eventsFor(adapter.provider, ids)).length).toBeGreaterThan(0);
  });

  it('refuses a message of another channel with invalid_parameters', async () => {
    const accountId = await newAccount();
    const adapter = createSandboxAdapter('sms');
    const [message] = messagesFor('viber', accountId, 1);
    const [result] = await adapter.submit([message!], { db: db(), clock });
    expect(result).toMatchObject({ ok: false, error: 'invalid_parameters' });
  });

  it('a call without an IVR menu is only answered or unanswered; with one, keys come from the menu', async () => {
    const accountId = await newAccount();
    await setSandboxSettings(db(), clock, accountId, {
      voice: {
        outcomes: { ivr: 0.5, unsubscribed: 0.5 },
        ivrDigits: { '1': 1 },
        submitError: { probability: 0 },
      },
    });
    const adapter = createSandboxAdapter('voice');
    const plain = messagesFor('voice', accountId, 30, { content: { kind: 'tts', text: 'Ваш заказ готов' } });
    const plainIds = (await adapter.submit(plain, { db: db(), clock })).flatMap((r) =>
      r.ok ? [r.providerMessageId] : [],
    );
    const plainEvents = await eventsFor(adapter.provider, plainIds);
    expect(new Set(plainEvents.map((e) => `${e.kind}:${e.status}`))).toEqual(new Set(['status:answered']));

    const menu = messagesFor('voice', accountId, 40, {
      content: {
        kind: 'tts',
        text: 'Нажмите 4 или 5',
        ivr: { '4': { action: 'record' }, '5': { action: 'repeat' }, '8': { action: 'unsubscribe' } },
      },
    });
    const menuIds = (await adapter.submit(menu, { db: db(), clock })).flatMap((r) =>
      r.ok ? [r.providerMessageId] : [],
    );
    const menuEvents = await eventsFor(adapter.provider, menuIds);
    const digits = new Set(menuEvents.filter((e) => e.kind === 'ivr').map((e) => e.digits));
    expect(digits).toEqual(new Set(['4', '5', '8']));
    const unsubscribedBy = new Set(
      menuEvents
        .filter((e) => e.status === 'unsubscribed')
        .map(
          (e) =>
            menuEvents.find((x) => x.kind === 'ivr' && x.provider_message_id === e.provider_message_id)
              ?.digits,
        ),
    );
    expect(unsubscribedBy).toEqual(new Set(['8']));
  });

  it('takes a batch of thousands of messages in a few statements, not one per message', async () => {
    const accountId = await newAccount();
    let statements = 0;
    const counter: KyselyPlugin = {
      transformQuery: (args) => {
        statements++;
        return args.node;
      },
      transformResult: async (args) => args.result,
    };
    const adapter = createSandboxAdapter('viber');
    const batch = messagesFor('viber', accountId, 5000);
    const results = await adapter.submit(batch, { db: db().withPlugin(counter), clock });
    expect(results).toHaveLength(5000);
    // Settings, the submissions, what is stored for the keys refused today (accepted once?), the events.
    expect(statements).toBeLessThanOrEqual(4);
    const accepted = results.filter((r) => r.ok).length;
    expect(
      await countSubmissions(
        adapter.provider,
        batch.map((m) => m.key),
      ),
    ).toBe(accepted);
    const settings = await getSandboxSettings(db(), accountId);
    const expectedEvents = batch.reduce((n, m) => {
      const s = simulateMessage(settings, 'viber', m.key, clock.now());
      return n + (s.ok ? s.events.length : 0);
    }, 0);
    const stored = await db()
      .selectFrom('provider_events')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('provider', '=', adapter.provider)
      .where(
        'provider_message_id',
        'in',
        results.flatMap((r) => (r.ok ? [r.providerMessageId] : [])),
      )
      .executeTakeFirstOrThrow();
    expect(Number(stored.n)).toBe(expectedEvents);
  });
});
