import type { Kysely } from 'kysely';
import type { DB, OutboxKind } from '../db/schema.ts';
import type { Clock } from '../shared/clock.ts';

/**
 * The durable outbox integrations consume (SPEC IN-0; the CRM hub of issue 5 reads it in id order).
 * Rows are only ever appended, inside the transaction that made the change they describe, so an
 * event exists exactly when its change committed.
 */
export interface OutboxEvent {
  accountId: number;
  siteId: number | null;
  kind: OutboxKind;
  payload: Record<string, unknown>;
}

export async function writeOutbox(db: Kysely<DB>, clock: Clock, events: OutboxEvent[]): Promise<void> {
  if (events.length === 0) return;
  const now = clock.now();
  await db
    .insertInto('outbox')
    .values(
      events.map((e) => ({
        account_id: e.accountId,
        site_id: e.siteId,
        kind: e.kind,
        payload: JSON.stringify(e.payload),
        created_at: now,
      })),
    )
    .execute();
}
