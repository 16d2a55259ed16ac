import { type Kysely, sql } from 'kysely';
import type { DB } from '../src/db/schema.ts';

/**
 * The PostgreSQL settings that decide how W1 scales, recorded next to each PostgreSQL result: at 1M
 * recipients a stock server's 128 MB of shared buffers and 1 GB of WAL between checkpoints cost W1 more
 * than the engine itself (docs/postgresql.md; bench/pg-tuned.sh starts a server with the recommended ones).
 */
export async function serverSettings(db: Kysely<DB>): Promise<Record<string, string>> {
  const r = await sql<{ name: string; value: string }>`
    select name, current_setting(name) as value from pg_settings
    where name in ('server_version', 'shared_buffers', 'max_wal_size', 'checkpoint_timeout', 'autovacuum',
      'synchronous_commit', 'work_mem')
    order by name`.execute(db);
  return Object.fromEntries(r.rows.map((row) => [row.name, row.value]));
}
