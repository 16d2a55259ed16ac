import { type Kysely, sql } from 'kysely';
import type { DB } from '../../db/schema.ts';
import { inTransaction } from '../../db/transaction.ts';
import { ingestProviderEvents } from '../../mailings/engine/ingest.ts';
import { E164_PATTERN, type SendChannel } from '../../mailings/scheme/vocabulary.ts';
import type {
  AdapterContext,
  ChannelAdapter,
  OutboundMessage,
  ProviderEvent,
  SubmitResult,
} from '../types.ts';
import { shortHash } from './random.ts';
import {
  defaultSandboxSettings,
  type SandboxSettings,
  type SandboxSettingsProvider,
  sandboxSettingsFromDatabase,
} from './settings.ts';
import { type Simulation, type SimulationOptions, simulateMessage } from './simulate.ts';

/**
 * A sandbox channel provider (NF-3): accepts messages like a real provider, remembers them by
 * idempotency key (sandbox_submissions), and reports their simulated future — receipts, views,
 * clicks, replies, key presses — through the one ingest path, with occurs_at in the future so the
 * engine applies each event when its time comes. Whatever it accepted once it never "sends" again:
 * a resubmitted key gets its stored provider id back and no new events.
 */

export const sandboxProviderId = (channel: SendChannel) => `sandbox-${channel}`;

/** Derived from the key alone, so it stays the same whatever the settings. */
export const sandboxMessageId = (channel: SendChannel, key: string) => `sbx-${channel}-${shortHash(key)}`;

interface Plan {
  message: OutboundMessage;
  providerMessageId: string;
  simulation: Simulation;
}

/** What a real provider would refuse before simulating anything. */
function refusal(channel: SendChannel, message: OutboundMessage): Simulation | null {
  if (message.channel !== channel) {
    return {
      ok: false,
      error: 'invalid_parameters',
      message: `${sandboxProviderId(channel)} cannot send a ${message.channel} message`,
    };
  }
  if (!E164_PATTERN.test(message.to)) {
    return { ok: false, error: 'invalid_number', message: `"${message.to}" is not a phone number in E.164` };
  }
  return null;
}

/** What of a message's content the simulation needs: a call's IVR menu (none = nothing to press). */
export function simulationOptionsFor(message: OutboundMessage): SimulationOptions {
  if (message.channel !== 'voice') return {};
  return { ivrMenu: 'ivr' in message.content ? (message.content.ivr ?? null) : null };
}

/**
 * Records the accepted messages of a batch in one statement and tells which keys are new. A key
 * already stored keeps its stored provider id, even if today's settings would refuse it.
 */
async function record(
  db: Kysely<DB>,
  provider: string,
  plans: readonly Plan[],
  now: Date,
): Promise<Map<string, { inserted: boolean; stored: string | null }>> {
  const accepted = plans.filter((p) => p.simulation.ok);
  const inserted = accepted.length
    ? await sql<{ key: string; provider_message_id: string }>`
        insert into sandbox_submissions (idempotency_key, provider, provider_message_id, account_id, created_at)
        select key, ${provider}, provider_message_id, account_id, ${now.toISOString()}::timestamptz
        from unnest(
          ${accepted.map((p) => p.message.key)}::text[],
          ${accepted.map((p) => p.providerMessageId)}::text[],
          ${accepted.map((p) => p.message.accountId)}::bigint[]
        ) as t(key, provider_message_id, account_id)
        on conflict (idempotency_key) do nothing
        returning idempotency_key as key, provider_message_id`.execute(db)
    : { rows: [] };
  const out = new Map<string, { inserted: boolean; stored: string | null }>();
  for (const row of inserted.rows) out.set(row.key, { inserted: true, stored: row.provider_message_id });
  // Keys seen before (a resubmit after a crash, or refused today but accepted once): what is stored.
  const others = plans.map((p) => p.message.key).filter((key) => !out.has(key));
  if (others.length > 0) {
    const stored = await sql<{ key: string; provider_message_id: string }>`
      select idempotency_key as key, provider_message_id from sandbox_submissions
      where idempotency_key = any(${others}::text[])`.execute(db);
    const byKey = new Map(stored.rows.map((r) => [r.key, r.provider_message_id]));
    for (const key of others) out.set(key, { inserted: false, stored: byKey.get(key) ?? null });
  }
  return out;
}

/**
 * @param settingsProvider where each account's sandbox settings come from; by default the account's
 *   saved settings (sandbox_settings), defaults when it has none.
 */
export function createSandboxAdapter(
  channel: SendChannel,
  settingsProvider: SandboxSettingsProvider = sandboxSettingsFromDatabase,
): ChannelAdapter {
  const provider = sandboxProviderId(channel);

  const plan = (message: OutboundMessage, settings: SandboxSettings, sentAt: Date): Plan => ({
    message,
    providerMessageId: sandboxMessageId(channel, message.key),
    simulation:
      refusal(channel, message) ??
      simulateMessage(settings, channel, message.key, sentAt, simulationOptionsFor(message)),
  });

  async function submit(messages: OutboundMessage[], ctx: AdapterContext): Promise<SubmitResult[]> {
    if (messages.length === 0) return [];
    const sentAt = ctx.clock.now();
    const settings = await settingsProvider(ctx.db, [...new Set(messages.map((m) => m.accountId))]);
    const plans = new Map<string, Plan>();
    for (const message of messages) {
      if (plans.has(message.key)) continue;
      plans.set(
        message.key,
        plan(message, settings.get(message.accountId) ?? defaultSandboxSettings, sentAt),
      );
    }
    // The submission and its events commit together: a crash in between must not leave a stored key
    // whose events were never written (a resubmit would then emit nothing).
    return inTransaction(ctx.db, async (trx) => {
      const recorded = await record(trx, provider, [...plans.values()], sentAt);
      const events: ProviderEvent[] = [];
      for (const { simulation, providerMessageId, message } of plans.values()) {
        if (!simulation.ok || !recorded.get(message.key)?.inserted) continue;
        for (const event of simulation.events) events.push({ provider, providerMessageId, ...event });
      }
      await ingestProviderEvents(trx, ctx.clock, events);
      return messages.map((message): SubmitResult => {
        const { simulation, providerMessageId } = plans.get(message.key)!;
        const stored = recorded.get(message.key)?.stored ?? null;
        if (stored !== null) return { key: message.key, ok: true, providerMessageId: stored };
        // Accepted now, or just now by a concurrent submit of the same key (same id either way).
        if (simulation.ok) return { key: message.key, ok: true, providerMessageId };
        return { key: message.key, ok: false, error: simulation.error, message: simulation.message };
      });
    });
  }

  return { provider, channel, sandbox: true, submit } satisfies ChannelAdapter;
}
