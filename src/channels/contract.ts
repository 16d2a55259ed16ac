import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  channelLinkKinds,
  channelStatuses,
  isErrorReason,
  isIvrKey,
  type SendChannel,
} from '../mailings/scheme/vocabulary.ts';
import type { AdapterContext, ChannelAdapter, OutboundMessage, SubmitResult } from './types.ts';

/**
 * The contract every channel adapter keeps (ARCHITECTURE "Models to learn from"), sandbox or real.
 * An adapter's test calls runChannelAdapterContract with a harness, then adds its own quirks:
 *
 * @example
 * runChannelAdapterContract('smpp', async () => ({
 *   adapter: createSmppAdapter(fakeSmsc.url), ctx: { db, clock }, accountId,
 *   countSends: async () => fakeSmsc.submitted.length, settle: () => fakeSmsc.flushReceipts(),
 * }));
 */
export interface ChannelAdapterHarness {
  adapter: ChannelAdapter;
  /** A migrated database (provider events are read from it) and a clock. */
  ctx: AdapterContext;
  /** An existing account the contract's messages belong to. */
  accountId: number;
  /** How many messages the provider has really taken so far: a fake server's count, the sandbox's table. */
  countSends(): Promise<number>;
  /** Lets the provider's asynchronous reports arrive (a fake server's webhooks) before events are read. */
  settle?(): Promise<void>;
  /** Valid content for the channel when sampleContent does not suit the provider. */
  content?: OutboundMessage['content'];
  close?(): Promise<void>;
}

/** Valid content of each channel, as the engine hands it over (placeholders filled in). */
export function sampleContent(channel: SendChannel): OutboundMessage['content'] {
  switch (channel) {
    case 'sms':
      return { text: 'Ваш заказ 1024 готов к выдаче' };
    case 'viber':
      return {
        format: 'text_button',
        text: 'Ваш заказ 1024 готов к выдаче',
        buttonText: 'Открыть заказ',
        buttonUrl: 'https://shop.example.com/orders/1024',
      };
    case 'voice':
      return {
        kind: 'tts',
        text: 'Здравствуйте! Ваш заказ готов. Нажмите 1, чтобы поговорить с менеджером.',
        ivr: {
          '1': { action: 'connect', phone: '+78001234567' },
          '2': { action: 'record' },
          '9': { action: 'unsubscribe' },
        },
      };
    case 'vk':
    case 'ok':
      return { text: 'Ваш заказ 1024 готов к выдаче' };
  }
}

interface EventRow {
  provider_message_id: string;
  kind: string;
  status: string | null;
  text: string | null;
  digits: string | null;
  occurs_at: Date;
}

