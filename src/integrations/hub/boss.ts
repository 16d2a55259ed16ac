import { CompiledQuery, type Kysely } from 'kysely';
import PgBoss from 'pg-boss';

/**
 * pg-boss over our own Kysely connection, on PostgreSQL and on PGlite alike. pg-boss 10 accepts a `db`
 * object with `executeSql(text, values)`; routing it through Kysely matters on PGlite, whose one
 * connection sits behind the dialect's mutex: a direct pglite.query() could land inside another
 * caller's open transaction. pg-boss's multi-statement scripts (its migrations, run without
 * parameters) go through the simple protocol on both drivers.
 */
export interface BossDb {
  executeSql(text: string, values?: unknown[]): Promise<{ rows: unknown[]; rowCount: number }>;
}

// biome-ignore lint/suspicious/noExplicitAny: pg-boss tables are not in our DB type.
export function bossDb(db: Kysely<any>): BossDb {
  return {
    async executeSql(text, values = []) {
      const query = CompiledQuery.raw(text, values);
      // pg-boss's scripts carry their own BEGIN … COMMIT. A failing statement inside one leaves the
      // session in an aborted transaction (on PGlite, the only connection; on PostgreSQL, a pooled one),
      // so roll back on the same connection before giving it back.
      const scripted = !db.isTransaction && /\bBEGIN\b/i.test(text);
      const result = scripted
        ? await db.connection().execute(async (conn) => {
            try {
              return await conn.executeQuery(query);
            } catch (error) {
              await conn.executeQuery(CompiledQuery.raw('ROLLBACK', [])).catch(() => {});
              throw error;
            }
          })
        : await db.executeQuery(query);
      return {
        rows: result.rows as unknown[],
        rowCount: Number(result.numAffectedRows ?? result.rows.length),
      };
    },
  };
}

export const BOSS_SCHEMA = 'pgboss';

// biome-ignore lint/suspicious/noExplicitAny: see bossDb.
export function createBoss(db: Kysely<any>): PgBoss {
  return new PgBoss({
    db: bossDb(db),
    schema: BOSS_SCHEMA,
    // No cron here; maintenance (expiring stuck active jobs, archiving) stays on.
    schedule: false,
    supervise: true,
  } as unknown as PgBoss.ConstructorOptions);
}

/** One queue per integration: its depth is the integration's queue depth, and one worker drains it. */
export const queueName = (integrationId: number) => `crm.${integrationId}`;

export { PgBoss };
