import crypto from 'node:crypto';
import pg from 'pg';
import { type Database, openDatabase } from '../../src/db/database.ts';
import { migrate } from '../../src/db/migrate.ts';

export interface Backend {
  name: 'pglite' | 'postgres';
  open(): Promise<Database>;
}

const pgUrl = process.env.TEST_DATABASE_URL || null;

/**
 * Database tests run on PGlite always and on PostgreSQL when TEST_DATABASE_URL is set. Each PostgreSQL
 * test database is a fresh database created for the test file, so files run in parallel safely.
 */
export const backends: Backend[] = [
  {
    name: 'pglite',
    async open() {
      const database = await openDatabase({ pgliteDir: null });
      await migrate(database.db);
      return database;
    },
  },
  ...(pgUrl
    ? [
        {
          name: 'postgres' as const,
          async open() {
            const url = await createScratchDatabase(pgUrl);
            const database = await openDatabase({ databaseUrl: url, poolSize: 20 });
            await migrate(database.db);
            const close = database.close;
            database.close = async () => {
              await close();
              await dropScratchDatabase(pgUrl, url);
            };
            return database;
          },
        },
      ]
    : []),
];

export async function createScratchDatabase(baseUrl: string): Promise<string> {
  const name = `omnitalk_t_${crypto.randomBytes(6).toString('hex')}`;
  const client = new pg.Client({ connectionString: baseUrl });
  await client.connect();
  try {
    await client.query(`create database ${name}`);
  } finally {
    await client.end();
  }
  const url = new URL(baseUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

export async function dropScratchDatabase(baseUrl: string, url: string): Promise<void> {
  const name = new URL(url).pathname.slice(1);
  const client = new pg.Client({ connectionString: baseUrl });
  await client.connect();
  try {
    await client.query(`drop database if exists ${name} with (force)`);
  } finally {
    await client.end();
  }
}