export function runChannelAdapterContract(
  name: string,
  makeHarness: () => Promise<ChannelAdapterHarness>,
): void {
  describe(`channel adapter contract: ${name}`, () => {
    let h: ChannelAdapterHarness;
    let seq = 0;
    beforeAll(async () => {
      h = await makeHarness();
    });
    afterAll(async () => {
      await h?.close?.();
    });

    const channel = () => h.adapter.channel;
    const messages = (count: number, to?: (i: number) => string): OutboundMessage[] => {
      const batch = randomUUID();
      return Array.from({ length: count }, (_, i) => ({
        key: `contract:${batch}:${i}`,
        accountId: h.accountId,
        messageId: ++seq,
        channel: channel(),
        to: to ? to(i) : `+7916${String(1_000_000 + i).padStart(7, '0')}`,
        content: h.content ?? sampleContent(channel()),
      }));
    };
    const submit = (batch: OutboundMessage[]) => h.adapter.submit(batch, h.ctx);
    const providerIds = (results: SubmitResult[]) =>
      results.flatMap((r) => (r.ok ? [r.providerMessageId] : []));
    const eventsOf = async (ids: string[]): Promise<EventRow[]> => {
      await h.settle?.();
      if (ids.length === 0) return [];
      return h.ctx.db
        .selectFrom('provider_events')
        .select(['provider_message_id', 'kind', 'status', 'text', 'digits', 'occurs_at'])
        .where('provider', '=', h.adapter.provider)
        .where('provider_message_id', 'in', ids)
        .orderBy('id')
        .execute();
    };
    const byKey = (results: SubmitResult[]) => new Map(results.map((r) => [r.key, r]));

    it('declares a provider id and the channel it serves', () => {
      expect(h.adapter.provider).toMatch(/^[a-z0-9][a-z0-9-]*$/);
      expect(Object.keys(channelStatuses)).toContain(h.adapter.channel);
      expect(typeof h.adapter.sandbox).toBe('boolean');
    });

    it('answers an empty batch with nothing', async () => {
      expect(await submit([])).toEqual([]);
    });

    it('answers every message exactly once, under its key; failures carry a valid reason', async () => {
      const batch = messages(40);
      const results = await submit(batch);
      expect(results).toHaveLength(batch.length);
      expect(new Set(results.map((r) => r.key))).toEqual(new Set(batch.map((m) => m.key)));
      for (const result of results) {
        if (result.ok) {
          expect(result.providerMessageId).toEqual(expect.any(String));
          expect(result.providerMessageId.length).toBeGreaterThan(0);
        } else {
          expect(isErrorReason(result.error), `error reason ${result.error}`).toBe(true);
          expect(result.message.length).toBeGreaterThan(0);
        }
      }
      const ids = providerIds(results);
      expect(new Set(ids).size).toBe(ids.length);
      expect(ids.length).toBeGreaterThan(0);
    });

    it('refuses a malformed number with invalid_number and sends nothing', async () => {
      const before = await h.countSends();
      const results = await submit(messages(2, (i) => (i === 0 ? '89161234567' : 'not a phone')));
      for (const result of results) expect(result).toMatchObject({ ok: false, error: 'invalid_number' });
      expect(await h.countSends()).toBe(before);
    });

    it('resubmitted keys get the same provider ids, and nothing is sent or reported again', async () => {
      const batch = messages(30);
      const first = await submit(batch);
      const ids = providerIds(first);
      const sends = await h.countSends();
      const events = (await eventsOf(ids)).length;

      const again = byKey(await submit([...batch].reverse()));
      for (const result of first) {
        if (result.ok) expect(again.get(result.key)).toEqual(result);
      }
      expect(await h.countSends()).toBe(sends);
      expect((await eventsOf(ids)).length).toBe(events);

      // Old keys mixed with new ones: only the new ones go out.
      const fresh = messages(5);
      const mixed = byKey(await submit([...batch.slice(0, 10), ...fresh]));
      for (const result of first.slice(0, 10)) {
        if (result.ok) expect(mixed.get(result.key)).toEqual(result);
      }
      const freshAccepted = fresh.filter((m) => mixed.get(m.key)?.ok).length;
      expect(await h.countSends()).toBe(sends + freshAccepted);
    });

    it('works inside the caller’s transaction', async () => {
      const batch = messages(5);
      const inside = await h.ctx.db
        .transaction()
        .execute((trx) => h.adapter.submit(batch, { db: trx, clock: h.ctx.clock }));
      expect(inside).toHaveLength(batch.length);
      const again = byKey(await submit(batch));
      for (const result of inside) if (result.ok) expect(again.get(result.key)).toEqual(result);
    });

    it('reports only what the channel has: its statuses, replies where answerable, keys for calls', async () => {
      const submittedAt = h.ctx.clock.now().getTime();
      const ids = providerIds(await submit(messages(60)));
      const events = await eventsOf(ids);
      expect(events.length).toBeGreaterThan(0);
      const statuses: readonly string[] = channelStatuses[channel()];
      const answerable = (channelLinkKinds[channel()] as readonly string[]).includes('response');
      for (const event of events) {
        expect(ids).toContain(event.provider_message_id);
        expect(new Date(event.occurs_at).getTime()).toBeGreaterThanOrEqual(submittedAt);
        switch (event.kind) {
          case 'status':
            expect(statuses, `status ${event.status} on ${channel()}`).toContain(event.status);
            break;
          case 'reply':
            expect(answerable, `a reply on ${channel()}`).toBe(true);
            expect(event.text?.trim().length).toBeGreaterThan(0);
            break;
          case 'ivr':
            expect(channel()).toBe('voice');
            expect(event.digits?.length).toBeGreaterThan(0);
            for (const key of event.digits ?? '') expect(isIvrKey(key), `key ${key}`).toBe(true);
            break;
          default:
            throw new Error(`unknown event kind ${event.kind}`);
        }
      }
    });
  });
}
