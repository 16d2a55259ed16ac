import type { Kysely, Transaction } from 'kysely';
import type { DB } from './schema.ts';

/**
 * Runs `work` in a transaction: the caller's when `db` already is one (so billing composes into a
 * larger unit of work), otherwise a new one. Work must use the handle it is given, never the outer db
 * (on PGlite the outer db waits for the transaction's connection and would deadlock).
 */
export async function inTransaction<T>(db: Kysely<DB>, work: (trx: Kysely<DB>) => Promise<T>): Promise<T> {
  if (db.isTransaction) return work(db);
  return db.transaction().execute((trx: Transaction<DB>) => work(trx));
}
