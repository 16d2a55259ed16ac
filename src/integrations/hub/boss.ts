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

/** One queue per integration: its depth is the integration's queue depth, and one pump drains it. */
export const queueName = (integrationId: number) => `crm.${integrationId}`;

export interface FetchedJob<T> {
  id: string;
  name: string;
  data: T;
  retryCount: number;
  retryLimit: number;
}

/**
 * Activates up to `limit` due jobs of a `singleton` queue, at most one per singleton key, skipping keys
 * that already have an active job. pg-boss 10's own fetch (plans.js fetchNextJob, which this copies)
 * lacks that last condition: when the head of the queue is a second wake-up of a contact whose drain is
 * running, its UPDATE violates the unique index of active singletons (job_i2) and pg-boss answers the
 * whole fetch with nothing, stalling the queue until that drain ends. With several drains in flight per
 * queue (and several processes) that would happen all the time. The index still decides any race between
 * two fetches: the loser's statement fails and is treated as an empty fetch.
 */
// biome-ignore lint/suspicious/noExplicitAny: see bossDb.
export async function fetchSingletonJobs<T>(db: Kysely<any>, name: string, limit: number) {
  const result = await bossDb(db)
    .executeSql(
      `WITH next AS (
       SELECT j.id, j.singleton_key, j.priority, j.created_on
       FROM ${BOSS_SCHEMA}.job j
       WHERE j.name = $1 AND j.state < 'active' AND j.start_after < now()
         AND NOT EXISTS (
           SELECT 1 FROM ${BOSS_SCHEMA}.job a
           WHERE a.name = $1 AND a.state = 'active' AND a.policy = 'singleton'
             AND COALESCE(a.singleton_key, '') = COALESCE(j.singleton_key, ''))
       ORDER BY j.priority DESC, j.created_on, j.id
       LIMIT $2
       FOR UPDATE SKIP LOCKED
     ), grouped AS (
       SELECT id, row_number() OVER (
         PARTITION BY COALESCE(singleton_key, id::text) ORDER BY priority DESC, created_on, id) AS rn
       FROM next
     )
     UPDATE ${BOSS_SCHEMA}.job j SET
       state = 'active',
       started_on = now(),
       retry_count = CASE WHEN j.started_on IS NOT NULL THEN j.retry_count + 1 ELSE j.retry_count END
     FROM grouped
     WHERE j.name = $1 AND j.id = grouped.id AND grouped.rn = 1
     RETURNING j.id, j.name, j.data, j.retry_count AS "retryCount", j.retry_limit AS "retryLimit"`,
      [name, limit],
    )
    .catch((error: unknown) => {
      // Lost a race for a key to another fetch (job_i2): nothing fetched this time.
      if ((error as { code?: string } | null)?.code === '23505') return { rows: [] };
      throw error;
    });
  return result.rows as FetchedJob<T>[];
}

export { PgBoss };
