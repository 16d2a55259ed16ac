import { type Kysely, sql } from 'kysely';
import type { ProviderEvent } from '../../channels/types.ts';
import type { DB } from '../../db/schema.ts';
import type { Clock } from '../../shared/clock.ts';

/**
 * The one way provider events enter the system: real adapters' webhooks and the sandbox both call it.
 * Events are stored first (one statement for the batch) and applied to messages by the engine in
 * batches, so a burst of receipts never holds a webhook request open.
 */
export async function ingestProviderEvents(
  db: Kysely<DB>,
  clock: Clock,
  events: ProviderEvent[],
): Promise<number> {
  if (events.length === 0) return 0;
  const receivedAt = clock.now();
  await sql`
    insert into provider_events (provider, provider_message_id, kind, status, text, digits, occurs_at, received_at)
    select * from unnest(
      ${events.map((e) => e.provider)}::text[],
      ${events.map((e) => e.providerMessageId)}::text[],
      ${events.map((e) => e.kind)}::text[],
      ${events.map((e) => e.status ?? null)}::text[],
      ${events.map((e) => e.text ?? null)}::text[],
      ${events.map((e) => e.digits ?? null)}::text[],
      ${events.map((e) => e.occursAt.toISOString())}::timestamptz[],
      ${events.map(() => receivedAt.toISOString())}::timestamptz[]
    )`.execute(db);
  return events.length;
}
