import fs from 'node:fs';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { PGliteDialect } from './pglite-dialect.ts';
import { initializeCluster } from './pglite-init.ts';
import { lockDataDir } from './pglite-lock.ts';
import type { DB } from './schema.ts';

export type DatabaseKind = 'pglite' | 'postgres';

export interface Database {
  db: Kysely<DB>;
  kind: DatabaseKind;
  /** A connection string for PostgreSQL, null on PGlite. */
  url: string | null;
  /** The embedded instance when kind is pglite (pg-boss and LISTEN use it directly). */
  pglite: PGlite | null;
  close(): Promise<void>;
}

const INT8_OID = 20;
// Money is integer kopecks and ids are bigints; both stay far below 2^53, so numbers are safe and simpler.
const parseInt8 = (value: string) => Number(value);

export interface OpenOptions {
  databaseUrl?: string | null;
  /** Directory for the PGlite cluster; omitted means in memory. */
  pgliteDir?: string | null;
  poolSize?: number;
  /**
   * PGlite's buffer pool, in PostgreSQL's units (e.g. "512MB"). Default: DEFAULT_PGLITE_BUFFERS for a
   * cluster on disk, PGlite's own 128MB in memory.
   */
  pgliteSharedBuffers?: string;
}

/**
 * PGlite reads and writes every page that misses its buffer pool through Node's file system calls, from
 * JavaScript, one 8 kB page at a time; PostgreSQL's server leaves that to the kernel's page cache. So the
 * embedded database gets a larger pool than PGlite's 128MB. Measured with bench/cascade.ts (W1, 300,000
 * recipients, PGlite, one run each): back to back, 149.5 s with 128MB and 116.5 s with 256MB (peak RSS
 * 573 MB and 661 MB); earlier the same day 128.2 s with 512MB and 121.1 s with 1GB (954 MB, 1,470 MB).
 * max_wal_size 4GB alone changed nothing (170.5 s). The pool lives in PGlite's WebAssembly memory and
 * PGlite makes it resident when it starts: an idle, freshly migrated cluster holds 427 MB with 128MB and
 * 844 MB with 512MB. 256MB is the default: the gain, at a memory cost any install can carry; big
 * mailings on the embedded database may set more (OMNITALK_PGLITE_SHARED_BUFFERS).
 */
export const DEFAULT_PGLITE_BUFFERS = '256MB';

/**
 * Databases with a single connection (PGlite): work that holds a transaction must pass that transaction
 * to anything that writes, since a second transaction would wait for the connection forever.
 */
const singleConnection = new WeakSet<object>();
export const isSingleConnection = (db: object): boolean => singleConnection.has(db);

/** OMNITALK_DB_POOL: connections per process to PostgreSQL (default 10). */
function poolSizeFromEnv(): number | null {
  const raw = process.env.OMNITALK_DB_POOL;
  if (!raw) return null;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 1000)
    throw new Error(`OMNITALK_DB_POOL must be an integer 1..1000, got ${raw}`);
  return n;
}

export async function openDatabase(options: OpenOptions): Promise<Database> {
  if (options.databaseUrl) {
    const pool = new pg.Pool({
      connectionString: options.databaseUrl,
      max: options.poolSize ?? poolSizeFromEnv() ?? 10,
      types: {
        getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
          oid === INT8_OID
            ? parseInt8
            : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
      },
    });
    // An idle pooled connection the server ends (restart, pg_terminate_backend) is dropped by the
    // pool; without a listener its 'error' event would crash the process (node-postgres docs, Pool).
    pool.on('error', () => {});
    const db = new Kysely<DB>({ dialect: new PostgresDialect({ pool }) });
    return { db, kind: 'postgres', url: options.databaseUrl, pglite: null, close: () => db.destroy() };
  }
  let unlock = () => {};
  if (options.pgliteDir) {
    fs.mkdirSync(path.resolve(options.pgliteDir), { recursive: true });
    unlock = lockDataDir(path.resolve(options.pgliteDir));
    await initializeCluster(path.resolve(options.pgliteDir));
  }
  const buffers = options.pgliteSharedBuffers ?? (options.pgliteDir ? DEFAULT_PGLITE_BUFFERS : null);
  const pglite = new PGlite({
    // PGlite's own start parameters, plus the pool size (PGlite 0.5: startParams replaces its defaults).
    startParams: [...PGlite.defaultStartParams, ...(buffers ? ['-c', `shared_buffers=${buffers}`] : [])],
    dataDir: options.pgliteDir ? path.resolve(options.pgliteDir) : undefined,
    parsers: { [INT8_OID]: parseInt8 },
  });
  await pglite.waitReady;
  const db = new Kysely<DB>({ dialect: new PGliteDialect(pglite) });
  singleConnection.add(db);
  return {
    db,
    kind: 'pglite',
    url: null,
    pglite,
    close: async () => {
      await db.destroy();
      await pglite.close();
      unlock();
    },
  };
}

export async function ping(db: Kysely<DB>): Promise<void> {
  await sql`select 1`.execute(db);
}
