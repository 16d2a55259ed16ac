import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { backends } from '../../test/support/db.ts';
import { listMigrations, migrate } from './migrate.ts';

describe.each(backends)('migrations on $name', (backend) => {
  it('applies every migration once and is a no-op the second time', async () => {
    const database = await backend.open();
    try {
      const again = await migrate(database.db);
      expect(again).toEqual([]);
      const rows = await sql<{
        version: number;
      }>`select version from schema_migrations order by version`.execute(database.db);
      expect(rows.rows.map((r) => r.version)).toEqual(listMigrations().map((m) => m.version));
      const price = await database.db
        .selectFrom('price_list')
        .select('price')
        .where('channel', '=', 'call_password')
        .where('account_id', 'is', null)
        .executeTakeFirstOrThrow();
      expect(price.price).toBe(70);
      expect(typeof price.price).toBe('number');
    } finally {
      await database.close();
    }
  });
});
