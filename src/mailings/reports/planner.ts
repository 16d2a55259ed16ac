import { type Kysely, sql } from 'kysely';
import type { DB } from '../../db/schema.ts';

/**
 * Runs grouped report queries with hash aggregation. They group many rows into a few groups (blocks,
 * buckets, hours), where a hash table of a handful of entries is the right plan; but without table
 * statistics (PGlite never analyzes on its own; PostgreSQL not until autovacuum has caught up) the
 * planner expects a few rows and sorts them instead — a million wide rows sorted on disk. Turning
 * sorts off for these statements (SET LOCAL: this transaction only) and giving hashes room keeps the
 * plan the one PostgreSQL picks anyway once statistics exist.
 *
 * Inside a caller's transaction the settings would outlive the report, so they are left alone there.
 */
export async function withGroupingPlan<T>(db: Kysely<DB>, run: (db: Kysely<DB>) => Promise<T>): Promise<T> {
  if (db.isTransaction) return run(db);
  return db.transaction().execute(async (trx) => {
    await sql`set local enable_sort = off`.execute(trx);
    await sql`set local work_mem = '32MB'`.execute(trx);
    return run(trx);
  });
}
