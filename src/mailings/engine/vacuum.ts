import { type Kysely, sql } from 'kysely';
import type { Logger } from 'pino';
import { isSingleConnection } from '../../db/database.ts';
import type { DB } from '../../db/schema.ts';

/**
 * Vacuums the engine's churning tables where nothing else does. Every recipient step leaves dead row
 * versions (a recipient is rewritten 3-5 times, a provider event inserted and deleted); until a VACUUM they stay in the heap and in the indexes, so tables grow several times their
 * live size, fall out of the cache, and every claim and lookup reads more pages as the mailing goes on.
 * PGlite has no autovacuum at all, and a PostgreSQL server may have it off: there the loop vacuums (and
 * analyzes, so the planner sees the tables as they are) after every so many processed rows. With
 * autovacuum on, PostgreSQL does it (migration 0009 sets the thresholds for these tables).
 *
 * The interval grows with the tables (a fifth of their live rows, at least MIN_ROWS), as autovacuum's
 * scale factor does: each VACUUM scans every index, so a fixed interval would make the total work grow
 * with the square of the mailing.
 */
const HOT_TABLES = sql`mailing_recipients, provider_events`;
const MIN_ROWS = 50_000;
const FRACTION = 0.2;

export class EngineVacuum {
  private pending = 0;
  private processedTotal = 0;
  private analyzedAt = 0;
  private threshold = MIN_ROWS;
  private enabled: boolean | null = null;
  private running: Promise<void> | null = null;

  constructor(
    private readonly db: Kysely<DB>,
    private readonly logger?: Logger,
  ) {}

  /**
   * Counts rows the engine just processed and vacuums once enough have piled up. On PGlite it waits for
   * the VACUUM (the one connection is busy meanwhile anyway); on PostgreSQL the VACUUM runs on its own
   * connection beside the engine, which it does not block.
   */
  async processed(rows: number): Promise<void> {
    this.pending += rows;
    this.processedTotal += rows;
    if (this.pending < this.threshold || this.running) return;
    this.enabled ??= await this.needed();
    if (!this.enabled) return;
    this.pending = 0;
    const run = this.vacuum()
      .catch((err) => this.logger?.warn({ err }, 'engine vacuum failed'))
      .finally(() => {
        this.running = null;
      });
    this.running = run;
    if (isSingleConnection(this.db)) await run;
  }

  /** Waits for a VACUUM in progress (before closing the database). */
  async settle(): Promise<void> {
    await this.running;
  }

  private async needed(): Promise<boolean> {
    if (isSingleConnection(this.db)) return true;
    const r = await sql<{ on: boolean }>`select current_setting('autovacuum')::bool as on`.execute(this.db);
    return r.rows[0]?.on === false;
  }

  private async vacuum(): Promise<void> {
    const t0 = performance.now();
    // Outside any transaction (VACUUM cannot run in one). SKIP_LOCKED: another worker's VACUUM of the
    // same table is as good as ours, so do not queue behind it.
    await sql`vacuum (skip_locked) ${HOT_TABLES}`.execute(this.db);
    // Messages are inserted once and then only updated in place (heap-only updates into the free space
    // fillfactor leaves, pruned by ordinary page access): they need statistics, not a VACUUM, which would
    // read every page and index of a table that only grows (a fifth of the engine's database time at 100k
    // recipients on PostgreSQL, for nothing to reclaim). Statistics change little once the tables are
    // large, so all three are analyzed each time the engine has processed twice as many rows as at the
    // last ANALYZE: a logarithmic number of them over a mailing (each samples 30,000 rows of a table,
    // ~0.3 s for messages here), where analyzing with every VACUUM cost a third of its time.
    //
    // Only the columns that queries filter, join or group on are sampled: the statistics of the wide ones
    // (message status and reply arrays, recipient variables as jsonb, phones, keys) are the costly part of
    // an ANALYZE (element and value sorts) and no plan of ours depends on them.
    if (this.processedTotal >= 2 * this.analyzedAt) {
      this.analyzedAt = this.processedTotal;
      await sql`analyze (skip_locked)
        mailing_recipients (mailing_id, account_id, variant, block_id, state, due_at, end_reason),
        messages (mailing_id, recipient_id, account_id, variant, block_id, channel, state, final_status, sent_at),
        provider_events (occurs_at, processed_at)`.execute(this.db);
    }
    const r = await sql<{ n: number }>`
      select coalesce(sum(greatest(reltuples, 0)), 0)::float8 as n from pg_class
      where oid in ('mailing_recipients'::regclass, 'messages'::regclass, 'provider_events'::regclass)`.execute(
      this.db,
    );
    this.threshold = Math.max(MIN_ROWS, Math.round(FRACTION * Number(r.rows[0]?.n ?? 0)));
    this.logger?.debug(
      { ms: Math.round(performance.now() - t0), next: this.threshold },
      'engine tables vacuumed',
    );
  }
}
