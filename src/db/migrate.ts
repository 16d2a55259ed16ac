import fs from 'node:fs';
import path from 'node:path';
import { type Kysely, sql } from 'kysely';
import { projectRoot } from '../shared/paths.ts';

const migrationsDir = path.join(projectRoot, 'src/db/migrations');
// Any constant works; it only has to be the same in every process that migrates.
const MIGRATION_LOCK = 7_201_001;

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export function listMigrations(dir = migrationsDir): Migration[] {
  return fs
    .readdirSync(dir)
    .filter((f) => /^\d{4}_[a-z0-9_]+\.sql$/.test(f))
    .sort()
    .map((file) => ({
      version: Number(file.slice(0, 4)),
      name: file.replace(/\.sql$/, ''),
      sql: fs.readFileSync(path.join(dir, file), 'utf8'),
    }));
}

/**
 * Applies numbered forward-only SQL migrations, each in its own transaction. An advisory lock lets
 * several processes start at once against one PostgreSQL without racing.
 */
// biome-ignore lint/suspicious/noExplicitAny: migrations run before any table type exists.
export async function migrate(db: Kysely<any>, migrations = listMigrations()): Promise<string[]> {
  return db.connection().execute(async (conn) => {
    await sql`select pg_advisory_lock(${MIGRATION_LOCK})`.execute(conn);
    try {
      await sql`create table if not exists schema_migrations (
        version int primary key, name text not null, applied_at timestamptz not null default now())`.execute(
        conn,
      );
      const done = await sql<{ version: number }>`select version from schema_migrations`.execute(conn);
      const applied = new Set(done.rows.map((r) => r.version));
      const ran: string[] = [];
      for (const m of migrations) {
        if (applied.has(m.version)) continue;
        await conn.transaction().execute(async (trx) => {
          await sql.raw(m.sql).execute(trx);
          await sql`insert into schema_migrations (version, name) values (${m.version}, ${m.name})`.execute(
            trx,
          );
        });
        ran.push(m.name);
      }
      return ran;
    } finally {
      await sql`select pg_advisory_unlock(${MIGRATION_LOCK})`.execute(conn);
    }
  });
}
